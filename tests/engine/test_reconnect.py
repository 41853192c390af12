"""Connection loss: a dropped stream resumes, a restarted helper is reconciled, a missing helper is
reported (with its stderr and a hint) and retried without ending the session."""

from __future__ import annotations

import os
import signal

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.events import SessionState, StateChanged

from engine_support import APP_CONNECT, eventually, tree


async def test_dropped_stream_resumes_from_the_last_version(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "watching")
    (container / "src" / "a.txt").write_text("a")
    await eventually(lambda: (project / "out" / "a.txt").exists(), "a.txt")
    # Kill the bridge's app-connect: the byte stream drops, the helper lives on.
    for proc in list(session._bridge._procs):
        os.kill(proc.pid, signal.SIGKILL)
    (container / "src" / "b.txt").write_text("b, written while the stream was down")
    await eventually(lambda: rec.of(StateChanged, state=SessionState.RECONNECTING), "the drop to be noticed")
    await eventually(lambda: tree(project / "out") == tree(container / "src"), "the missed file")
    resumed = [e for e in rec.of(StateChanged, state=SessionState.WATCHING) if "resumed" in e.detail]
    assert resumed, [e.detail for e in rec.of(StateChanged)]


async def test_helper_killed_and_restarted_misses_nothing(helper, container, project, make_session):
    for i in range(20):
        (container / "src" / f"f{i}.txt").write_text(f"file {i}")
    session, rec = await make_session(helper)
    await eventually(lambda: tree(project / "out") == tree(container / "src"), "the first files")
    helper.kill()
    await eventually(lambda: rec.of(StateChanged, state=SessionState.RECONNECTING), "the loss to be noticed")
    # While the container restarts: new, changed and deleted files.
    (container / "src" / "new.txt").write_text("made while the helper was down")
    (container / "src" / "f1.txt").write_text("changed while the helper was down")
    (container / "src" / "f2.txt").unlink()
    (container / "src" / "sub").mkdir()
    (container / "src" / "sub" / "deep.txt").write_text("deep")
    helper.start()
    await eventually(lambda: tree(project / "out") == tree(container / "src"), "the files after the restart")
    await eventually(lambda: session.state is SessionState.WATCHING, "watching again")
    assert any("restarted" in e.detail for e in rec.of(StateChanged, state=SessionState.RECONCILING))


async def test_missing_helper_is_reported_and_retried(container, project, make_session, tmp_path):
    """The command exits at once with a message on stderr, as `kubectl exec` does for a missing binary."""
    sock = tmp_path / "later.sock"
    transport = CommandTransport([APP_CONNECT, "--socket", str(sock)])
    session, rec = await make_session(transport)
    await eventually(lambda: len(rec.errors) >= 1, "an error")
    err = rec.errors[0]
    assert err.path is None
    assert "app-connect" in err.message and str(sock) in err.message  # the command's own stderr
    assert "check that the command reaches the helper" in err.message  # advice for this transport
    assert "download stanza" not in err.message  # not the advice for an injected pod
    await eventually(lambda: len(rec.of(StateChanged, state=SessionState.RECONNECTING)) >= 2, "retries")
    assert session.state in (SessionState.RECONNECTING, SessionState.CONNECTING)
    # The helper appears: the same session connects and syncs.
    from engine_support import Helper
    h = Helper(container, sock, ["src"]).start()
    try:
        (container / "src" / "late.txt").write_text("late")
        await eventually(lambda: (project / "out" / "late.txt").exists(), "a file once the helper is there")
    finally:
        h.kill()


async def test_command_that_cannot_run_is_reported(project, make_session, tmp_path):
    transport = CommandTransport([str(tmp_path / "no-such-program")])
    session, rec = await make_session(transport)
    await eventually(lambda: rec.errors, "an error")
    assert "no-such-program" in rec.errors[0].message
    assert "No such file" in rec.errors[0].message
    await session.stop()
    assert session.state is SessionState.STOPPED
    await session.stop()  # idempotent


async def test_falling_behind_the_helper_resyncs_from_a_snapshot(container, project, make_session, tmp_path):
    """A subscriber that blocks the loop makes the session fall behind a helper with a short client
    queue: the helper drops the backlog and sends RESYNC; the session reconciles and misses nothing.
    Socket and HTTP/2 buffers may absorb a burst, so bursts repeat until the helper resyncs."""
    import time
    from downstream_sync.sync.events import FileSynced
    from engine_support import Helper
    h = Helper(container, tmp_path / "small.sock", ["src"], extra=["--client-queue", "20"]).start()
    try:
        session, rec = await make_session(h)
        await eventually(lambda: session.state is SessionState.WATCHING, "watching")

        def slow_subscriber(event):
            if isinstance(event, FileSynced) and event.path.startswith("out/trigger") and "-burst" not in event.path:
                # Meanwhile the container makes many files: far more than the queue holds.
                for i in range(300):
                    (container / "src" / f"{event.path[4:]}-burst{i}.txt").write_text(f"{i:08}" * 8192)
                time.sleep(3.0)
        session.subscribe(slow_subscriber)

        def resynced():
            return any("fell behind" in e.detail for e in rec.of(StateChanged, state=SessionState.RECONCILING))
        for round in range(4):
            (container / "src" / f"trigger{round}").write_text("go")
            await eventually(lambda: tree(project / "out") == tree(container / "src")
                             and len(tree(project / "out")) == 301 * (round + 1), "every file of the round")
            if resynced():
                break
        assert resynced(), [(e.state, e.detail) for e in rec.of(StateChanged)]
    finally:
        h.kill()


async def test_any_command_that_bridges_stdio_works(helper, container, project, make_session):
    """A shell wrapper stands in for `docker exec -i C ...` or `ssh host ...`."""
    transport = CommandTransport(["sh", "-c", f"exec '{APP_CONNECT}' --socket '{helper.sock}'"])
    session, rec = await make_session(transport)
    (container / "src" / "via-shell.txt").write_text("ok")
    await eventually(lambda: (project / "out" / "via-shell.txt").exists(), "a file through the wrapper")
    assert "sh -c" in transport.describe()


class NoPodYet:
    """A transport that cannot name a command yet (as when no pod runs the image), then can."""

    def __init__(self, sock):
        self.sock = sock
        self.calls = 0

    async def command(self):
        from downstream_sync.cluster.transport import TransportError
        self.calls += 1
        if self.calls < 3:
            raise TransportError("no pod runs image web in namespace default; is the app deployed?")
        return [APP_CONNECT, "--socket", str(self.sock)]

    def describe(self):
        return "pod for image web"


async def test_transport_errors_are_reported_and_retried(helper, container, project, make_session):
    transport = NoPodYet(helper.sock)
    session, rec = await make_session(transport)
    (container / "src" / "a.txt").write_text("a")
    await eventually(lambda: (project / "out" / "a.txt").exists(), "a file once the pod is there")
    assert "no pod runs image web" in rec.errors[0].message
    assert transport.calls >= 3
