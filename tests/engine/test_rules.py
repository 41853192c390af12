"""RuleSet: mapping container paths to local paths, most specific remoteSrc first; bad input."""

from __future__ import annotations


import pytest

from downstream_sync.sync.rules import RuleError, RuleSet


def rules(tmp_path, mappings, excludes=()):
    return RuleSet.from_download(mappings, list(excludes), tmp_path)


def test_most_specific_remote_src_wins(tmp_path):
    r = rules(tmp_path, [("src", "node/src"), ("src/gen", "generated"), ("/var/log/app", "logs")])
    assert r.local_path("src/a/b.js") == tmp_path / "node/src/a/b.js"
    assert r.local_path("src/gen/x.ts") == tmp_path / "generated/x.ts"
    assert r.local_path("src/generated.ts") == tmp_path / "node/src/generated.ts"
    assert r.local_path("/var/log/app/today.log") == tmp_path / "logs/today.log"
    assert r.targets == ["src", "src/gen", "/var/log/app"]


def test_remote_src_is_normalized(tmp_path):
    r = rules(tmp_path, [("./src/", "a"), ("//abs//dir/", "b")])
    assert r.targets == ["src", "/abs/dir"]
    assert r.local_path("src/x") == tmp_path / "a/x"


def test_unmapped_and_hostile_paths_map_to_none(tmp_path):
    r = rules(tmp_path, [("src", "out")])
    for wire in ["other/x", "srcx/y", "src/../x", "src/../../etc/passwd", "/src/x", "src//x",
                 "src/./x", "src/a/..", "", "src/x\x00", "/etc/passwd", "src\\..\\x",
                 "src/.git/hooks/post-checkout", "src/a/.downstream-sync/ledger.db",
                 "src/.GIT/hooks/post-checkout", "src/.Downstream-Sync/ledger.db"]:  # case-insensitive disks
        assert r.local_path(wire) is None, wire


def test_excludes_relative_to_the_target_and_as_written(tmp_path):
    r = rules(tmp_path, [("src", "out"), ("abc", "abc")], ["node_modules/*", "abc/bb.js", "**/*.log"])
    assert r.local_path("src/node_modules/x/y.js") is None
    assert r.local_path("abc/bb.js") is None
    assert r.local_path("src/deep/a.log") is None
    assert r.local_path("src/app.js") == tmp_path / "out/app.js"
    assert r.excludes == ["node_modules/*", "abc/bb.js", "**/*.log"]


@pytest.mark.parametrize("mappings, excludes, words", [
    ([], [], "download.manual is empty"),
    ([("", "x")], [], "remoteSrc is empty"),
    ([("src/../etc", "x")], [], "'..'"),
    ([("/", "x")], [], "whole container"),
    ([("src", "")], [], "localDst is empty"),
    ([("src", "/abs")], [], "must be relative"),
    ([("src", "../outside")], [], "leaves the project"),
    ([("src", ".git/hooks")], [], "is inside .git"),
    ([("src", "sub/.GIT")], [], "is inside .GIT"),
    ([("src", "a/../.Downstream-Sync/x")], [], "is inside .Downstream-Sync"),
    ([("src", "a"), ("./src/", "b")], [], "already mapped"),
    ([("src", "a")], ["a/{b"], "download.excludes"),
    ([("src",)], [], "pair"),
])
def test_bad_input_is_a_clear_rule_error(tmp_path, mappings, excludes, words):
    with pytest.raises(RuleError) as info:
        rules(tmp_path, mappings, excludes)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)
