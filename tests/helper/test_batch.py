"""BATCH events: a burst reaches a batch client in few messages, complete and in version order; a
client without `batch` still gets one message per event."""

import hashlib
import os

from helper_procs import watch

from sync_helper.wire import filedownload_pb2 as pb

E = pb.FileEvent
COUNT = 300


def make_tree(root, count):
    """`count` small files in a folder outside the target, to be moved in at once."""
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"f{i:03}").write_bytes(b"%d\n" % i * 50)


def messages_until(events, count):
    """Messages read until `count` CHANGE events arrived (inside BATCH messages or alone)."""
    msgs, changes = [], []
    while len(changes) < count:
        msg = events.next()
        msgs.append(msg)
        inner = list(msg.batch) if msg.kind == E.BATCH else [msg]
        changes += [e for e in inner if e.kind == E.CHANGE]
    return msgs, changes


def test_a_burst_arrives_in_batches_for_a_batch_client_and_one_by_one_otherwise(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    helper = run_helper(["--targets", "src"])
    b = bridge(helper)
    batched = watch(b.stub(), batch=True, inline_limit=1 << 20)
    single = watch(b.stub(), inline_limit=1 << 20)
    assert batched.next().kind == E.HELLO and single.next().kind == E.HELLO
    make_tree(helper.cwd / "staging", COUNT)
    os.rename(helper.cwd / "staging", helper.cwd / "src" / "burst")

    msgs, changes = messages_until(batched, COUNT)
    assert any(m.kind == E.BATCH for m in msgs) and len(msgs) < COUNT
    assert [e.version for e in changes] == list(range(1, COUNT + 1))
    assert sorted(e.path for e in changes) == [f"src/burst/f{i:03}" for i in range(COUNT)]
    assert all(e.content and hashlib.md5(e.content).hexdigest() == e.MD5Hash for e in changes)
    for m in msgs:
        if m.kind == E.BATCH:
            assert len(m.batch) > 1 and not m.path and all(e.kind == E.CHANGE for e in m.batch)

    msgs, changes = messages_until(single, COUNT)
    assert len(msgs) == COUNT and all(m.kind == E.CHANGE for m in msgs)
    assert [e.version for e in changes] == list(range(1, COUNT + 1))

    # a lone change afterwards comes alone, not wrapped
    (helper.cwd / "src" / "late").write_bytes(b"late")
    ev = batched.next()
    assert (ev.kind, ev.path, ev.version) == (E.CHANGE, "src/late", COUNT + 1)


def test_a_batch_client_gets_its_snapshot_and_missed_events_in_batches(run_helper, bridge, tmp_path):
    make_tree(tmp_path / "work" / "src", COUNT)
    helper = run_helper(["--targets", "src"])
    b = bridge(helper)
    events = watch(b.stub(), batch=True, snapshot=True, inline_limit=1 << 20)
    hello = events.next()
    assert hello.kind == E.HELLO
    files, msgs = [], []
    while True:
        msg = events.next()
        msgs.append(msg)
        if msg.kind == E.SNAPSHOT_END:
            break
        assert msg.kind == E.BATCH
        assert all(e.kind == E.SNAPSHOT_FILE for e in msg.batch)
        files += msg.batch
    assert sorted(f.path for f in files) == [f"src/f{i:03}" for i in range(COUNT)]
    assert all(hashlib.md5(f.content).hexdigest() == f.MD5Hash for f in files)
    assert len(msgs) < COUNT // 10
    events.cancel()

    # resuming: the events missed meanwhile come in batches, in version order
    for i in range(COUNT):
        os.unlink(tmp_path / "work" / "src" / f"f{i:03}")
    probe = watch(b.stub())
    version = probe.next().version
    while version < COUNT:
        version = probe.next().version
    probe.cancel()
    again = watch(b.stub(), batch=True, since_version=hello.version, instance_id=hello.instance_id)
    assert again.next().kind == E.HELLO
    msgs, changes = messages_until(again, COUNT)
    assert len(msgs) < COUNT and [e.version for e in changes] == list(range(1, COUNT + 1))
    assert all(e.event_type == E.DELETE for e in changes)
