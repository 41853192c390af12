"""Watch through a real app-connect: creates, changes, deletes, renames, new folders, late targets, excludes."""

import hashlib
import os
import shutil
import threading
import time

from helper_procs import hello_and_snapshot, wait_until, watch

from sync_helper.wire import filedownload_pb2 as pb

E = pb.FileEvent


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def start(run_helper, bridge, tmp_path, args=("--targets", "src"), **watch_fields):
    (tmp_path / "work" / "src").mkdir(parents=True, exist_ok=True)
    helper = run_helper(list(args))
    stub = bridge(helper).stub()
    events = watch(stub, **watch_fields)
    hello = events.next()
    assert hello.kind == E.HELLO
    return helper, stub, events, hello


def test_create_modify_delete_carry_md5_and_consecutive_versions(run_helper, bridge, tmp_path):
    helper, _, events, hello = start(run_helper, bridge, tmp_path, inline_limit=1 << 20)
    src = helper.cwd / "src"
    assert hello.version == 0 and hello.instance_id
    assert list(hello.helper.targets) == ["src"] and hello.helper.target_dirs[0] == str(src)

    (src / "a.txt").write_bytes(b"one")
    ev = events.until(lambda e: e.path == "src/a.txt")
    assert (ev.event_type, ev.MD5Hash, ev.size, ev.content, ev.version) == (E.CREATE, md5(b"one"), 3, b"one", 1)
    assert ev.instance_id == hello.instance_id

    (src / "a.txt").write_bytes(b"two!")
    ev = events.until(lambda e: e.path == "src/a.txt")
    assert (ev.event_type, ev.MD5Hash, ev.version) == (E.MODIFY, md5(b"two!"), 2)

    os.chmod(src / "a.txt", 0o755)
    ev = events.until(lambda e: e.path == "src/a.txt")
    assert (ev.event_type, ev.mode, ev.version) == (E.MODIFY, 0o755, 3)

    (src / "a.txt").unlink()
    ev = events.until(lambda e: e.path == "src/a.txt")
    assert (ev.event_type, ev.MD5Hash, ev.version) == (E.DELETE, "", 4)


def test_a_file_written_in_many_chunks_gives_one_event(run_helper, bridge, tmp_path):
    helper, _, events, _ = start(run_helper, bridge, tmp_path)
    data = os.urandom(64 << 10)
    with open(helper.cwd / "src" / "big.bin", "wb") as f:
        for i in range(0, len(data), 1024):
            f.write(data[i:i + 1024])
            f.flush()
    (helper.cwd / "src" / "marker").write_bytes(b"")
    changes = events.changes_until(lambda e: e.path == "src/marker")
    big = [e for e in changes if e.path == "src/big.bin"]
    assert len(big) == 1 and big[0].MD5Hash == md5(data) and big[0].size == len(data)


def test_a_file_held_open_is_reported_after_a_quiet_interval(run_helper, bridge, tmp_path):
    helper, _, events, _ = start(run_helper, bridge, tmp_path)
    with open(helper.cwd / "src" / "app.log", "wb") as f:
        f.write(b"line 1\n")
        f.flush()
        ev = events.until(lambda e: e.path == "src/app.log")
        assert ev.MD5Hash == md5(b"line 1\n")


def test_a_log_appended_without_pause_still_gets_events(run_helper, bridge, tmp_path):
    helper, _, events, _ = start(run_helper, bridge, tmp_path)
    stop = threading.Event()

    def append() -> None:
        with open(helper.cwd / "src" / "busy.log", "ab") as f:
            while not stop.is_set():
                f.write(b"tick\n")
                f.flush()
                time.sleep(0.02)  # faster than the quiet interval: only the maximum delay reports it

    writer = threading.Thread(target=append)
    writer.start()
    try:
        ev = events.until(lambda e: e.path == "src/busy.log")
        assert writer.is_alive() and ev.size > 0 and ev.size % 5 == 0
    finally:
        stop.set()
        writer.join()


