"""The helper's targets against the rules: a rule whose remoteSrc no target of the helper covers is
an error naming the rule and the targets, the covered rules sync on; a target the helper spells
absolute (`/…/src` for `src` in its working directory) is the same folder; every count a reconcile
reports counts only what the rules cover. A real app-server with other --targets than the rules,
reached through a real app-connect."""

from __future__ import annotations

from downstream_sync.sync.events import ReconcileProgress, SessionState, StateChanged

from engine_support import Helper, eventually, tree


async def test_a_rule_the_helper_does_not_watch_is_an_error_and_pull_is_not_in_sync(container, project, tmp_path,
                                                                                     make_session):
    (container / "src" / "a.txt").write_text("a")
    (container / "extra").mkdir()
    for i in range(5):
        (container / "extra" / f"x{i}.txt").write_text("not ours" * 100)
    h = Helper(container, tmp_path / "h.sock", ["src", "extra"]).start()
    try:
        session, rec = await make_session(h, mappings=(("src", "out"), ("gen", "gen")), start=False)
        result = await session.pull()
    finally:
        h.kill()
    assert (project / "out" / "a.txt").read_text() == "a"  # the covered rule synced
    assert not result.in_sync and result.errors == 1
    [error] = rec.errors
    assert "gen -> gen" in error.message and "src, extra" in error.message and "--targets" in error.message
    # Only the file the rules cover is counted: not the five of `extra`.
    last = rec.of(ReconcileProgress)[-1]
    assert (last.files_done, last.files_total, last.bytes_done, last.bytes_total) == (1, 1, 1, 1)
    assert any("reconciled 1 files" in e.detail for e in rec.of(StateChanged))


async def test_an_absolute_spelling_of_a_relative_target_is_the_same_folder(container, project, tmp_path,
                                                                           make_session):
    (container / "src" / "sub").mkdir()
    (container / "src" / "a.txt").write_text("a")
    (container / "src" / "sub" / "b.txt").write_text("b")
    relative = Helper(container, tmp_path / "h.sock", ["src"]).start()
    try:
        session, rec = await make_session(relative, start=False)
        assert (await session.pull()).in_sync
    finally:
        relative.kill()
    assert tree(project / "out") == tree(container / "src")

    # The helper now spells the target absolute: the same files, nothing deleted, still in sync.
    absolute = Helper(container, tmp_path / "h.sock", [str(container.resolve() / "src")]).start()
    try:
        (container / "src" / "c.txt").write_text("c")
        session, rec = await make_session(absolute, start=False)
        result = await session.pull()
        assert result.in_sync and result.synced == 1, rec.errors
        assert tree(project / "out") == tree(container / "src")
        # A rule spelled absolute, a helper spelling it relative: the same, live.
    finally:
        absolute.kill()
    relative.start()
    try:
        live, rec = await make_session(relative, mappings=((str(container.resolve() / "src"), "out"),))
        await eventually(lambda: live.state is SessionState.WATCHING, "watching")
        (container / "src" / "d.txt").write_text("d")
        await eventually(lambda: tree(project / "out") == tree(container / "src"), "the live change")
        assert not rec.errors, rec.errors
    finally:
        relative.kill()


async def test_progress_never_passes_its_total_across_reconnects(container, project, tmp_path, make_session):
    """The stream is cut and the helper restarted while reconcilies run; every progress event has
    done <= total."""
    for i in range(300):
        (container / "src" / f"f{i:03}.txt").write_text(f"{i}\n" * 200)
    h = Helper(container, tmp_path / "h.sock", ["src"]).start()
    try:
        session, rec = await make_session(h)
        await eventually(lambda: rec.of(ReconcileProgress), "a reconcile under way")
        for proc in list(session._bridge._procs):  # cut the stream mid-reconcile
            proc.kill()
        await eventually(lambda: rec.of(StateChanged, state=SessionState.RECONNECTING), "the cut to be noticed")
        for i in range(0, 300, 3):
            (container / "src" / f"f{i:03}.txt").write_text("changed\n")
        h.kill()
        h.start()
        await eventually(lambda: tree(project / "out") == tree(container / "src"), "the files after the restart")
        await eventually(lambda: session.state is SessionState.WATCHING, "watching")
    finally:
        h.kill()
    progress = rec.of(ReconcileProgress)
    assert progress and all(e.files_done <= e.files_total and e.bytes_done <= e.bytes_total for e in progress), \
        [(e.files_done, e.files_total) for e in progress if e.files_done > e.files_total][:5]


