"""Several Watch clients through app-connect: resume after a reconnect, fan-out, and slow clients."""

import hashlib
import os

from helper_procs import hello_and_snapshot, watch

from sync_helper.wire import filedownload_pb2 as pb

E = pb.FileEvent


def changes(events, count):
    out = []
    while len(out) < count:
        ev = events.next()
        if ev.kind == E.CHANGE:
            out.append(ev)
    return out


def test_resume_after_a_reconnect_misses_nothing(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    helper = run_helper(["--targets", "src"])
    b = bridge(helper)
    src = helper.cwd / "src"
    first = watch(b.stub())
    hello = first.next()
    for i in range(3):
        (src / f"f{i}").write_bytes(b"%d" % i)
    seen = changes(first, 3)
    assert [e.version for e in seen] == [1, 2, 3]
    first.cancel()

    # while no client listens
    for i in range(3, 6):
        (src / f"f{i}").write_bytes(b"%d" % i)
    (src / "f0").unlink()

    again = watch(b.stub(), since_version=3, instance_id=hello.instance_id)
    hello2 = again.next()
    assert hello2.kind == E.HELLO and hello2.instance_id == hello.instance_id
    missed = []
    while len(missed) < 4:
        ev = again.next()
        assert ev.kind == E.CHANGE, "a resumable client gets the missed events, not a snapshot"
        missed.append(ev)
    assert [e.version for e in missed] == [4, 5, 6, 7]
    assert [(e.path, e.event_type) for e in missed] == [
        ("src/f3", E.CREATE), ("src/f4", E.CREATE), ("src/f5", E.CREATE), ("src/f0", E.DELETE)]
    (src / "live").write_bytes(b"live")
    ev = again.next()
    assert (ev.path, ev.version) == ("src/live", 8)


def test_a_resume_the_backlog_no_longer_covers_gets_a_snapshot(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    helper = run_helper(["--targets", "src", "--backlog", "2"])
    b = bridge(helper)
    src = helper.cwd / "src"
    first = watch(b.stub())
    hello = first.next()
    (src / "a").write_bytes(b"a")
    changes(first, 1)
    first.cancel()
    for name in ("b", "c", "d"):
        (src / name).write_bytes(name.encode())

    probe = watch(b.stub())
    version = probe.next().version
    while version < 4:
        version = probe.next().version
    probe.cancel()

    again = watch(b.stub(), since_version=1, instance_id=hello.instance_id, inline_limit=100)
    hello2, files, end = hello_and_snapshot(again)
    assert {f.path: f.content for f in files} == {"src/a": b"a", "src/b": b"b", "src/c": b"c", "src/d": b"d"}
    assert end.version == hello2.version == 4

    # another instance id (a restarted helper) also gets a snapshot
    other = watch(b.stub(), since_version=4, instance_id="an-older-run")
    assert len(hello_and_snapshot(other)[1]) == 4


def test_two_clients_both_get_every_event(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    helper = run_helper(["--targets", "src"])
    b = bridge(helper)
    one, two = watch(b.stub()), watch(b.stub())
    one.next(), two.next()
    for i in range(50):
        (helper.cwd / "src" / f"f{i:02}").write_bytes(os.urandom(100))
    got_one, got_two = changes(one, 50), changes(two, 50)
    assert [(e.path, e.version, e.MD5Hash) for e in got_one] == [(e.path, e.version, e.MD5Hash) for e in got_two]
    assert sorted(e.path for e in got_one) == [f"src/f{i:02}" for i in range(50)]
    assert [e.version for e in got_one] == list(range(1, 51))


def follow(events, state: dict, done) -> None:
    """Apply events to `state` (path -> md5) until done(state); a RESYNC starts it over from the snapshot."""
    while not done(state):
        ev = events.next()
        if ev.kind == E.RESYNC:
            state.clear()
        elif ev.kind == E.SNAPSHOT_FILE or (ev.kind == E.CHANGE and ev.event_type != E.DELETE):
            state.pop(ev.old_path, None)
            state[ev.path] = ev.MD5Hash
        elif ev.kind == E.CHANGE:
            state.pop(ev.path, None)


def test_a_slow_client_is_told_to_resync_and_gets_a_fresh_snapshot(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    helper = run_helper(["--targets", "src", "--client-queue", "100"])
    b = bridge(helper)
    slow = watch(b.stub(), inline_limit=1 << 20)
    fast = watch(b.stub())
    slow.next(), fast.next()
    slow.reading.clear()
    count = 400
    blob = os.urandom(200 << 10)
    expected = {}
    for i in range(count):
        data = blob[i:] + b"%d" % i
        (helper.cwd / "src" / f"f{i:03}").write_bytes(data)
        expected[f"src/f{i:03}"] = hashlib.md5(data).hexdigest()
    fast_state: dict = {}
    follow(fast, fast_state, lambda s: s == expected)  # the fast client is not held back by the slow one

    slow.reading.set()
    slow_state: dict = {}
    follow(slow, slow_state, lambda s: s == expected)  # past its bound: RESYNC and a fresh snapshot
    kinds = [e.kind for e in slow.seen]
    assert E.RESYNC in kinds and kinds.index(E.SNAPSHOT_FILE) > kinds.index(E.RESYNC)
    assert kinds.count(E.CHANGE) < count
    inline = [e for e in slow.seen if e.kind == E.SNAPSHOT_FILE]
    assert inline and all(f.content and hashlib.md5(f.content).hexdigest() == f.MD5Hash for f in inline)
    ev = slow.seen[-1]
    (helper.cwd / "src" / "after").write_bytes(b"after")
    assert slow.until(lambda e: e.kind == E.CHANGE and e.version > ev.version).path == "src/after"
    assert helper.proc.poll() is None
