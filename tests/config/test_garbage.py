"""Hostile and broken input: each gives a diagnostic at a sensible range, never an exception."""

from __future__ import annotations

import os
import random

import pytest
import yaml

from downstream_sync.config import Severity, check_file, load_project
from downstream_sync.config import yamlpos

from .support import at, only

HEAD = "apiVersion: skaffold/v4beta14\nkind: Config\n"
GOOD = HEAD + """build:
  artifacts:
  - image: node-example
    context: node
    sync:
      manual:
      - src: 'src/**/*.js'
        dest: .
    download:
      manual:
        - remoteSrc: "src"
          localDst: "node/gen"
      excludes:
        - "node_modules/*"
profiles:
- name: p
  patches:
  - {op: add, path: /build/artifacts/0/download/excludes/-, value: "*.log"}
requires:
- path: other
"""


def test_binary_file(ws):
    path = ws.root / "skaffold.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    project = load_project(path)
    d = only(project.diagnostics, "file-binary")
    assert at(d) == (0, 0, 0, 0) and d.severity == Severity.ERROR
    assert project.artifacts == [] and project.files == [path]


def test_nul_in_unsaved_text(ws):
    path = ws.write("skaffold.yaml", HEAD)
    d = only(check_file(path, text=HEAD + "bu\0ild: {}\n"), "file-binary")
    assert at(d) == (2, 2, 2, 3)


def test_invalid_utf8_points_at_the_byte(ws):
    path = ws.root / "skaffold.yaml"
    path.write_bytes(HEAD.encode() + "# héllo\nbuild: \xff\n".encode("latin-1"))
    d = only(load_project(path).diagnostics, "file-not-utf8")
    assert at(d) == (2, 3, 2, 4)  # 'é' in latin-1 is the first bad byte
    assert "0xe9" in d.message and "UTF-8" in d.message


def test_utf8_bom_is_accepted(ws):
    path = ws.root / "skaffold.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (HEAD + "build: {artifacts: [{image: a}]}\n").encode())
    project = load_project(path)
    assert project.diagnostics == [] and [a.image for a in project.artifacts] == ["a"]


def test_control_character(ws):
    d = only(ws.load(HEAD + "build: a\x07b\n").diagnostics, "yaml-syntax")
    assert at(d) == (2, 8, 2, 9)


def test_five_megabytes(ws):
    path = ws.root / "skaffold.yaml"
    line = "# " + "x" * 98 + "\n"
    path.write_text(HEAD + line * (5 * 1024 * 1024 // len(line)))
    d = only(load_project(path).diagnostics, "file-too-large")
    assert at(d) == (0, 0, 0, 0) and "5.0 MB" in d.message


@pytest.mark.parametrize("flow", [True, False])
def test_deep_nesting(ws, flow):
    if flow:
        text = HEAD + "build: " + "[" * 5000 + "]" * 5000 + "\n"
    else:
        text = HEAD + "build:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(400))
    d = only(ws.load(text).diagnostics, "yaml-too-deep")
    assert d.range.start.line == 2 if flow else d.range.start.line > 2


def test_deep_nesting_with_the_pure_python_parser(ws, monkeypatch):
    """PyYAML's own composer recurses; ours walks events, with either parser."""
    monkeypatch.setattr(yamlpos, "_Parser", yaml.SafeLoader)
    d = only(ws.load(HEAD + "build: " + "{a: " * 3000 + "}" * 3000 + "\n").diagnostics, "yaml-too-deep")
    assert d.range.start.line == 2
    project = ws.load(GOOD)
    assert [a.image for a in project.artifacts] == ["node-example"]


def test_billion_laughs_is_not_expanded(ws):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = HEAD + "\n".join(lines) + "\nbuild: {artifacts: [{image: app, sync: *l}]}\n"
    project = ws.load(HEAD + "build: {artifacts: [{image: fine}]}\n---\n" + bomb)
    d = only(project.diagnostics, "yaml-alias-bomb")
    assert at(d)[:2] == (11, 7)  # f's first *e: 66,430 nodes more pass 100,000
    assert [a.image for a in project.artifacts] == ["fine"]  # the document before the bomb is kept


def test_deep_nesting_through_a_chain_of_aliases(ws):
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 400)]
    d = only(ws.load(HEAD + "\n".join(lines) + "\n").diagnostics, "yaml-too-deep")
    assert at(d)[:2] == (2 + 199, 13)  # *a198 is 199 levels high, inside two


