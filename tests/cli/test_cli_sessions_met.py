"""Sessions as users meet them, through the real console script, a real app-server and a real
app-connect: the helper's targets against the rules, what -v shows, what a missing helper looks
like, reserved paths, conflicts that repeat or are settled, what `status` shows, Ctrl+C."""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from clitools import CLI, run, wait_for
from test_cli_start import Output


def pull(project, helper, *extra):
    return run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command, *extra)


def start(project, helper, *extra):
    return subprocess.Popen(
        [CLI, "start", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})


def stop(proc, out) -> int:
    proc.send_signal(signal.SIGINT)
    code = proc.wait(30)
    out.thread.join(10)
    return code


def test_a_rule_the_helper_does_not_watch_is_an_error_and_exit_1(project, container, start_helper):
    (container / "other").mkdir()
    (container / "other" / "x.txt").write_text("not under any rule\n")
    helper = start_helper(container, targets="other")
    result = pull(project, helper)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.split()[1:2] == ["error"]]
    assert len(errors) == 1 and "out -> local/out" in errors[0] and "it watches other in " in errors[0], result.stdout
    assert "NOT in sync" in result.stdout and "reconciled 0 files" in result.stdout
    assert not (project / "local").exists()


def test_an_absolute_target_for_a_relative_rule_is_the_same_folder(project, container, start_helper):
    helper = start_helper(container, targets=str(container / "out"))
    result = pull(project, helper)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "local" / "out" / "a.txt").read_text() == "alpha\n"
    assert "reconciled 3 files (3 synced)" in result.stdout, result.stdout


