"""What the helper tells newer clients, and what older ones never see: NOTICE events for names that
are not UTF-8, and missing targets in HELLO and SNAPSHOT_END. A seed client (protocol 0) gets
neither, and a target that appears does not end its call. Real app-server, real app-connect, real gRPC."""

import os

from helper_procs import hello_and_snapshot, wait_until, watch

from sync_helper.wire import filedownload_pb2 as pb

E = pb.FileEvent


def test_a_name_that_is_not_utf8_is_a_notice_for_new_clients_only(run_helper, bridge, tmp_path):
    src = tmp_path / "work" / "src"
    src.mkdir(parents=True)
    os.close(os.open(os.fsencode(src) + b"/first\xff", os.O_WRONLY | os.O_CREAT, 0o644))
    (src / "a.txt").write_text("a")
    helper = run_helper(["--targets", "src"])
    stub = bridge(helper).stub()
    seed = watch(stub, protocol=0)
    new = watch(stub, snapshot=True)
    _, files, _ = hello_and_snapshot(new)
    assert [f.path for f in files] == ["src/a.txt"]
    notices = [e.notice for e in new.seen if e.kind == E.NOTICE]
    assert len(notices) == 1 and r"'first\xff'" in notices[0] and str(src) in notices[0]
    _subscribed(seed, src)

    os.close(os.open(os.fsencode(src) + b"/live\xfe", os.O_WRONLY | os.O_CREAT, 0o644))
    ev = new.until(lambda e: e.kind == E.NOTICE)
    assert r"'live\xfe'" in ev.notice and ev.version == 0
    (src / "b.txt").write_text("b")
    assert new.until(lambda e: e.kind == E.CHANGE).path == "src/b.txt"
    seed.until(lambda e: e.path == "src/b.txt")
    assert {e.kind for e in seed.seen} == {E.CHANGE}
    assert helper.stderr.count(r"'live\xfe'") == 1 and helper.stderr.count(r"'first\xff'") == 1


def test_missing_targets_are_named_and_a_seed_client_goes_on_when_one_appears(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    helper = run_helper(["--targets", "src,gen"])
    stub = bridge(helper).stub()
    seed = watch(stub, protocol=0)
    new = watch(stub, snapshot=True)
    hello, _, end = hello_and_snapshot(new)
    assert list(hello.missing_targets) == ["gen"] and list(end.missing_targets) == ["gen"]
    _subscribed(seed, helper.cwd / "src")

    gen = helper.cwd / "gen"
    gen.mkdir()
    (gen / "out.txt").write_text("made")
    # The new client: RESYNC, then a snapshot in which gen exists; a resume from before needs a snapshot.
    new.until(lambda e: e.kind == E.RESYNC)
    _, files, end = hello_and_snapshot_after_resync(new)
    assert list(end.missing_targets) == []
    created = seed.until(lambda e: e.path == "gen/out.txt")
    assert created.kind == E.CHANGE and created.event_type == E.CREATE
    if "gen/out.txt" not in [f.path for f in files]:
        new.until(lambda e: e.path == "gen/out.txt")
    resumed = watch(stub, instance_id=hello.instance_id, since_version=hello.version)
    _, _, again = hello_and_snapshot(resumed)
    assert again.version >= end.version
    (helper.cwd / "src" / "later.txt").write_text("later")
    assert seed.until(lambda e: e.path == "src/later.txt").kind == E.CHANGE  # its call never ended
    wait_until(lambda: "target gen is watched" in helper.stderr, "the helper's log of it")


def _subscribed(events, src) -> None:
    """Write files until the (seed) client sees one: its watch is then surely subscribed."""
    for i in range(100):
        (src / f"probe{i}").write_text("p")
        if any(e.path == f"src/probe{i}" for e in events.quiet(0.2)):
            return
    raise AssertionError("the seed client never saw a file")


def hello_and_snapshot_after_resync(events):
    files = []
    while True:
        ev = events.next()
        if ev.kind == E.SNAPSHOT_END:
            return None, files, ev
        if ev.kind == E.SNAPSHOT_FILE:
            files.append(ev)