def test_a_long_chain_of_merge_keys(ws):
    lines = ["m0: &m0 {context: deep}"] + [f"m{i}: &m{i} {{<<: *m{i - 1}}}" for i in range(1, 150)]
    project = ws.load(HEAD + "\n".join(lines) + "\nbuild: {artifacts: [{<<: *m149, image: a}]}\n")
    assert project.diagnostics == [] and project.artifacts[0].context == "deep"


def test_aliases_that_stay_small_are_fine(ws):
    project = ws.load(HEAD + "x: &s {manual: [{src: '*.py', dest: .}]}\nbuild:\n  artifacts:\n"
                      + "".join(f"  - {{image: a{i}, sync: *s}}\n" for i in range(50)))
    assert project.diagnostics == []
    assert project.artifacts[0].sync == {"manual": [{"src": "*.py", "dest": "."}]}


def test_recursive_and_undefined_aliases(ws):
    d = only(ws.load(HEAD + "build: &b {artifacts: [*b]}\n").diagnostics, "yaml-recursive-alias")
    assert at(d) == (2, 23, 2, 25)
    d = only(ws.load(HEAD + "build: *nowhere\n").diagnostics, "yaml-syntax")
    assert at(d) == (2, 7, 2, 15) and "*nowhere" in d.message


def test_unsafe_tags_are_not_constructed(ws):
    project = ws.load(HEAD + "build:\n  artifacts:\n  - image: !!python/object/apply:os.system ['touch pwned']\n"
                      "    sync: !!python/object/apply:os.system ['touch pwned']\n")
    assert not (ws.root / "pwned").exists()
    assert project.artifacts[0].image == ""  # a tagged list is not an image name
    assert project.artifacts[0].sync is None


@pytest.mark.parametrize("text,code,where", [
    ("", None, None),
    ("# only a comment\n", None, None),
    ("just a string\n", "config-not-mapping", (0, 0)),
    ("- a\n- b\n", "config-not-mapping", (0, 0)),
    (HEAD + "build: {artifacts: [{image: a, download: {manual: [[], {}, 3]}}]}\n", "download-wrong-type", (2, 51)),
    (HEAD + "build: {artifacts: 7}\n", None, None),
    (HEAD + "build: {artifacts: [7, null, [x]]}\n", None, None),
    (HEAD + "profiles: [{name: p, patches: [{op: add, path: 'no-slash', value: 1}]}]\n", None, None),
    (HEAD + "requires: [{path: [1]}, 5, {path: {x: 1}}]\n", None, None),
    (HEAD + "? [complex, key]\n: value\nbuild: {artifacts: [{image: a, download: {? [k] : v}}]}\n",
     "download-unknown-key", (4, 44)),
])
def test_odd_shapes(ws, text, code, where):
    diags = ws.load(text).diagnostics
    if code is None:
        assert diags == []
    else:
        assert at([d for d in diags if d.code == code][0])[:2] == where


def test_missing_main_file_and_folder_without_config(ws):
    d = only(load_project(ws.root / "nope.yaml").diagnostics, "file-unreadable")
    assert at(d) == (0, 0, 0, 0) and "nope.yaml" in d.message
    d = only(load_project(ws.root).diagnostics, "file-unreadable")
    assert "skaffold.yaml" in d.message


def test_a_folder_named_like_a_config(ws):
    (ws.root / "skaffold.yaml").mkdir()
    d = only(load_project(ws.root / "skaffold.yaml").diagnostics, "file-unreadable")
    assert at(d) == (0, 0, 0, 0)