async def test_a_reconcile_after_a_reconnect_that_deletes_counts_within_its_total(container, project, tmp_path,
                                                                                   make_session):
    """Ten files synced; the helper goes away, one file is deleted, the helper comes back: its snapshot
    has nine, the reconcile deletes the tenth locally and its progress ends at 9/9 (the delete of a file
    the snapshot no longer has is no file of its total: it once made it 10/9)."""
    for i in range(10):
        (container / "src" / f"f{i}.txt").write_text(f"{i}\n")
    h = Helper(container, tmp_path / "h.sock", ["src"]).start()
    try:
        session, rec = await make_session(h)
        await eventually(lambda: session.state is SessionState.WATCHING, "the first reconcile")
        assert len(list((project / "out").iterdir())) == 10
        h.kill()
        await eventually(lambda: rec.of(StateChanged, state=SessionState.RECONNECTING), "the loss to be noticed")
        before = len(rec.of(ReconcileProgress))
        (container / "src" / "f0.txt").unlink()
        h.start()
        await eventually(lambda: not (project / "out" / "f0.txt").exists(), "the delete after the reconnect")
        await eventually(lambda: session.state is SessionState.WATCHING, "watching again")
    finally:
        h.kill()
    after = rec.of(ReconcileProgress)[before:]
    assert after and (after[-1].files_done, after[-1].files_total) == (9, 9), \
        [(e.files_done, e.files_total) for e in after]
    assert all(e.files_done <= e.files_total and e.bytes_done <= e.bytes_total for e in after)
    assert tree(project / "out") == tree(container / "src")


def test_a_reconcile_counts_each_of_its_files_once():
    """What the engine applies twice (a retry, a live change merged in) or that the rules leave out
    is not counted again: done stays within total by construction."""
    from downstream_sync.sync.reconcile import Reconcile

    rec = Reconcile()
    rec.add("src/a", 10)
    rec.add("src/b", 5)
    for path in ("src/a", "src/a", "extra/x", "src/b"):
        rec.done(path)
    assert (rec.files_done, rec.files_total, rec.bytes_done, rec.bytes_total) == (2, 2, 15, 15)


async def test_a_live_session_reports_an_uncovered_rule_once_and_syncs_the_others(container, project, tmp_path,
                                                                                 make_session):
    h = Helper(container, tmp_path / "h.sock", ["src"]).start()
    try:
        session, rec = await make_session(h, mappings=(("src", "out"), ("gen", "gen")))
        await eventually(lambda: session.state is SessionState.WATCHING, "watching")
        for proc in list(session._bridge._procs):  # a reconnect greets again
            proc.kill()
        await eventually(lambda: rec.of(StateChanged, state=SessionState.RECONNECTING), "the cut to be noticed")
        (container / "src" / "late.txt").write_text("late")
        await eventually(lambda: (project / "out" / "late.txt").exists(), "a change after the reconnect")
    finally:
        h.kill()
    uncovered = [e for e in rec.errors if "gen -> gen" in e.message]
    assert len(uncovered) == 1, [e.message for e in rec.errors]


def test_bind_compares_folders_as_absolute_and_maps_the_helpers_spelling(tmp_path):
    from downstream_sync.sync.rules import RuleSet

    rules = RuleSet.from_download([("/app/out", "a"), ("gen/sub", "b"), ("logs", "c"), ("/var/tmp", "d")], [], tmp_path)
    uncovered = rules.bind("/app", ["out", "/app/gen", "/var"], ["/app/out", "/app/gen", "/var"])
    assert [r.local_dst for r in uncovered] == ["c"]  # /app/logs is no target, nor below one
    assert rules.local_path("out/x.txt") == tmp_path.resolve() / "a" / "x.txt"       # the helper's spelling
    assert rules.local_path("/app/out/x.txt") == tmp_path.resolve() / "a" / "x.txt"  # the rule's own
    assert rules.local_path("/app/gen/sub/y") == tmp_path.resolve() / "b" / "y"
    assert rules.local_path("/app/gen/other/y") is None  # the target holds more than the rule
    assert rules.local_path("/var/tmp/z") == tmp_path.resolve() / "d" / "z"
    assert rules.canonical("out/x.txt") == "/app/out/x.txt"
