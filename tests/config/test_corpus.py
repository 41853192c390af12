"""Every real Skaffold config of the shared corpus loads with no diagnostic at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from downstream_sync.config import check_file, format_diagnostic, load_project

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "skaffold-configs"


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Skaffold config corpus is missing at {CORPUS}; CI must provide ../shared/corpus")
        pytest.skip(f"the Skaffold config corpus is not here ({CORPUS}); it sits beside the repository in CI")
    return sorted(p for p in CORPUS.rglob("skaffold*.y*ml") if p.is_file())


def test_every_corpus_config_has_no_diagnostic():
    files = corpus_files()
    assert len(files) > 100
    found = []
    with_sync = 0
    artifacts = 0
    for path in files:
        project = load_project(path)
        found += [format_diagnostic(d) for d in project.diagnostics]
        found += [format_diagnostic(d) for d in check_file(path)]
        artifacts += len(project.artifacts)
        dev = load_project(path, command="dev")  # as under `skaffold dev`: profiles activated by `command: dev`
        found += [format_diagnostic(d) for d in dev.diagnostics]
        with_sync += any(a.sync is not None for a in dev.artifacts if a.source.file == path)
    assert found == []
    # 22 files mention `sync:`; in two of them it is the `sync` of a git `requires`
    assert with_sync == 20
    assert artifacts > 100


def test_corpus_requires_are_followed():
    corpus_files()
    project = load_project(CORPUS / "examples" / "multi-config-microservices")
    names = {p.relative_to(CORPUS / "examples" / "multi-config-microservices").as_posix() for p in project.files}
    assert names == {"skaffold.yaml", "leeroy-app/skaffold.yaml", "leeroy-web/skaffold.yaml", "base/skaffold.yaml"}
    assert [a.image for a in project.artifacts] == ["base", "leeroy-app", "leeroy-web"]
    assert project.diagnostics == []


def test_corpus_profiles_apply_without_diagnostics():
    """Every profile of every corpus config, applied alone, patches cleanly."""
    from downstream_sync.config import yamlpos
    from downstream_sync.config.profiles import profile_nodes

    applied = 0
    for path in corpus_files():
        names = set()
        for doc in yamlpos.parse(path.read_text()).documents:
            if doc.root is not None and doc.root.kind == yamlpos.MAP:
                names.update(n for n, _ in profile_nodes(doc.root))
        for name in sorted(names):
            project = load_project(path, profiles=(name,))
            assert [format_diagnostic(d) for d in project.diagnostics] == [], name
            applied += 1
    assert applied > 20


def test_absent_corpus_skips_but_fails_in_ci(monkeypatch, tmp_path):
    import sys

    module = sys.modules[__name__]
    monkeypatch.setattr(module, "CORPUS", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide"):
        corpus_files()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="not here"):
        corpus_files()
