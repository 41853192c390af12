"""A conflict copy the user edited (a merge by hand into NAME.downstream-conflict) is theirs: the
next container version goes to a new name, never over it. Real app-server, real files."""

from __future__ import annotations

from downstream_sync.sync.events import Conflict, SessionState

from engine_support import eventually


async def test_a_conflict_copy_the_user_edited_is_never_overwritten(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    remote = container / "src" / "app.conf"
    local = project / "out" / "app.conf"
    copy = project / "out" / "app.conf.downstream-conflict"
    remote.write_text("v1")
    await eventually(lambda: local.exists(), "v1")
    local.write_text("mine")
    remote.write_text("v2")
    await eventually(lambda: copy.exists() and copy.read_text() == "v2", "the first conflict copy")
    # An untouched copy is simply refreshed by the next remote version.
    remote.write_text("v3")
    await eventually(lambda: copy.read_text() == "v3", "the copy refreshed")
    copy.write_text("v3 merged by hand with mine")  # the editor's "show both" opened this file
    remote.write_text("v4")
    await eventually(lambda: len(rec.of(Conflict, path="out/app.conf")) >= 3, "the third conflict")
    second = project / "out" / "app.conf~2.downstream-conflict"
    await eventually(lambda: second.exists() and second.read_text() == "v4", "a second copy")
    assert copy.read_text() == "v3 merged by hand with mine"
    assert local.read_text() == "mine"
    assert rec.of(Conflict, path="out/app.conf")[-1].remote_copy == "out/app.conf~2.downstream-conflict"
    # The merge survives a restart too (the record of what was written is in the ledger).
    await session.stop()
    remote.write_text("v5")
    session2, rec2 = await make_session(helper, name="web")
    await eventually(lambda: rec2.of(Conflict, path="out/app.conf"), "a conflict after the restart")
    assert copy.read_text() == "v3 merged by hand with mine"
    assert second.read_text() == "v5"
    # Taking the remote version takes the latest copy.
    await session2.resolve_conflict("out/app.conf", "take-remote")
    assert local.read_text() == "v5" and not second.exists()
    assert copy.read_text() == "v3 merged by hand with mine"
    assert not rec.errors and not rec2.errors


async def test_keep_local_never_drops_a_copy_the_user_edited(helper, container, project, make_session):
    import pytest

    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    remote = container / "src" / "app.conf"
    local = project / "out" / "app.conf"
    copy = project / "out" / "app.conf.downstream-conflict"
    remote.write_text("v1")
    await eventually(lambda: local.exists(), "v1")
    local.write_text("mine")
    remote.write_text("v2")
    await eventually(lambda: copy.exists() and copy.read_text() == "v2", "the conflict copy")
    copy.write_text("v2 merged by hand")
    with pytest.raises(ValueError, match="edited since"):
        await session.resolve_conflict("out/app.conf", "keep-local")
    assert copy.read_text() == "v2 merged by hand"
    remote.write_text("v3")
    second = project / "out" / "app.conf~2.downstream-conflict"
    await eventually(lambda: second.exists() and second.read_text() == "v3", "a second copy")
    await session.resolve_conflict("out/app.conf", "keep-local")
    assert not second.exists() and copy.exists() and local.read_text() == "mine"
