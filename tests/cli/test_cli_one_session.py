"""One session per artifact and project: a second `start` or `pull` (another terminal) or the
editor's language server is refused with a message naming the first, whichever face runs it; a
holder that died never blocks. Real console scripts, a real app-server, real app-connect."""

import json
import signal
import subprocess

from clitools import CLI, run, wait_for
from test_cli_lsp import frame, read_frame
from test_cli_start import Output, start


def sync_args(project, helper):
    return ["-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command]


def refused(result, pid: int, face: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("downstream-sync: error: session web of "), line
    assert f"already running in {face} (pid {pid})" in line, line
    return line


def stop(proc, out) -> int:
    proc.send_signal(signal.SIGINT)
    code = proc.wait(30)
    out.thread.join(10)
    return code


def conflict_copies(project) -> list:
    return [p for p in (project / "local").rglob("*") if p.name.endswith(".downstream-conflict")]


def test_a_second_start_or_pull_is_refused_naming_the_first(project, helper):
    first = start(project, helper)
    out = Output(first)
    try:
        wait_for(lambda: out.has("watching"), "the first session watching")
        refused(run("start", *sync_args(project, helper)), first.pid, "downstream-sync start")
        refused(run("pull", *sync_args(project, helper)), first.pid, "downstream-sync start")
        (helper.container / "out" / "later.txt").write_text("still synced by the first\n")
        wait_for(lambda: (project / "local" / "out" / "later.txt").exists(), "the first session still syncing")
    finally:
        assert stop(first, out) == 130, out.text
    assert not conflict_copies(project)
    assert run("pull", *sync_args(project, helper)).returncode == 0  # free again once the first stopped


def test_a_session_whose_process_died_does_not_block(project, helper):
    first = start(project, helper)
    out = Output(first)
    wait_for(lambda: out.has("watching"), "the first session watching")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    out.thread.join(10)
    assert list((project / ".downstream-sync" / "locks").glob("*.lock"))  # the file stays, not the lock
    result = run("pull", *sync_args(project, helper))
    assert result.returncode == 0, result.stdout + result.stderr


class Lsp:
    """The real `downstream-sync lsp` on stdio, spoken to frame by frame."""

    def __init__(self, root):
        self.proc = subprocess.Popen([CLI, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=root)
        self.next_id = 0
        self.request("initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}})
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def send(self, message: dict) -> None:
        self.proc.stdin.write(frame(message))
        self.proc.stdin.flush()

    def request(self, method: str, params) -> dict:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            reply = read_frame(self.proc.stdout)
            if reply.get("id") == self.next_id and "method" not in reply:
                return reply

    def start_session(self, project, helper) -> dict:
        return self.request("workspace/executeCommand", {
            "command": "downstreamSync.server.startSession",
            "arguments": [{"configPath": str(project / "skaffold.yaml"), "connectCommand": helper.connect_argv}]})

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.send({"jsonrpc": "2.0", "method": "exit"})
            self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def test_the_editor_and_a_terminal_refuse_each_other(project, helper):
    lsp = Lsp(project)
    try:
        reply = lsp.start_session(project, helper)
        assert "result" in reply, reply
        wait_for(lambda: (project / "local" / "out" / "a.txt").exists(), "the editor's session syncing")
        refused(run("start", *sync_args(project, helper)), lsp.proc.pid, "the language server of an editor")
        lsp.request("workspace/executeCommand", {"command": "downstreamSync.server.stopSession", "arguments": []})

        first = start(project, helper)
        out = Output(first)
        try:
            wait_for(lambda: out.has("watching"), "the terminal's session watching")
            reply = lsp.start_session(project, helper)
            assert "error" in reply, reply
            message = reply["error"]["message"]
            assert f"already running in downstream-sync start (pid {first.pid})" in message, message
            listed = lsp.request("workspace/executeCommand", {"command": "downstreamSync.server.listSessions",
                                                              "arguments": []})
            assert listed["result"]["sessions"] == [], json.dumps(listed)
        finally:
            assert stop(first, out) == 130, out.text
    finally:
        lsp.close()
    assert not conflict_copies(project)
