"""`downstream-sync lsp --tcp` attacked over loopback by processes without the secret: HTTP and
WebSocket requests (DNS-rebinding Host headers), a wrong token, a slow client, many connections at
once, frames over the limit, and large bodies before the secret is shown. Nothing may run, and a
proper client must still be served. A real server process, raw sockets."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "downstream-sync")
WAIT = 20.0


def _frame(obj) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_message(sock: socket.socket) -> dict | None:
    f = sock.makefile("rb")
    length = None
    while True:
        line = f.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is not None:
                return json.loads(f.read(length))
            continue
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)


def _closed(sock: socket.socket, limit: float = WAIT) -> bool:
    """Whether the server closes the connection (reading whatever it says first)."""
    sock.settimeout(limit)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture
def server(tmp_path):
    token = secrets.token_hex(16)
    port = _free_port()
    marker = tmp_path / "ran"
    env = {**os.environ, "DOWNSTREAM_SYNC_LSP_TOKEN": token}
    proc = subprocess.Popen([CLI, "lsp", "--tcp", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.05)
    yield port, token, proc, marker
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stderr.close()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def _initialize(token: str, root: Path | None = None, msg_id: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "initialize",
            "params": {"processId": None, "rootUri": root.as_uri() if root else None, "capabilities": {},
                       "initializationOptions": {"token": token}}}


def _proper_client_is_served(port: int, token: str) -> None:
    with _connect(port) as s:
        s.sendall(_frame(_initialize(token)))
        reply = _read_message(s)
        assert reply is not None and reply.get("id") == 1 and "result" in reply, reply


def _evil_command(marker: Path) -> dict:
    """A request that would leave a trace if anything ran it."""
    return {"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand",
            "params": {"command": "downstream-sync.start",
                       "arguments": [{"connectCommand": ["sh", "-c", f"touch {marker}"]}]}}


def test_http_and_websocket_requests_are_closed(server):
    port, token, proc, marker = server
    body = json.dumps(_initialize(token)).encode()
    requests = [
        b"POST / HTTP/1.1\r\nHost: evil.example:%d\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
        % (port, len(body)) + body,
        b"GET / HTTP/1.1\r\nHost: rebind.evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ]
    for raw in requests:
        with _connect(port) as s:
            s.sendall(raw)
            assert _closed(s), raw[:40]
    _proper_client_is_served(port, token)


def test_a_wrong_token_and_commands_before_initialize_run_nothing(server):
    port, token, proc, marker = server
    with _connect(port) as s:
        s.sendall(_frame(_initialize("x" * 32)) + _frame(_evil_command(marker)))
        reply = _read_message(s)
        assert reply is not None and "error" in reply
        assert _closed(s)
    with _connect(port) as s:
        s.sendall(_frame(_evil_command(marker)))
        assert _closed(s)
    time.sleep(0.5)
    assert not marker.exists()
    _proper_client_is_served(port, token)


def test_a_slow_client_and_many_idle_connections_do_not_block_a_proper_client(server):
    port, token, proc, marker = server
    slow = _connect(port)
    idle = [_connect(port) for _ in range(300)]
    try:
        slow.sendall(b"C")
        time.sleep(1)
        slow.sendall(b"o")
        _proper_client_is_served(port, token)
    finally:
        slow.close()
        for s in idle:
            s.close()
    _proper_client_is_served(port, token)


def test_a_frame_over_the_limit_is_closed(server):
    port, token, proc, marker = server
    with _connect(port) as s:
        s.sendall(b"Content-Length: %d\r\n\r\n" % (64 * 1024 * 1024 + 1))
        assert _closed(s)
    with _connect(port) as s:
        s.sendall(b"X-Filler: " + b"a" * 70000 + b"\r\n")
        assert _closed(s)
    _proper_client_is_served(port, token)


def test_a_stranger_cannot_make_the_server_hold_large_bodies_before_the_secret(server):
    """Each connection without the secret announces a large first frame and sends it almost all:
    the server holds it all in memory until the first-message timeout."""
    port, token, proc, marker = server
    base = _rss_kib(proc.pid)
    n, size = 4, 60 * 1024 * 1024
    socks = []
    try:
        for _ in range(n):
            s = _connect(port)
            socks.append(s)
            s.sendall(b"Content-Length: %d\r\n\r\n" % size)
            try:
                s.sendall(b" " * (size - 1))
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed at the header: held
        time.sleep(1.0)
        grown = (_rss_kib(proc.pid) - base) // 1024
        assert grown < 64, f"{n} connections without the secret made the server hold {grown} MiB more"
        assert all(_closed(s) for s in socks), "a connection announcing a large first frame stayed open"
    finally:
        for s in socks:
            s.close()
    _proper_client_is_served(port, token)
