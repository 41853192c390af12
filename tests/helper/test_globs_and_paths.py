"""The exclude globs and the mapping of wire paths to files, without a running helper."""

import os

import pytest

from sync_helper.globs import Excludes, GlobError, compile_glob
from sync_helper.paths import PathMissing, PathRefused, Targets, open_regular


@pytest.mark.parametrize("pattern, path, hit", [
    ("node_modules/*", "node_modules/a", True),
    ("node_modules/*", "node_modules", False),
    ("abc/bb.js", "abc/bb.js", True),
    ("abc/bb.js", "x/abc/bb.js", False),
    ("**/*.log", "a.log", True),
    ("**/*.log", "a/b/c.log", True),
    ("*.log", "a/b.log", False),
    ("a/**", "a", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("{x,y}/z", "y/z", True),
    ("[!a]?", "bc", True),
    ("[!a]?", "ac", False),
    ("\\*", "*", True),
])
def test_doublestar_patterns(pattern, path, hit):
    assert bool(compile_glob(pattern).match(path)) is hit


def test_a_folder_below_an_excluded_folder_is_excluded():
    ex = Excludes(("node_modules/*",))
    assert ex.excludes("node_modules/pkg/lib/x.js") and not ex.excludes("src/node_modules.js")


@pytest.mark.parametrize("pattern", ["a**", "[abc", "{a,b", "a}", "x\\", "", "[z-a]", "src/[!9-0]"])
def test_bad_patterns_name_the_fault(pattern):
    with pytest.raises(GlobError) as e:
        compile_glob(pattern)
    assert repr(pattern) in str(e.value)


def test_targets_resolve_wire_paths_and_refuse_the_rest(tmp_path):
    targets = Targets(["src/", "./gen", str(tmp_path / "abs"), "src/inner"], Excludes(("*.tmp",)), str(tmp_path))
    assert [t.name for t in targets] == ["src", "gen", str(tmp_path / "abs")]
    assert targets.skipped == [("src/inner", "it is inside target 'src'")]
    assert targets.resolve("src/a/b.js")[1] == "a/b.js"
    assert targets.resolve(f"{tmp_path}/abs/x")[1] == "x"
    for bad in ("src/../etc/passwd", "other/x", "/etc/passwd", "src", "src/x.tmp", "", "src/a\0b"):
        with pytest.raises(PathRefused):
            targets.resolve(bad)


def test_a_target_outside_the_working_folder_serves_what_is_below_it(tmp_path):
    (tmp_path / "work").mkdir()
    targets = Targets(["../shared", "."], Excludes(), str(tmp_path / "work"))
    t, rel = targets.resolve("../shared/data/x.json")
    assert (t.name, rel) == ("../shared", "data/x.json")
    assert targets.resolve("app/main.py")[1] == "app/main.py"
    for bad in ("../shared/../home/secret", "../elsewhere/x", "../x", "app/../../etc/passwd"):
        with pytest.raises(PathRefused):
            targets.resolve(bad)


def test_open_regular_never_follows_a_symlink(tmp_path):
    (tmp_path / "src" / "real").mkdir(parents=True)
    (tmp_path / "src" / "real" / "f").write_bytes(b"f")
    (tmp_path / "src" / "via").symlink_to(tmp_path / "src" / "real")
    (tmp_path / "src" / "g").symlink_to(tmp_path / "src" / "real" / "f")
    target = Targets(["src"], Excludes(), str(tmp_path)).items[0]
    fd, st = open_regular(target, "real/f")
    os.close(fd)
    assert st.st_size == 1
    for rel in ("via/f", "g"):
        with pytest.raises(PathRefused):
            open_regular(target, rel)
    with pytest.raises(PathMissing):
        open_regular(target, "real/none")


def test_only_a_folder_whose_whole_content_is_excluded_needs_no_watch():
    ex = Excludes(("node_modules/*", "**/build/**", "d/[!x]*", "logs/*.log"))
    assert ex.excludes_all_below("node_modules") and ex.excludes_all_below("node_modules/pkg")
    assert ex.excludes_all_below("app/build") and ex.excludes_all_below("build")
    # `d/[!x]*` leaves d/x1 in, and `logs/*.log` leaves logs/readme in: both folders must be watched.
    assert not ex.excludes_all_below("d") and not ex.excludes("d/x1")
    assert not ex.excludes_all_below("logs") and not ex.excludes_all_below("src/node_modules")
