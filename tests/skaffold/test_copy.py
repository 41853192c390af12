"""The config Skaffold is given: no download stanzas (config/strip.py), the post-renderer for Helm."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from downstream_sync.config.strip import strip_download
from downstream_sync.skaffold.copy import CopyError, config_copy

CONFIG = textwrap.dedent("""\
    apiVersion: skaffold/v4beta13
    kind: Config
    build:
      artifacts:
      - image: web  # a comment
        context: app
        download: &rules
          manual: [{remoteSrc: out, localDst: out}]
        sync: {manual: [{src: 'a/**', dest: .}]}
      - download: *rules
        image: api
    deploy:
      helm:
        releases:
        - name: web
          chartPath: chart
          setValues: {download: kept}
    profiles:
    - name: p
      build:
        artifacts:
        - image: web
          download: {manual: [{remoteSrc: x, localDst: y}]}
      patches:
      - op: add
        path: /build/artifacts/0/download/excludes
        value: [a]
      - op: replace
        path: /build/artifacts/0/context
        value: b
      - op: add
        path: /build/artifacts/-
        value: {image: extra, download: {manual: [{remoteSrc: z, localDst: z}]}}
    ---
    apiVersion: v1
    kind: ConfigMap
    data: {download: kept}
    """)


def test_every_download_stanza_and_patch_into_one_goes_and_nothing_else():
    text, removed = strip_download(CONFIG)
    assert removed == 5
    skaffold, other = yaml.safe_load_all(text)
    original = list(yaml.safe_load_all(CONFIG))
    for art in skaffold["build"]["artifacts"] + skaffold["profiles"][0]["build"]["artifacts"]:
        assert "download" not in art
    assert skaffold["build"]["artifacts"][0] == {"image": "web", "context": "app",
                                                 "sync": {"manual": [{"src": "a/**", "dest": "."}]}}
    assert [p["path"] for p in skaffold["profiles"][0]["patches"]] == ["/build/artifacts/0/context",
                                                                       "/build/artifacts/-"]
    assert skaffold["profiles"][0]["patches"][1]["value"] == {"image": "extra"}
    assert skaffold["deploy"] == original[0]["deploy"]  # Helm values named download are the chart's
    assert other == original[1]


def test_a_config_without_download_comes_back_as_it_was():
    plain = "apiVersion: skaffold/v4beta13\nkind: Config  # as written\n"
    assert strip_download(plain) == (plain, 0)


def renderers(chain):
    """copy.py's renderer: names ours for a chain, as shims.PostRenderers does."""
    return "/tmp/x/post-render" + (f" after {' '.join(chain)}" if chain else "")


def test_helm_releases_get_our_post_renderer_in_install_and_upgrade(tmp_path):
    main = tmp_path / "skaffold.yaml"
    main.write_text(CONFIG)
    skaffold, _ = yaml.safe_load_all(config_copy(main, [], renderers))
    assert skaffold["deploy"]["helm"]["flags"] == {"install": ["--post-renderer", "/tmp/x/post-render"],
                                                   "upgrade": ["--post-renderer", "/tmp/x/post-render"]}


def test_a_post_renderer_of_the_users_is_taken_out_with_its_args_and_ours_runs_it(tmp_path):
    main = tmp_path / "skaffold.yaml"
    flags = ("    flags:\n      install: [--atomic, --post-renderer=./mine, --post-renderer-args, --add, "
             "--post-renderer-args=b c]\n      upgrade: [--post-renderer, ./mine, --post-renderer-args, --add]\n")
    main.write_text(CONFIG.replace("kept}\nprofiles", "kept}\n" + flags + "profiles"))
    skaffold, _ = yaml.safe_load_all(config_copy(main, [], renderers))
    assert skaffold["deploy"]["helm"]["flags"] == {
        "install": ["--atomic", "--post-renderer", "/tmp/x/post-render after ./mine --add b c"],
        "upgrade": ["--post-renderer", "/tmp/x/post-render after ./mine --add"]}
    for bad, message in (("[--post-renderer, a, --post-renderer, b]", "two --post-renderer flags \\(a, b\\)"),
                         ("[--post-renderer-args, x]", "--post-renderer-args without a --post-renderer"),
                         ("[--atomic, --post-renderer]", "--post-renderer needs a value after it"),
                         ("[--post-renderer=]", "names no program")):
        main.write_text(CONFIG.replace("kept}\nprofiles", f"kept}}\n    flags: {{install: {bad}}}\nprofiles"))
        with pytest.raises(CopyError, match=f"skaffold.yaml: deploy.helm.flags.install: (.* )?{message}"):
            config_copy(main, [], renderers)


def test_a_required_config_with_a_download_stanza_is_refused(tmp_path):
    main, base = tmp_path / "skaffold.yaml", tmp_path / "base.yaml"
    main.write_text("apiVersion: skaffold/v4beta13\nkind: Config\n")
    base.write_text(CONFIG)
    with pytest.raises(CopyError, match="base.yaml: a config that skaffold.yaml requires has a download stanza"):
        config_copy(main, [base], None)
