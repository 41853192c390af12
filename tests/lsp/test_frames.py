"""Frames and messages a client gets wrong, sent raw to a real server process over pipes.

A frame the server cannot find the end of makes it exit at once, non-zero, with one line on
stderr (the editor starts it again); a well-framed request it cannot handle gets an error answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest

from downstream_sync.lsp.tcp import FIRST_MESSAGE_MAX
from downstream_sync.lsp.wire import StreamBroken, read_frame

from .conftest import SERVER, WAIT
from .test_garbage import _frame, _read_message
from .test_tcp import CONFIG, _alive, _kill, _wait_for_pid


class Server:
    """The server as a process; its messages read on a thread so that a wait can give up."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}})
        self.until(lambda m: m.get("id") == 1)
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def _read(self) -> None:
        try:
            while True:
                self.inbox.put(_read_message(self.proc.stdout))
        except (EOFError, ValueError, OSError):
            self.inbox.put(None)

    def send(self, message: dict | bytes) -> None:
        self.proc.stdin.write(message if isinstance(message, bytes) else _frame(json.dumps(message).encode()))
        self.proc.stdin.flush()

    def until(self, match) -> dict:
        while True:
            try:
                message = self.inbox.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no matching message within {WAIT} s (a failure bound)") from None
            assert message is not None, "the server closed its output"
            if match(message):
                return message

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


@pytest.fixture
def server(tmp_path: Path):
    s = Server(tmp_path)
    yield s
    s.close()


HOVER = {"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover",
         "params": {"textDocument": {"uri": "file:///nowhere/skaffold.yaml"}, "position": {"line": 0, "character": 0}}}

BROKEN_FRAMES = {
    "negative length": b"Content-Length: -5\r\n\r\n{}",
    "length not a number": b"Content-Length: abc\r\n\r\n{}",
    "no length": b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{\"jsonrpc\": \"2.0\", \"id\": 3}",
    "not a header line": b"hello there\r\n\r\n",
    "body shorter than announced": b"Content-Length: 60\r\n\r\n{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"shutdown\"}",
}


@pytest.mark.parametrize("broken", BROKEN_FRAMES.values(), ids=BROKEN_FRAMES.keys())
def test_a_frame_it_cannot_find_the_end_of_makes_it_exit_with_a_message(server: Server, broken: bytes):
    server.send(broken)
    server.send(HOVER)  # a good frame after the bad one: it must not be answered out of a lost stream
    try:
        code = server.proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        raise AssertionError("the server neither answered nor exited: it lost its place in the stream") from None
    assert code != 0
    lines = server.proc.stderr.read().decode().strip().splitlines()
    assert lines and lines[-1].startswith("downstream-sync lsp: stopped reading the client: "), lines
    assert "starts the server again" in lines[-1]


def test_a_request_with_invalid_params_gets_an_error_answer(server: Server):
    server.send({"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": {"position": {"line": 0}}})
    answer = server.until(lambda m: m.get("id") == 2)
    assert answer["error"]["code"] == -32602
    assert "textDocument/hover" in answer["error"]["message"]
    assert "textDocument" in answer["error"]["message"].split(":", 1)[1]
    server.send({**HOVER, "id": 3})
    assert "result" in server.until(lambda m: m.get("id") == 3)


def test_every_request_gets_an_answer(server: Server):
    """Bad UTF-8, a wrong `jsonrpc`, an unknown method, a request after `shutdown`: each is answered."""
    body = b'{"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": {"x": "\xff\xfe"}}'
    server.send(_frame(body))
    assert server.until(lambda m: m.get("id") == 2)["error"]["code"] == -32700
    server.send({"jsonrpc": "1.0", "id": 3, "method": "textDocument/hover", "params": {}})
    assert server.until(lambda m: m.get("id") == 3)["error"]["code"] == -32600
    server.send({"jsonrpc": "2.0", "id": 4, "method": "downstreamSync/nothing", "params": {}})
    assert server.until(lambda m: m.get("id") == 4)["error"]["code"] == -32601
    server.send({"jsonrpc": "2.0", "id": 5, "method": "shutdown"})
    assert server.until(lambda m: m.get("id") == 5).get("result") is None
    server.send({**HOVER, "id": 6})
    late = server.until(lambda m: m.get("id") == 6)
    assert late["error"]["code"] == -32600 and "shutdown" in late["error"]["message"]
    server.send({"jsonrpc": "2.0", "method": "exit"})
    assert server.proc.wait(timeout=WAIT) == 0


def test_a_body_cut_short_by_the_end_of_the_stream_is_said(server: Server):
    server.send(b"Content-Length: 500\r\n\r\n" + json.dumps({**HOVER, "id": 3}).encode())
    server.proc.stdin.close()
    assert server.proc.wait(timeout=WAIT) == 1
    line = server.proc.stderr.read().decode().strip().splitlines()[-1]
    assert "frame 3: the stream ended" in line and "short of a 500-byte body" in line, line


@pytest.mark.parametrize("end", ["stdin closed", "broken frame"])
def test_the_helper_commands_of_its_sessions_end_with_the_server(server: Server, tmp_path: Path, end: str):
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG)
    pid_file = tmp_path / "helper.pid"
    server.send({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": {
        "command": "downstreamSync.server.startSession",
        "arguments": [{"configPath": str(config), "connectCommand": ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 600"]}]}})
    pid = _wait_for_pid(pid_file)
    try:
        if end == "broken frame":
            server.send(b"Content-Length: -5\r\n\r\n")
        else:
            server.proc.stdin.close()
        server.proc.wait(timeout=WAIT)
        assert not _alive(pid), "the helper command outlived the server"
    finally:
        _kill(pid_file)


class _Announced:
    """A reader that holds one frame's header and fails if its body is asked for."""

    def __init__(self, header: bytes) -> None:
        self.lines = header.splitlines(keepends=True)

    async def readline(self) -> bytes:
        return self.lines.pop(0) if self.lines else b""

    async def read(self, n: int) -> bytes:
        raise AssertionError(f"the body ({n} bytes) was read")


def test_a_frame_over_the_limit_is_refused_before_its_body_is_read():
    header = b"Content-Length: %d\r\n\r\n" % (FIRST_MESSAGE_MAX + 1)
    with pytest.raises(StreamBroken, match=f"more than the {FIRST_MESSAGE_MAX} bytes"):
        asyncio.run(read_frame(_Announced(header), FIRST_MESSAGE_MAX))