def test_renames_of_files_and_folders(run_helper, bridge, tmp_path):
    helper, _, events, _ = start(run_helper, bridge, tmp_path)
    src = helper.cwd / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "e" / "f.txt").write_bytes(b"f")
    (src / "d" / "g.txt").write_bytes(b"g")
    seen = set()
    while seen != {"src/d/e/f.txt", "src/d/g.txt"}:
        seen.add(events.until(lambda e: e.kind == E.CHANGE).path)

    os.rename(src / "d" / "g.txt", src / "d" / "h.txt")
    ev = events.until(lambda e: e.kind == E.CHANGE)
    assert (ev.event_type, ev.old_path, ev.path, ev.MD5Hash) == (E.RENAME, "src/d/g.txt", "src/d/h.txt", md5(b"g"))

    os.rename(src / "d", src / "moved")
    renames = {}
    while len(renames) < 2:
        ev = events.until(lambda e: e.kind == E.CHANGE)
        assert ev.event_type == E.RENAME
        renames[ev.old_path] = ev.path
    assert renames == {"src/d/e/f.txt": "src/moved/e/f.txt", "src/d/h.txt": "src/moved/h.txt"}

    # the moved folder is still watched under its new name
    (src / "moved" / "e" / "new.txt").write_bytes(b"n")
    ev = events.until(lambda e: e.kind == E.CHANGE)
    assert (ev.path, ev.event_type) == ("src/moved/e/new.txt", E.CREATE)

    # moving out of the target is a delete; moving in is a create
    os.rename(src / "moved" / "h.txt", helper.cwd / "outside.txt")
    ev = events.until(lambda e: e.kind == E.CHANGE)
    assert (ev.path, ev.event_type) == ("src/moved/h.txt", E.DELETE)
    os.rename(helper.cwd / "outside.txt", src / "back.txt")
    ev = events.until(lambda e: e.kind == E.CHANGE)
    assert (ev.path, ev.event_type, ev.MD5Hash) == ("src/back.txt", E.CREATE, md5(b"g"))


def test_deleting_a_folder_deletes_each_known_file(run_helper, bridge, tmp_path):
    helper, _, events, _ = start(run_helper, bridge, tmp_path)
    src = helper.cwd / "src"
    for name in ("x/1", "x/2", "x/y/3"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(name.encode())
    seen = set()
    while len(seen) < 3:
        seen.add(events.until(lambda e: e.kind == E.CHANGE).path)
    shutil.rmtree(src / "x")
    deleted = set()
    while len(deleted) < 3:
        ev = events.until(lambda e: e.kind == E.CHANGE)
        assert ev.event_type == E.DELETE
        deleted.add(ev.path)
    assert deleted == {"src/x/1", "src/x/2", "src/x/y/3"}


def test_new_subfolders_late_targets_and_absolute_targets(run_helper, bridge, tmp_path):
    abs_target = tmp_path / "abs"
    abs_target.mkdir()
    helper, _, events, hello = start(run_helper, bridge, tmp_path,
                                     args=("--targets", f"src,later/deep/out,{abs_target}"))
    assert "does not exist yet" in helper.stderr and "later/deep/out" in helper.stderr
    assert list(hello.helper.targets) == ["src", "later/deep/out", str(abs_target)]

    deep = helper.cwd / "src" / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "f.txt").write_bytes(b"deep")
    assert events.until(lambda e: e.kind == E.CHANGE).path == "src/a/b/c/f.txt"

    # A target that appears is read whole, then a fresh snapshot follows (its files may come in it).
    late = helper.cwd / "later" / "deep" / "out"
    late.mkdir(parents=True)
    (late / "gen.txt").write_bytes(b"generated")
    gen, end = None, None
    while gen is None or end is None:
        ev = events.next()
        gen = ev if ev.path == "later/deep/out/gen.txt" else gen
        end = ev if ev.kind == E.SNAPSHOT_END else end
    assert gen.MD5Hash == md5(b"generated") and list(end.missing_targets) == []

    (abs_target / "x.log").write_bytes(b"x")
    assert events.until(lambda e: e.kind == E.CHANGE).path == f"{abs_target}/x.log"

    # a target that is removed and comes back is watched again
    shutil.rmtree(helper.cwd / "later")
    wait_until(lambda: "went away" in helper.stderr, "the target's loss")
    late.mkdir(parents=True)
    (late / "again.txt").write_bytes(b"again")
    assert events.until(lambda e: e.path == "later/deep/out/again.txt").MD5Hash == md5(b"again")


def test_excluded_files_give_no_events_and_excluded_folders_no_watches(run_helper, bridge, tmp_path):
    src = tmp_path / "work" / "src"
    (src / "node_modules" / "pkg" / "lib").mkdir(parents=True)
    (src / "abc").mkdir()
    helper, _, events, _ = start(run_helper, bridge, tmp_path,
                                 args=("--targets", "src", "--excludes", "node_modules/*,abc/bb.js,**/*.tmp"))
    watched = wait_until(lambda: helper.watched_inodes(), "inotify watches")
    assert os.stat(src).st_ino in watched and os.stat(src / "abc").st_ino in watched
    for folder in (src / "node_modules", src / "node_modules" / "pkg", src / "node_modules" / "pkg" / "lib"):
        assert os.stat(folder).st_ino not in watched

    (src / "node_modules" / "pkg" / "lib" / "i.js").write_bytes(b"x")
    (src / "node_modules" / "newpkg").mkdir()
    (src / "abc" / "bb.js").write_bytes(b"x")
    (src / "abc" / "keep.tmp").write_bytes(b"x")
    (src / "abc" / "cc.js").write_bytes(b"x")
    changes = events.changes_until(lambda e: e.path == "src/abc/cc.js")
    assert [e.path for e in changes] == ["src/abc/cc.js"]
    assert os.stat(src / "node_modules" / "newpkg").st_ino not in helper.watched_inodes()


