"""git's folder and the state folder are never written from a container, "whatever the rules
say": a rule whose localDst lies inside .git (or is the state folder) must not let a container's
file land there. Real app-server, real Session; and `validate` must flag such a stanza."""

from __future__ import annotations

import os

import pytest

from downstream_sync.sync.events import SessionState
from downstream_sync.sync.rules import RuleError, RuleSet
from downstream_sync.sync.session import Session

from engine_support import Recorder, eventually


@pytest.mark.parametrize("local_dst", [".git/hooks", "sub/.GIT", ".downstream-sync/x"])
async def test_a_local_dst_inside_a_reserved_folder_gets_nothing(helper, container, project, local_dst):
    (project / ".git" / "hooks").mkdir(parents=True)
    hook = container / "src" / "pre-commit"
    hook.write_text("#!/bin/sh\necho pwned\n")
    os.chmod(hook, 0o755)
    (container / "src" / "ok.txt").write_text("ok")
    try:
        rules = RuleSet.from_download([("src", local_dst)], [], project)
    except RuleError:
        return  # refused when the rules are built: held
    session = Session("web", rules, helper.transport(), project)
    rec = Recorder()
    session.subscribe(rec)
    await session.start()
    try:
        await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    finally:
        await session.stop()
    landed = project / local_dst / "pre-commit"
    assert not landed.exists(), f"a container's file landed in {landed.relative_to(project)}"
