"""`downstream-sync resolve PATH --keep-local | --take-remote`: the real console script, a real
app-server, real files; with a `start` running in another process and with none running."""

import os
import signal
import subprocess

from clitools import CLI, run, wait_for


def _start(project, helper):
    return subprocess.Popen(
        [CLI, "start", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})


def _stop(proc) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return out, err


def test_resolve_while_a_session_runs(project, helper):
    skaffold = str(project / "skaffold.yaml")
    local = project / "local" / "out" / "a.txt"
    copy = local.with_name("a.txt.downstream-conflict")
    remote = helper.container / "out" / "a.txt"
    proc = _start(project, helper)
    try:
        wait_for(lambda: local.exists(), "the initial reconcile")
        local.write_text("mine\n")
        remote.write_text("v2\n")
        wait_for(lambda: copy.exists() and copy.read_text() == "v2\n", "the conflict copy")

        kept = run("resolve", "local/out/a.txt", "--keep-local", "-f", skaffold, cwd=project)
        assert kept.returncode == 0, kept.stderr
        assert "kept the local version" in kept.stdout and not copy.exists()
        assert local.read_text() == "mine\n"
        again = run("resolve", "local/out/a.txt", "--keep-local", "-f", skaffold, cwd=project)
        assert again.returncode == 1 and "no conflict to resolve for local/out/a.txt" in again.stderr

        remote.write_text("v3\n")  # still the user's file: a conflict again, never an overwrite
        wait_for(lambda: copy.exists() and copy.read_text() == "v3\n", "a new conflict copy")
        assert local.read_text() == "mine\n"
        taken = run("resolve", str(local), "--take-remote", "-f", skaffold)
        assert taken.returncode == 0, taken.stderr
        assert local.read_text() == "v3\n" and not copy.exists()

        remote.write_text("v4\n")  # an ordinary update now
        wait_for(lambda: local.read_text() == "v4\n", "an ordinary update")
    finally:
        out, err = _stop(proc)
    assert proc.returncode == 130, out + err  # stopped by Ctrl+C, as terminal tools exit
    assert not copy.exists()


def test_a_file_deleted_locally_stays_deleted_until_take_remote(project, helper):
    skaffold = str(project / "skaffold.yaml")
    pull = ["pull", "-f", skaffold, "--connect-command", helper.connect_command]
    first = run(*pull)
    assert first.returncode == 0, first.stdout + first.stderr
    local = project / "local" / "out" / "a.txt"
    local.unlink()
    (helper.container / "out" / "a.txt").write_text("v2\n")

    second = run(*pull)
    assert second.returncode == 1, second.stdout + second.stderr
    assert not local.exists()
    lines = [line for line in second.stdout.splitlines() if "deleted locally" in line]
    assert len(lines) == 1 and "local/out/a.txt" in lines[0] and "--take-remote" in lines[0], second.stdout

    back = run("resolve", "local/out/a.txt", "--take-remote", "-f", skaffold, cwd=project)
    assert back.returncode == 0, back.stderr
    assert local.read_text() == "v2\n"
    assert not local.with_name("a.txt.downstream-conflict").exists()
    third = run(*pull)
    assert third.returncode == 0, third.stdout + third.stderr


def test_resolve_names_what_is_wrong(project, helper):
    skaffold = str(project / "skaffold.yaml")
    none = run("resolve", "local/out/a.txt", "--take-remote", "-f", skaffold, cwd=project)
    assert none.returncode == 1 and "no conflict to resolve for local/out/a.txt" in none.stderr
    both = run("resolve", "local/out/a.txt", "--take-remote", "--keep-local", "-f", skaffold, cwd=project)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_a_folder_deleted_locally_comes_back_with_one_resolve(project, helper):
    skaffold = str(project / "skaffold.yaml")
    pull = ["pull", "-f", skaffold, "--connect-command", helper.connect_command]
    assert run(*pull).returncode == 0
    sub = project / "local" / "out" / "sub"
    names = sorted(p.name for p in sub.iterdir())
    for p in sub.iterdir():
        p.unlink()
    sub.rmdir()

    second = run(*pull)
    assert second.returncode == 1, second.stdout + second.stderr
    assert not (sub / "b.bin").exists() and not (sub / "run.sh").exists()
    lines = [line for line in second.stdout.splitlines() if "deleted locally" in line]
    assert len(lines) == 1, second.stdout  # a count, not a line a file
    assert "local/out/sub" in lines[0] and "2 files" in lines[0] and "resolve local/out/sub --take-remote" in lines[0]
    back = run("resolve", "local/out/sub", "--take-remote", "-f", skaffold, cwd=project)
    assert back.returncode == 0, back.stderr
    assert back.stdout.count("resolved") == len(names) == 2
    assert sorted(p.name for p in sub.iterdir()) == names
    assert (sub / "b.bin").read_bytes() == (helper.container / "out" / "sub" / "b.bin").read_bytes()
    assert os.access(sub / "run.sh", os.X_OK)
    assert run(*pull).returncode == 0
