"""The sessions `downstream-sync skaffold dev` starts are in `downstream-sync status`, named as the
wrapper's, and hold the one-session-per-artifact lock as `start`'s do: either one refuses the other,
naming it, and a refused session is in no record.

A deploy that comes up needs a cluster (the cluster tests run the real Skaffold against one). Here a
stand-in Skaffold (below) reads the config copy from stdin and serves `/v2/events` as the real one
does on `--rpc-http-port`: one dev loop iteration that succeeded, then nothing until it is stopped.
Everything else is real: the wrapper, its planner, its sessions, their locks and records.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from .conftest import CLI

STAND_IN = f"""#!{sys.executable}
import http.server, json, os, signal, sys, threading
argv = sys.argv[1:]
port = int(argv[argv.index("--rpc-http-port") + 1])
sys.stdin.read()
EVENTS = [{{"taskEvent": {{"task": "StatusCheck", "status": "Succeeded", "iteration": 1}}}},
          {{"taskEvent": {{"task": "DevLoop", "status": "Succeeded", "iteration": 1}}}}]

class Events(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        for event in EVENTS:
            self.wfile.write(json.dumps({{"result": event}}).encode() + b"\\n")
            self.wfile.flush()
        threading.Event().wait()

    def log_message(self, *args):
        pass

for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda *_: os._exit(0))
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Events)
server.daemon_threads = True
print("Listing files to watch...", flush=True)
server.serve_forever()
"""


class Lines:
    """A process's stdout (or stderr), read in a thread."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self.thread.start()

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))


def wait_for(predicate, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout  # a bound, not a measure
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def stand_in(project):
    path = project.root.parent / "skaffold-stand-in"
    path.write_text(STAND_IN)
    path.chmod(0o755)
    return str(path)


def wrapper_dev(project, stand_in):
    argv = [CLI, "skaffold", "--skaffold", stand_in, "--image-config", f"web={project.root / 'web-config.json'}",
            "dev"]
    proc = subprocess.Popen(argv, cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def start(project):
    """`downstream-sync start` with a connect command that reaches no helper: it retries, holding its lock."""
    command = f"{os.path.dirname(CLI)}/app-connect --socket {project.root.parent / 'nothing.sock'}"
    return subprocess.Popen([CLI, "start", "-f", str(project.config), "--connect-command", command],
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def status(project) -> list[list[str]]:
    result = subprocess.run([CLI, "status", "-f", str(project.config)], env=project.env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    if lines[0].startswith("No sessions are running"):
        return []
    assert lines[0].split()[:4] == ["PID", "BY", "ARTIFACT", "STATE"], result.stdout
    return [line.split() for line in lines[1:] if line.strip() and line[0].isdigit()]


def stop(proc, *readers) -> int:
    proc.send_signal(signal.SIGINT)
    code = proc.wait(30)
    for reader in readers:
        reader.thread.join(10)
    return code


def test_the_wrappers_session_is_in_status_and_refuses_a_start_naming_the_wrapper(project, stand_in):
    proc, out, err = wrapper_dev(project, stand_in)
    try:
        wait_for(lambda: out.has("deploy 1 is up: syncing web"), "the wrapper to start its session")
        rows = wait_for(lambda: status(project), "the record")
        assert [row[:3] for row in rows] == [[str(proc.pid), "skaffold-dev", "web"]], rows
        second = start(project)
        _, refused = second.communicate(timeout=60)
        assert second.returncode == 1, refused
        assert f"session web of {project.root} is already running in downstream-sync skaffold dev (pid {proc.pid})" \
            in refused
    finally:
        code = stop(proc, out, err)
    assert code == 0, err.lines  # the stand-in's own exit code
    assert status(project) == []  # the record goes with the wrapper


def test_a_session_the_lock_refuses_to_the_wrapper_is_in_no_record(project, stand_in):
    first = start(project)
    try:
        wait_for(lambda: status(project), "start's record")
        proc, out, err = wrapper_dev(project, stand_in)
        try:
            wait_for(lambda: err.has("session web did not start"), "the refusal")
            refusal = next(line for line in err.lines if "did not start" in line)
            assert f"is already running in downstream-sync start (pid {first.pid})" in refusal
            rows = status(project)
            assert [row[:3] for row in rows] == [[str(first.pid), "start", "web"]], rows
        finally:
            assert stop(proc, out, err) == 0  # Skaffold ran on, and its code is the wrapper's
    finally:
        assert stop(first) == 130
    assert status(project) == []
