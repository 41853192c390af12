"""`--tcp`: the same server on a loopback port, attacked as any local process or web page could.

A real server process on a real port; the attacks are raw bytes on real sockets: HTTP requests
shaped like a browser's `fetch()` with a text/plain body, clients without the token or with a
wrong one, connections that close at once (a port scan)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import SERVER, WAIT
from .test_garbage import _frame, _read_message

TOKEN_ENV = "DOWNSTREAM_SYNC_LSP_TOKEN"

CONFIG = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - remoteSrc: out
        localDst: out
"""

BROKEN = "apiVersion: skaffold/v4beta9\nbuild:\n  artifacts:\n  - image: a\n    download:\n      manul: []\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether a socket listens on `port`, as the kernel's tables say (Linux)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


class TcpServer:
    def __init__(self, tmp_path: Path, args: list[str] = (), env: dict | None = None) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(SERVER + ["--tcp", "--port", str(self.port), *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + WAIT
        while not _listening(self.port):  # watched without connecting: a connection is a test of its own
            assert self.proc.poll() is None and time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.05)

    def connect(self) -> "Connection":
        return Connection(socket.create_connection(("127.0.0.1", self.port), timeout=WAIT))

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read().decode()


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.stream = sock.makefile("rb")

    def send(self, message: dict | bytes) -> None:
        self.sock.sendall(message if isinstance(message, bytes) else _frame(json.dumps(message).encode()))

    def until(self, match) -> dict:
        """The next message that matches; EOFError when the server closes the connection first."""
        while True:
            try:
                message = _read_message(self.stream)
            except ConnectionResetError:
                raise EOFError("the server reset the connection") from None
            if match(message):
                return message

    def closed_by_server(self) -> bool:
        """True when the server closes the connection (after any answers it sent)."""
        try:
            while self.stream.read(4096):
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@pytest.fixture
def token() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def server(tmp_path: Path, token: str):
    s = TcpServer(tmp_path, env={**os.environ, TOKEN_ENV: token})
    yield s
    s.stop()


def initialize(tmp_path: Path, token: str | None, msg_id: int = 1) -> dict:
    options = {"diagnosticsDelayMs": 0, **({"token": token} if token is not None else {})}
    return {"jsonrpc": "2.0", "id": msg_id, "method": "initialize",
            "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {},
                       "initializationOptions": options}}


def start_session(config: Path, argv: list[str], msg_id: int = 3) -> dict:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand",
            "params": {"command": "downstreamSync.server.startSession",
                       "arguments": [{"configPath": str(config), "connectCommand": argv}]}}


def get_diagnostics(conn: Connection, tmp_path: Path, token: str, name: str) -> list:
    """Initialize with the token, open a broken config, return its diagnostics' (code, line, col)."""
    conn.send(initialize(tmp_path, token))
    assert "capabilities" in conn.until(lambda m: m.get("id") == 1)["result"]
    conn.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    uri = (tmp_path / name).as_uri()
    conn.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "yaml", "version": 1, "text": BROKEN}}})
    msg = conn.until(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
    return [(d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"])
            for d in msg["params"]["diagnostics"]]


def test_tcp_serves_diagnostics(server: TcpServer, tmp_path: Path, token: str):
    conn = server.connect()
    try:
        assert ("download-unknown-key", 5, 6) in get_diagnostics(conn, tmp_path, token, "skaffold.yaml")
    finally:
        conn.close()


def _http_post(port: int, message: dict) -> bytes:
    """What `fetch("http://127.0.0.1:PORT", {method: "POST", body})` sends with a text/plain body."""
    body = json.dumps(message).encode()
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: keep-alive\r\n"
            b"Content-Type: text/plain;charset=UTF-8\r\nOrigin: http://example.com\r\n"
            b"Content-Length: %d\r\n\r\n" % (port, len(body))) + body


def test_a_web_page_cannot_start_a_command(server: TcpServer, tmp_path: Path, token: str):
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG)
    marker = tmp_path / "MARKER"
    attack = [initialize(tmp_path, None), {"jsonrpc": "2.0", "method": "initialized", "params": {}},
              start_session(config, ["sh", "-c", f"touch {marker}"])]
    conn = server.connect()
    try:
        conn.send(b"".join(_http_post(server.port, m) for m in attack))  # three POSTs on one kept-alive connection
        with pytest.raises(EOFError):
            conn.until(lambda m: m.get("id") == 3)
    finally:
        conn.close()
    for message in attack:  # and each on its own connection
        conn = server.connect()
        try:
            conn.send(_http_post(server.port, message))
            assert conn.closed_by_server()
        finally:
            conn.close()
    conn = server.connect()
    try:  # the server still serves a client with the token, and nothing ran
        assert ("download-unknown-key", 5, 6) in get_diagnostics(conn, tmp_path, token, "skaffold-broken.yaml")
    finally:
        conn.close()
    assert not marker.exists()
    assert "an HTTP request ('POST / HTTP/1.1')" in server.stop()


@pytest.mark.parametrize("shown", [None, "", "wrong-" + "0" * 26], ids=["no token", "empty token", "wrong token"])
def test_initialize_without_the_token_is_refused(server: TcpServer, tmp_path: Path, token: str, shown: str | None):
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG)
    marker = tmp_path / "MARKER"
    conn = server.connect()
    try:
        conn.send(initialize(tmp_path, shown))
        conn.send(start_session(config, ["sh", "-c", f"touch {marker}"]))
        answer = conn.until(lambda m: m.get("id") == 1)
        assert "initializationOptions.token" in answer["error"]["message"]
        with pytest.raises(EOFError):  # closed: the command is never read
            conn.until(lambda m: m.get("id") == 3)
    finally:
        conn.close()
    assert not marker.exists()


