"""Fixtures: the standalone binaries (helper/build.sh, a no-op when built) and runc containers that
are deleted after each test (root and Linux needed; CI is root)."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from runc_box import Box

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARIES = REPO / ".cache" / "binaries" / "linux-amd64"


@pytest.fixture(scope="session")
def binaries() -> pathlib.Path:
    done = subprocess.run(["bash", str(REPO / "helper" / "build.sh"), str(BINARIES)], capture_output=True, text=True)
    assert done.returncode == 0, f"helper/build.sh failed:\n{done.stderr[-4000:]}"
    return BINARIES


@pytest.fixture
def make_box(tmp_path):
    boxes = []

    def make(name: str = "box", **kw) -> Box:
        box = Box(tmp_path / name, **kw).start()
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.delete()
