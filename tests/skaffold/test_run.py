"""What `prepare` hands Skaffold: the config copy on stdin, or, for a config that deploys or renders
with Helm, in the wrapper's own file beside the config (Skaffold's `skaffold filter` reads it again)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile

import pytest

from downstream_sync.skaffold.copy import config_copy, copy_file_name
from downstream_sync.skaffold.run import WrapperError, prepare

from .conftest import skaffold_yaml

HELM = "helm:\n  releases:\n  - name: web\n    chartPath: chart"
WITHOUT_RAW_YAML = ("manifests:\n  rawYaml:\n  - k8s/*.yaml\n", "")


def own_copy(project):
    return project.root / copy_file_name(os.getpid())


def files(project):
    return sorted(p.name for p in project.root.iterdir())


def test_without_helm_the_copy_goes_on_stdin_and_nothing_is_written_beside_the_config(project):
    before = files(project)
    prepared = prepare(project.skaffold, ["dev"], cwd=project.root)
    try:
        assert prepared.argv[prepared.argv.index("--filename") + 1] == "-"
        assert prepared.stdin_text is not None and "download" not in prepared.stdin_text
        assert prepared.copy_file is None and files(project) == before
    finally:
        prepared.cleanup()


@pytest.mark.parametrize("where", ["deploy", "profile"])
def test_with_helm_the_copy_is_a_file_beside_the_config_named_for_the_wrapper_and_removed_at_cleanup(project, where):
    if where == "deploy":
        project.write(skaffold_yaml(deploy=HELM).replace(*WITHOUT_RAW_YAML))
    else:
        project.write(skaffold_yaml(extra="profiles:\n- name: charts\n  deploy:\n    helm: {releases: []}\n"))
    prepared = prepare(project.skaffold, ["dev"], cwd=project.root)
    try:
        path = own_copy(project)
        assert prepared.copy_file == path and prepared.stdin_text is None
        assert prepared.argv[prepared.argv.index("--filename") + 1] == str(path)
        assert "-" not in prepared.argv and prepared.cwd == project.root
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == config_copy(project.config, [], lambda chain: str(prepared.temp.name) + "/post-render")
    finally:
        prepared.cleanup()
    assert not path.exists() and not any(n.startswith(".skaffold.downstream-sync-") for n in files(project))


def test_a_dead_wrappers_leftover_is_removed_at_the_start_a_live_ones_kept(project):
    project.write(skaffold_yaml(deploy=HELM).replace(*WITHOUT_RAW_YAML))
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    dead, live = project.root / copy_file_name(child.pid), project.root / copy_file_name(os.getppid())
    dead.write_text("a killed wrapper's\n")
    live.write_text("a running wrapper's\n")
    prepared = prepare(project.skaffold, ["dev"], cwd=project.root)
    prepared.cleanup()
    assert not dead.exists() and live.read_text() == "a running wrapper's\n"


def test_a_symlink_at_the_copys_name_is_refused_and_nothing_is_left(project, tmp_path, monkeypatch):
    project.write(skaffold_yaml(deploy=HELM).replace(*WITHOUT_RAW_YAML))
    target = tmp_path / "elsewhere"
    own_copy(project).symlink_to(target)
    temps = tmp_path / "temps"  # where prepare makes its folder for the shims
    temps.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temps))
    with pytest.raises(WrapperError, match="already exists") as caught:
        prepare(project.skaffold, ["dev"], cwd=project.root)
    assert caught.value.config and str(own_copy(project)) in str(caught.value)
    assert not target.exists() and own_copy(project).is_symlink()
    assert list(temps.iterdir()) == []