def test_mangled_configs_never_raise(ws):
    """Random edits of a real config, with a fixed seed: every one loads, whatever it says."""
    rng = random.Random(4)
    alphabet = "-:[]{}&*!|>'\"#%@`,? \n\t\\x0~^"
    path = ws.write("skaffold.yaml", GOOD)
    for _ in range(400):
        chars = list(GOOD)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(chars))
            action = rng.random()
            if action < 0.4:
                del chars[i]
            elif action < 0.8:
                chars.insert(i, rng.choice(alphabet))
            else:
                chars[i] = rng.choice(alphabet)
        project = load_project(path, profiles=("p",), text="".join(chars))
        for d in project.diagnostics:
            assert d.range.start <= d.range.end and d.range.start.line >= 0 and d.code


def test_lone_surrogate_in_unsaved_text(ws):
    path = ws.write("skaffold.yaml", HEAD)
    d = only(check_file(path, text=HEAD + "build: {artifacts: [{image: \ud800}]}\n"), "file-not-utf8")
    assert at(d) == (2, 28, 2, 29) and "U+D800" in d.message


def test_unicode_line_breaks_keep_editor_positions(ws):
    project = ws.load(HEAD + "# note\u2028more\nbuild:\n  artifacts:\n  - image: a\n"
                      "    download: {manual: [{remoteSrc: s, localDst: ..}]}\n")
    warn = only(project.diagnostics, "yaml-unicode-line-break")
    assert warn.severity == Severity.WARNING and at(warn) == (2, 6, 2, 7)
    assert at(only(project.diagnostics, "download-localdst-outside")) == (6, 49, 6, 51)


def test_a_device_or_a_pipe_is_not_read(ws):
    d = only(load_project("/dev/zero").diagnostics, "file-unreadable")
    assert "not a regular file" in d.message
    fifo = ws.root / "skaffold.yaml"
    os.mkfifo(fifo)
    d = only(load_project(fifo).diagnostics, "file-unreadable")
    assert at(d) == (0, 0, 0, 0)


def test_empty_profile_build_on_a_config_without_build(ws):
    project = ws.load(HEAD + "profiles: [{name: p, build: {artifacts: []}}]\n", profiles=("p",))
    assert project.diagnostics == [] and project.artifacts == []


def _shape(rng: random.Random, depth: int):
    """Any YAML value, made of the stanza's own words, to put where the schema wants something else."""
    words = [None, True, 3, "", "..", "/etc", "a/b", "*", "[", "dev", "add", "/build/artifacts/0/download",
             "/build/artifacts/-", "/build/artifacts/0/download/manual/0/localDst", "x=y"]
    keys = ["download", "manual", "excludes", "remoteSrc", "localDst", "sync", "src", "infer", "profiles", "patches",
            "requires", "build", "artifacts", "image", "context", "name", "op", "path", "value", "from", "activation",
            "command", "env", "configs", "activeProfiles", "activatedBy", "<<"]
    roll = rng.random()
    if depth > 4 or roll < 0.3:
        return rng.choice(words)
    if roll < 0.6:
        return [_shape(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(keys): _shape(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_wrong_shapes_in_every_place_never_raise(ws):
    """Configs built from the stanza's keys with values of random shapes, fixed seed."""
    rng = random.Random(7)
    path = ws.root / "skaffold.yaml"
    for _ in range(300):
        doc = {"apiVersion": "skaffold/v4beta14", "kind": "Config",
               "build": {"artifacts": [{"image": "a", "download": _shape(rng, 2), "sync": _shape(rng, 2)}
                                       for _ in range(rng.randint(0, 3))]},
               "profiles": [{"name": rng.choice(["dev", "x"]), "build": _shape(rng, 2),
                             "patches": [{"op": rng.choice(["add", "remove", "replace", "copy", "move", "test"]),
                                          "path": rng.choice(["/build/artifacts/0/download", "/build/artifacts/-", "",
                                                              "/build/artifacts/0/download/manual/-", "/build"]),
                                          "from": rng.choice(["/build/artifacts/0", "/x"]), "value": _shape(rng, 2)}
                                         for _ in range(rng.randint(0, 3))]}
                            for _ in range(rng.randint(0, 2))],
               "requires": _shape(rng, 1)}
        project = load_project(path, profiles=("dev", "x"), text=yaml.safe_dump(doc), command="dev")
        assert all(d.code and d.range.start.line >= 0 for d in project.diagnostics)