def test_pull_v_names_each_skipped_file_and_a_reserved_path_is_not_an_error(project, container, helper):
    (container / "out" / ".git").mkdir()
    (container / "out" / ".git" / "config").write_text("[core]\n")
    result = pull(project, helper, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any("skipped" in line and "local/out/debug.log" in line and "(excluded)" in line for line in lines), lines
    assert any("skipped" in line and "local/out/.git/config" in line and "never written" in line for line in lines)
    assert not (project / "local" / "out" / ".git").exists()
    assert not any("watching" in line for line in lines), lines  # a pull does not watch
    assert any("reconciled 3 files (3 synced)" in line for line in lines), lines  # what the rules cover

    again = pull(project, helper, "-v")
    assert again.returncode == 0, again.stdout + again.stderr
    assert any("skipped" in line and "local/out/a.txt" in line and "up to date" in line
               for line in again.stdout.splitlines()), again.stdout
    quiet = pull(project, helper)
    assert "skipped" not in quiet.stdout and quiet.returncode == 0


def test_no_helper_shows_app_connects_words_and_advice_for_the_command(project, tmp_path):
    command = f"{Path(sys.executable).parent / 'app-connect'} --socket {tmp_path / 'nothing.sock'}"
    result = run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", command)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"app-connect: cannot connect to {tmp_path / 'nothing.sock'}" in line, line
    assert "(is app-server running in this container?)" in line
    assert "check that the command reaches the helper" in line
    assert "UNAVAILABLE" not in line and "download stanza" not in line, line
    retries = [l for l in result.stdout.splitlines() if "retrying" in l]
    assert retries and all(l.split(None, 1)[1].split() == ["reconnecting", "retrying", "in", l.split()[-1]]
                           for l in retries), retries


def test_a_file_rewritten_again_is_one_conflict_line_and_the_summary_lists_open_ones(project, helper):
    assert pull(project, helper).returncode == 0
    local = project / "local" / "out"
    (local / "a.txt").write_text("my edit of a\n")
    (local / "sub" / "run.sh").write_text("my edit of run\n")
    proc = start(project, helper)
    out = Output(proc)
    try:
        wait_for(lambda: out.has("watching"), "the watching state")
        for i in range(5):
            text = f"the container's version {i}\n"
            (helper.container / "out" / "a.txt").write_text(text)
            wait_for(lambda: (local / "a.txt.downstream-conflict").exists()
                     and (local / "a.txt.downstream-conflict").read_text() == text, f"version {i} beside a.txt")
        (helper.container / "out" / "sub" / "run.sh").write_text("the container's new run\n")
        wait_for(lambda: (local / "sub" / "run.sh.downstream-conflict").exists(), "the copy beside run.sh")
        wait_for(lambda: out.has("conflict", "local/out/sub/run.sh"), "the conflict line of run.sh")

        def status():
            result = run("status", "-f", str(project / "skaffold.yaml"))
            return result.stdout if "local/out/sub/run.sh" in result.stdout else None

        shown = wait_for(status, "status to show the conflicts")
        row = shown.splitlines()[1].split()
        assert row[5:7] == ["2", "0"], shown  # CONFLICTS, ERRORS
        assert "web: conflict local/out/a.txt (the container's copy: local/out/a.txt.downstream-conflict)" in shown
        (local / "sub" / "run.sh.downstream-conflict").unlink()  # settled by hand
        after = run("status", "-f", str(project / "skaffold.yaml")).stdout
        assert after.splitlines()[1].split()[5] == "1" and "run.sh" not in after, after
    finally:
        code = stop(proc, out)
    assert code == 130, out.text
    lines = [l for l in out.lines if l.split()[1:2] == ["conflict"]]
    assert len(lines) == 2, out.text  # one per file, however often the container changed it
    assert sum(l.count("downstream-conflict") for l in lines) == 2, lines  # says once where the copy is
    summary = [l for l in out.lines if l.startswith("Stopped.")]
    assert summary and "2 conflicts (1 settled since)" in summary[0], out.text
    (note,) = [l for l in out.lines if l.startswith("Conflicts to look at:")]
    assert "local/out/a.txt (changed 5 more times in the container since)" in note and "run.sh" not in note, note


def test_status_shows_a_sessions_errors(project, helper):
    local = project / "local" / "out" / "sub"
    local.mkdir(parents=True)
    (local / "run.sh").symlink_to("/etc/hostname")
    proc = start(project, helper)
    out = Output(proc)
    try:
        wait_for(lambda: out.has("error", "local/out/sub/run.sh"), "the error line")

        def status():
            result = run("status", "-f", str(project / "skaffold.yaml"))
            return result.stdout if "last error" in result.stdout else None

        shown = wait_for(status, "status to show the error")
        assert shown.splitlines()[1].split()[5:7] == ["0", "1"], shown
        assert "web: last error: refused to write" in shown and "symlink" in shown, shown
    finally:
        assert stop(proc, out) == 130


def test_help_lists_the_exit_codes():
    for command, codes in (("start", ("1", "2", "130", "143")), ("pull", ("0", "1", "2", "130"))):
        result = run(command, "--help")
        assert result.returncode == 0
        listed = result.stdout.split("exit codes:")[1]
        assert all(f"  {code} " in listed for code in codes), result.stdout


_WRITE = {"x86_64": 1, "aarch64": 64}  # the write(2) system call's number, for /proc/PID/syscall


def _blocked_writing_stdout(pid: int) -> bool:
    """Whether the process's main thread is inside write(1, ...) (a full pipe holds it there)."""
    try:
        words = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(words) > 1 and words[0] == str(_WRITE[os.uname().machine]) and int(words[1], 16) == 1


def test_a_second_ctrl_c_quits_at_once_with_130_where_the_stop_is_held_up(project, helper):
    """The first Ctrl+C's stop is held up for good (stdout is a pipe nobody reads: a paused pager);
    the second quits at once: exit 130, the word on stderr, no summary."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([CLI, "start", "-f", str(project / "skaffold.yaml"), "--connect-command",
                             helper.connect_command], stdout=write_end, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1"})
    seen = b""
    try:
        deadline = time.monotonic() + 20  # a bound, not a measure
        while b"watching" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            if select.select([read_end], [], [], 0.1)[0]:
                seen += os.read(read_end, 65536)
        # Fill the pipe from here, through a description of its own (the tool's stays blocking):
        # the tool's next line waits.
        filler = os.open(f"/proc/self/fd/{write_end}", os.O_WRONLY | os.O_NONBLOCK)
        for size in (65536, 1):
            try:
                while True:
                    os.write(filler, b"\n" * size)
            except BlockingIOError:
                pass
        os.close(filler)
        assert not _blocked_writing_stdout(proc.pid)  # idle, waiting for the helper
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: _blocked_writing_stdout(proc.pid), "the stop to be held up by its output")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(write_end)
    rest = b""
    while chunk := os.read(read_end, 65536):
        rest += chunk
    os.close(read_end)
    err = proc.stderr.read().decode()
    assert code == 130, err
    assert err.endswith("downstream-sync: interrupted\n") and "Traceback" not in err, err
    assert b"Stopped." not in rest  # no clean stop happened: it quit at once
    status = run("status", "-f", str(project / "skaffold.yaml"))  # a record left by a quit at once is stale
    assert "No sessions are running" in status.stdout, status.stdout


def test_start_says_why_once_and_each_retry_in_one_short_line(project, tmp_path):
    command = f"{Path(sys.executable).parent / 'app-connect'} --socket {tmp_path / 'nothing.sock'}"
    proc = subprocess.Popen([CLI, "start", "-f", str(project / "skaffold.yaml"), "--connect-command", command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    out = Output(proc)
    try:
        wait_for(lambda: len([l for l in out.lines if "retrying in" in l]) >= 3, "three retries")
    finally:
        stop(proc, out)
    errors = [l for l in out.lines if l.split()[1:2] == ["error"]]
    assert len(errors) == 1 and "app-connect: cannot connect to" in errors[0], out.text
    assert "check that the command reaches the helper" in errors[0]
    retries = [l for l in out.lines if "retrying in" in l]
    assert all(l.split()[1:4] == ["reconnecting", "retrying", "in"] and len(l.split()) == 5 for l in retries), retries
