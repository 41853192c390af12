"""Fixtures: the built binaries and an empty root to run them in (root and Linux needed; CI is root)."""

from __future__ import annotations

import pytest

from standalone import Root, build


@pytest.fixture(scope="session")
def binaries():
    return build()


@pytest.fixture
def make_root(tmp_path, binaries):
    roots = []

    def make(name: str = "root", **kw) -> Root:
        root = Root(tmp_path / name, binaries, **kw)
        roots.append(root)
        return root

    yield make
    for root in roots:
        root.close()