def test_snapshot_lists_existing_files_with_inline_content(run_helper, bridge, tmp_path):
    src = tmp_path / "work" / "src"
    (src / "sub").mkdir(parents=True)
    (src / "small.txt").write_bytes(b"small")
    (src / "sub" / "empty").write_bytes(b"")
    (src / "big.bin").write_bytes(os.urandom(300 << 10))
    (src / "link").symlink_to(src / "small.txt")
    helper = run_helper(["--targets", "src"])
    events = watch(bridge(helper).stub(), snapshot=True, inline_limit=1 << 20)
    hello, files, end = hello_and_snapshot(events)
    by_path = {f.path: f for f in files}
    assert set(by_path) == {"src/small.txt", "src/sub/empty", "src/big.bin"}  # symlinks are not reported
    assert by_path["src/small.txt"].content == b"small"
    assert by_path["src/sub/empty"].HasField("content") and by_path["src/sub/empty"].content == b""
    assert not by_path["src/big.bin"].HasField("content")  # above the helper's max_inline
    assert by_path["src/big.bin"].MD5Hash == md5((src / "big.bin").read_bytes())
    assert hello.helper.max_inline == 256 << 10 and end.version == hello.version


def test_seed_client_gets_change_events_only(run_helper, bridge, tmp_path):
    (tmp_path / "work" / "src").mkdir(parents=True)
    (tmp_path / "work" / "src" / "old.txt").write_bytes(b"old")
    helper = run_helper(["--command", "sleep,600", "--targets", "src"], command=None)
    events = watch(bridge(helper).stub(), protocol=0)
    # a seed client gets no HELLO, so write until its call is live and events flow
    n = 0
    got = []
    while not got:
        n += 1
        (helper.cwd / "src" / f"new{n}.txt").write_bytes(b"new")
        got = events.quiet(0.3)
        assert n < 60, "no event reached the seed client"
    ev = got[0]
    assert (ev.kind, ev.event_type, ev.MD5Hash) == (E.CHANGE, E.CREATE, md5(b"new"))
    assert ev.path.startswith("src/new") and not ev.HasField("content")
    assert [e.version for e in got] == list(range(ev.version, ev.version + len(got)))


def test_a_folder_swapped_for_a_symlink_never_leaks_what_it_points_to(run_helper, bridge, tmp_path):
    """The swap happens while the helper is stopped, so it reads its queued events afterwards."""
    import signal

    helper, _, events, _ = start(run_helper, bridge, tmp_path, inline_limit=1 << 20)
    src = helper.cwd / "src"
    (src / "d").mkdir()
    (src / "d" / "f").write_bytes(b"inside")
    events.until(lambda e: e.path == "src/d/f")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"secret")
    os.kill(helper.proc.pid, signal.SIGSTOP)
    try:
        shutil.rmtree(src / "d")
        os.symlink(outside, src / "d")
    finally:
        os.kill(helper.proc.pid, signal.SIGCONT)
    (src / "end").write_bytes(b"end")
    mark = len(events.seen)
    # A DELETE is held briefly (its whole target may be going): it may come before or after src/end.
    events.until(lambda e: {"src/end", "src/d/f"} <= {x.path for x in events.seen[mark:]})
    seen = events.seen[mark:]
    assert [e.event_type for e in seen if e.path == "src/d/f"] == [E.DELETE]
    assert not any(e.content == b"secret" or e.MD5Hash == md5(b"secret") for e in seen)


def test_a_target_that_is_a_symlink_to_a_folder_is_watched(run_helper, bridge, tmp_path):
    real = tmp_path / "work" / "real-logs"
    real.mkdir(parents=True)
    os.symlink(real, tmp_path / "work" / "logs")
    helper, stub, events, hello = start(run_helper, bridge, tmp_path, args=("--targets", "logs"))
    (real / "app.log").write_bytes(b"started\n")
    ev = events.until(lambda e: e.path == "logs/app.log")
    assert (ev.event_type, ev.MD5Hash) == (E.CREATE, md5(b"started\n"))
