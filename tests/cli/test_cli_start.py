"""`downstream-sync start` and `status` end to end: the real console script as a process, a real
app-server, real app-connect as the --connect-command; Ctrl+C is a real SIGINT."""

import os
import signal
import subprocess
import threading

from clitools import CLI, run, wait_for


class Output:
    """Collects a process's stdout in a thread, so the test can wait for lines."""

    def __init__(self, proc):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def has(self, *words) -> bool:
        return any(all(w in line for w in words) for line in list(self.lines))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def start(project, helper):
    return subprocess.Popen(
        [CLI, "start", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"},
    )


def test_start_syncs_live_lists_itself_in_status_and_stops_on_ctrl_c(project, helper):
    proc = start(project, helper)
    out = Output(proc)
    try:
        local = project / "local" / "out"
        wait_for(lambda: (local / "a.txt").exists() and (local / "sub" / "b.bin").exists(), "the initial reconcile")
        wait_for(lambda: out.has("watching"), "the watching state")

        (helper.container / "out" / "new.txt").write_text("made while watching\n")
        wait_for(lambda: (local / "new.txt").exists() and (local / "new.txt").read_text() == "made while watching\n",
                 "a live change")
        wait_for(lambda: out.has("created", "local/out/new.txt"), "the line for the live change")
        (helper.container / "out" / "a.txt").unlink()
        wait_for(lambda: not (local / "a.txt").exists(), "a live delete")
        wait_for(lambda: out.has("deleted", "local/out/a.txt"), "the line for the delete")

        def status_row():
            status = run("status", "-f", str(project / "skaffold.yaml"))
            assert status.returncode == 0, status.stderr
            header, *rows = status.stdout.strip().splitlines()
            assert header.split()[:7] == ["PID", "BY", "ARTIFACT", "STATE", "FILES", "CONFLICTS", "ERRORS"]
            assert len(rows) == 1, rows
            pid, by, artifact, state, files, conflicts, errors, *transport = rows[0].split()
            assert (int(pid), by, artifact, state, conflicts, errors) == \
                (proc.pid, "start", "web", "watching", "0", "0")
            assert "app-connect" in " ".join(transport)
            return int(files) >= 5  # the record catches up with the files within a moment

        wait_for(status_row, "status to show the 5 files synced")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
        out.thread.join(10)
    stderr = proc.stderr.read()
    assert code == 130, out.text + stderr  # Ctrl+C: a clean stop, the exit code of an interrupted tool
    assert "Traceback" not in stderr
    summary = [line for line in out.lines if line.startswith("Stopped.")]
    assert summary and "5 changes synced" in summary[0] and "0 conflicts, 0 errors" in summary[0], out.text
    assert not list((project / ".downstream-sync" / "sessions").glob("*.json"))

    after = run("status", "-f", str(project / "skaffold.yaml"))
    assert after.stdout.strip() == f"No sessions are running for {project}."


def test_status_drops_stale_records(project):
    folder = project / ".downstream-sync" / "sessions"
    folder.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / f"{dead.pid}.json").write_text(
        f'{{"pid": {dead.pid}, "sessions": [{{"artifact": "web", "state": "watching"}}]}}')
    result = run("status", "-f", str(project / "skaffold.yaml"))
    assert result.stdout.strip() == f"No sessions are running for {project}."
    assert not (folder / f"{dead.pid}.json").exists()
