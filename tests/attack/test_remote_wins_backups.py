"""Under remote-wins every version of the user's is kept as NAME.downstream-local. Two rounds of
(user edits, container changes) must not leave the first user version gone. Real app-server."""

from __future__ import annotations

from downstream_sync.sync.events import Conflict, SessionState

from engine_support import eventually


def _holding(folder, data: bytes):
    return [p.name for p in folder.rglob("*") if p.is_file() and p.read_bytes() == data]


async def test_a_second_backup_never_replaces_the_first(helper, container, project, make_session):
    session, rec = await make_session(helper, policy="remote-wins")
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    remote = container / "src" / "app.conf"
    local = project / "out" / "app.conf"
    remote.write_text("c1")
    await eventually(lambda: local.exists() and local.read_text() == "c1", "c1")
    local.write_text("mine, first edit")
    remote.write_text("c2")
    await eventually(lambda: local.read_text() == "c2", "c2 over the first edit")
    await eventually(lambda: len(rec.of(Conflict, path="out/app.conf")) >= 1, "the first backup")
    local.write_text("mine, second edit")
    remote.write_text("c3")
    await eventually(lambda: local.read_text() == "c3", "c3 over the second edit")
    await eventually(lambda: len(rec.of(Conflict, path="out/app.conf")) >= 2, "the second backup")
    out = project / "out"
    assert _holding(out, b"mine, second edit")
    assert _holding(out, b"mine, first edit"), (
        f"the first edit is gone; files: {sorted(p.name for p in out.iterdir())}; "
        f"reported: {[c.reason for c in rec.of(Conflict)]}")