def test_nothing_is_served_before_initialize_with_the_token(server: TcpServer, tmp_path: Path, token: str):
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG)
    marker = tmp_path / "MARKER"
    firsts = [start_session(config, ["sh", "-c", f"touch {marker}"]),
              {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                  "uri": config.as_uri(), "languageId": "yaml", "version": 1, "text": BROKEN}}}]
    for first in firsts:
        conn = server.connect()
        try:
            conn.send(first)
            conn.send(initialize(tmp_path, token))
            with pytest.raises(EOFError):  # closed at the first message: no answer, no diagnostics
                conn.until(lambda m: True)
        finally:
            conn.close()
    assert not marker.exists()


def test_a_client_leaving_does_not_stop_the_server(server: TcpServer, tmp_path: Path, token: str):
    for _ in range(5):  # a port scan
        socket.create_connection(("127.0.0.1", server.port), timeout=WAIT).close()
    conn = server.connect()
    conn.send(b"Content-Length: -5\r\n\r\n{}")
    assert conn.closed_by_server()
    conn.close()
    for name in ("skaffold.yaml", "skaffold-again.yaml"):
        conn = server.connect()
        try:
            assert ("download-unknown-key", 5, 6) in get_diagnostics(conn, tmp_path, token, name)
            conn.send({"jsonrpc": "2.0", "id": 9, "method": "shutdown"})
            conn.until(lambda m: m.get("id") == 9)
            conn.send({"jsonrpc": "2.0", "method": "exit"})
            assert conn.closed_by_server()
        finally:
            conn.close()
    assert server.proc.poll() is None


def _wait_for_pid(pid_file: Path) -> int:
    """The pid a session's helper command wrote."""
    deadline = time.monotonic() + WAIT
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the session never ran its helper command"
        time.sleep(0.05)
    return int(pid_file.read_text())


def _kill(pid_file: Path) -> None:
    """Leave no helper command behind, whatever the test found."""
    if pid_file.exists() and pid_file.read_text().strip() and _alive(int(pid_file.read_text())):
        os.kill(int(pid_file.read_text()), 9)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _refused(args: list[str], env: dict) -> str:
    """The server's stderr when it refuses to start (exit status 2)."""
    result = subprocess.run(SERVER + ["--tcp", "--port", str(_free_port()), *args], env=env,
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 2, result
    return result.stderr


def test_only_loopback_addresses(token: str):
    env = {**os.environ, TOKEN_ENV: token}
    assert "not a loopback address" in _refused(["--host", "0.0.0.0"], env)
    assert "not a loopback address" in _refused(["--host", ""], env)


def test_a_token_is_required_and_its_file_private(tmp_path: Path, token: str):
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    assert TOKEN_ENV in _refused([], env)
    assert "at least 16" in _refused([], {**env, TOKEN_ENV: "short"})
    secret = tmp_path / "token"
    secret.write_text(token + "\n")
    secret.chmod(0o644)
    assert f"chmod 600 {secret}" in _refused(["--token-file", str(secret)], env)
    secret.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(secret, 65534, 65534)
        assert "not to you" in _refused(["--token-file", str(secret)], env)
        os.chown(secret, 0, 0)
    server = TcpServer(tmp_path, ["--token-file", str(secret)], env)
    conn = server.connect()
    try:
        assert ("download-unknown-key", 5, 6) in get_diagnostics(conn, tmp_path, token, "skaffold.yaml")
    finally:
        conn.close()
        server.stop()


def test_a_client_that_leaves_takes_its_sessions_with_it(server: TcpServer, tmp_path: Path, token: str):
    """The helper command of a session started over a connection ends when that connection closes;
    it never sees the server's token."""
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG)
    pid_file, env_file = tmp_path / "helper.pid", tmp_path / "helper.env"
    conn = server.connect()
    try:
        conn.send(initialize(tmp_path, token))
        conn.until(lambda m: m.get("id") == 1)
        conn.send(start_session(config, ["sh", "-c", f"env > {env_file}; echo $$ > {pid_file}; exec sleep 600"]))
        pid = _wait_for_pid(pid_file)
    finally:
        conn.close()
    try:
        assert token not in env_file.read_text()
        deadline = time.monotonic() + WAIT
        while _alive(pid):
            assert time.monotonic() < deadline, "the helper command outlived the client's connection"
            time.sleep(0.05)
        assert server.proc.poll() is None
    finally:
        _kill(pid_file)


def test_sigterm_stops_the_server_and_the_sessions_of_its_clients(server: TcpServer, tmp_path: Path, token: str):
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG)
    pid_file = tmp_path / "helper.pid"
    conn = server.connect()
    try:
        conn.send(initialize(tmp_path, token))
        conn.until(lambda m: m.get("id") == 1)
        conn.send(start_session(config, ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 600"]))
        pid = _wait_for_pid(pid_file)
        server.proc.terminate()
        assert server.proc.wait(timeout=WAIT) == 0
        assert not _alive(pid), "the helper command outlived the server"
    finally:
        conn.close()
        _kill(pid_file)
