"""The flags an injected pod passes: --workdir for relative targets, --exclude for a pattern with a
comma, and the app's own TMPDIR given back while the helper's points at its volume."""

import sys

from helper_procs import hello_and_snapshot, wait_until, watch


def test_relative_targets_live_in_the_workdir_and_the_app_keeps_its_folder(run_helper, bridge, tmp_path):
    app_dir = tmp_path / "image-workdir"
    (app_dir / "src").mkdir(parents=True)
    (app_dir / "src" / "a.js").write_text("a")
    (app_dir / "src" / "b.ts").write_text("b")
    (app_dir / "src" / "c.txt").write_text("c")
    record = tmp_path / "cwd.txt"
    helper = run_helper(["--workdir", str(app_dir), "--targets", "src", "--exclude", "*.{js,ts}"],
                        command=[sys.executable, "-c",
                                 f"import os, time; open({str(record)!r}, 'w').write(os.getcwd()); time.sleep(600)"])
    events = watch(bridge(helper).stub(), since_version=1, instance_id="an-earlier-run")  # asks for a snapshot
    hello, files, _ = hello_and_snapshot(events)
    assert hello.helper.working_dir == str(app_dir)
    assert list(hello.helper.target_dirs) == [str(app_dir / "src")]
    assert list(hello.helper.excludes) == ["*.{js,ts}"]
    assert [f.path for f in files] == ["src/c.txt"]
    wait_until(lambda: record.exists() and record.read_text(), "the app to start")
    assert record.read_text() == str(helper.cwd)


def test_the_app_gets_its_own_tmpdir_back(run_helper, tmp_path, monkeypatch):
    report = "import os, sys; open(sys.argv[1], 'w').write(repr(os.environ.get('TMPDIR')) + ' ' + " \
             "repr(os.environ.get('DOWNSTREAM_SYNC_APP_TMPDIR')))"
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the helper's, on its volume
    seen = {}
    for own in ("/app/tmp", ""):
        out = tmp_path / f"env{len(seen)}.txt"
        monkeypatch.setenv("DOWNSTREAM_SYNC_APP_TMPDIR", own)
        helper = run_helper(["--targets", "src"], command=[sys.executable, "-c", report, str(out)],
                            name=f"h{len(seen)}", wait_socket=False)
        assert helper.wait() == 0
        seen[own] = out.read_text()
    assert seen == {"/app/tmp": "'/app/tmp' None", "": "None None"}
    monkeypatch.delenv("DOWNSTREAM_SYNC_APP_TMPDIR")
    out = tmp_path / "plain.txt"
    helper = run_helper(["--targets", "src"], command=[sys.executable, "-c", report, str(out)], name="plain",
                        wait_socket=False)
    assert helper.wait() == 0
    assert out.read_text() == f"{str(tmp_path)!r} None"
