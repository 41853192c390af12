"""One meaning of an exclude on both sides of the wire: one table, run through the helper's
targets (what it watches and sends) and the engine's rules (what it writes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from downstream_sync.sync.rules import RuleSet
from sync_helper.globs import Excludes
from sync_helper.paths import PathRefused, Targets

SEED_TARGETS = ["src", "abc"]
SEED_EXCLUDES = ["node_modules/*", "abc/bb.js"]

TABLE = [
    # targets, excludes, wire path, excluded
    (SEED_TARGETS, SEED_EXCLUDES, "abc/bb.js", True),          # the seed: bb.js of target abc
    (SEED_TARGETS, SEED_EXCLUDES, "src/node_modules/x/y.js", True),
    (SEED_TARGETS, SEED_EXCLUDES, "src/abc/bb.js", True),      # abc/bb.js below target src
    (SEED_TARGETS, SEED_EXCLUDES, "abc/other.js", False),
    (SEED_TARGETS, SEED_EXCLUDES, "src/app.js", False),
    (["/tmp"], ["tmp/*"], "/tmp/report.txt", False),           # the wire path of /tmp starts with '/'
    (["/tmp"], ["/tmp/*.log"], "/tmp/a.log", True),
    (["/tmp"], ["/tmp/*.log"], "/tmp/a.txt", False),
    (["/tmp"], ["*.log"], "/tmp/a.log", True),                 # below the target
    (["out/gen"], ["out"], "out/gen/a.txt", False),            # never the target itself
    (["out/gen"], ["gen/*"], "out/gen/a.txt", False),          # a part of the target's name alone
    (["out/gen"], ["out/gen/*.tmp"], "out/gen/a.tmp", True),
    (["out/gen"], ["**/*.tmp"], "out/gen/d/a.tmp", True),
    (["src"], ["cache"], "src/cache/deep/f", True),            # a folder above it, up to the target
    (["src"], ["src/cache/**"], "src/cache/deep/f", True),
    (["src"], ["src"], "src/x", False),
]


@pytest.mark.parametrize("targets, excludes, wire, excluded", TABLE)
def test_helper_and_engine_agree(tmp_path: Path, targets, excludes, wire, excluded):
    helper = Targets(targets, Excludes(tuple(excludes)), str(tmp_path / "work"))
    try:
        helper.resolve(wire)
        refused = False
    except PathRefused as e:
        assert "is excluded" in str(e)
        refused = True
    assert refused is excluded, "helper"
    engine = RuleSet.from_download([(t, f"local{i}") for i, t in enumerate(targets)], excludes, tmp_path)
    assert (engine.local_path(wire) is None) is excluded, "engine"


@pytest.mark.parametrize("targets, excludes, folder, unwatched", [
    (SEED_TARGETS, SEED_EXCLUDES, "src/node_modules", True),
    (["src"], ["src/node_modules/*"], "src/node_modules", True),
    (["/tmp"], ["tmp/*"], "/tmp/x", False),
    (["src"], ["src/d/[!x]*"], "src/d", False),
])
def test_a_folder_goes_unwatched_by_the_same_meaning(tmp_path: Path, targets, excludes, folder, unwatched):
    helper = Targets(targets, Excludes(tuple(excludes)), str(tmp_path / "work"))
    target, rel = helper.resolve(folder)
    assert target.everything_below_excluded(rel) is unwatched
