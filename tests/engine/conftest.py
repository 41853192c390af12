"""Fixtures for the engine tests: a helper, a container folder, a project, sessions that are stopped after."""

from __future__ import annotations

import pytest

from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session
from engine_support import Helper, Recorder


@pytest.fixture
def container(tmp_path):
    root = tmp_path / "container"
    (root / "src").mkdir(parents=True)
    return root


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture
def helper(container, tmp_path):
    h = Helper(container, tmp_path / "helper.sock", ["src"]).start()
    yield h
    h.kill()


@pytest.fixture
async def make_session(project):
    """make_session(helper_or_transport, mappings=[("src","out")], **kw) -> (session, recorder); started."""
    sessions = []

    async def make(where, mappings=(("src", "out"),), excludes=(), start=True, name="web", **kw):
        rules = RuleSet.from_download(list(mappings), list(excludes), project)
        transport = where.transport() if isinstance(where, Helper) else where
        session = Session(name, rules, transport, project, **kw)
        rec = Recorder()
        session.subscribe(rec)
        sessions.append(session)
        if start:
            await session.start()
        return session, rec

    yield make
    for s in sessions:
        await s.stop()
