"""`--tcp`: the same server on a loopback TCP port."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from .conftest import SERVER, WAIT
from .test_garbage import _frame, _read_message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_serves_diagnostics(tmp_path: Path):
    port = _free_port()
    proc = subprocess.Popen(SERVER + ["--tcp", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
                break
            except ConnectionRefusedError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not listen"
                time.sleep(0.05)
        with conn, conn.makefile("rb") as stream:
            def send(obj: dict) -> None:
                conn.sendall(_frame(json.dumps(obj).encode()))

            send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}})
            assert _read_message(stream)["id"] == 1
            send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
            uri = (tmp_path / "skaffold.yaml").as_uri()
            text = "apiVersion: skaffold/v4beta9\nbuild:\n  artifacts:\n  - image: a\n    download:\n      manul: []\n"
            send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": uri, "languageId": "yaml", "version": 1, "text": text}}})
            while True:
                msg = _read_message(stream)
                if msg.get("method") == "textDocument/publishDiagnostics":
                    break
            codes = [(d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"])
                     for d in msg["params"]["diagnostics"]]
            assert ("download-unknown-key", 5, 6) in codes
    finally:
        proc.terminate()
        proc.wait(timeout=10)
