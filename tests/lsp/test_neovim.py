"""The same server under headless Neovim 0.7 (Debian's `neovim`, installed by scripts/setup.sh):
a broken skaffold.yaml opened in a real editor gets the diagnostics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import SERVER

SCRIPT = Path(__file__).parent / "nvim" / "diagnostics.lua"

BROKEN = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - remoteSrc: out
        localdst: out
"""


def test_neovim_shows_the_diagnostics(tmp_path: Path):
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (scripts/setup.sh installs Debian's neovim)")
    target = tmp_path / "skaffold.yaml"
    target.write_text(BROKEN)
    out = tmp_path / "diagnostics.json"
    env = {**os.environ, "DS_SERVER": json.dumps(SERVER), "DS_FILE": str(target), "DS_OUT": str(out),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {SCRIPT}"],
                          env=env, capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
    assert out.exists(), f"nvim wrote nothing (exit {proc.returncode}): {proc.stderr.decode(errors='replace')}"
    result = json.loads(out.read_text())
    assert result["arrived"], "no diagnostics within the wait"
    got = {(d["code"], d["severity"], d["lnum"], d["col"], d["end_lnum"], d["end_col"]) for d in result["diagnostics"]}
    col = BROKEN.splitlines()[8].index("localdst")
    assert ("download-unknown-key", 1, 8, col, 8, col + len("localdst")) in got
    assert all(d["source"] == "downstream-sync" for d in result["diagnostics"])
