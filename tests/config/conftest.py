"""Helpers for the config tests: write a skaffold.yaml under tmp_path and read its diagnostics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from downstream_sync.config import load_project


class Workspace:
    def __init__(self, root: Path):
        self.root = root

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def load(self, text: str | None = None, rel: str = "skaffold.yaml", **kwargs):
        if text is not None:
            self.write(rel, text)
        return load_project(self.root / rel, **kwargs)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)
