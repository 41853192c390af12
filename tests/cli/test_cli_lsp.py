"""`downstream-sync lsp`: the real console script answers the language server protocol on stdio,
refuses a TCP port it cannot keep private, and the other subcommands do not import pygls."""

import json
import os
import subprocess
import sys

from clitools import CLI


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_frame(stream) -> dict:
    length = None
    while True:
        line = stream.readline()
        assert line, "the server closed its stdout"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))


def test_lsp_answers_initialize_on_stdio(tmp_path):
    proc = subprocess.Popen([CLI, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}}))
        proc.stdin.flush()
        while True:
            reply = read_frame(proc.stdout)
            if reply.get("id") == 1:
                break
        assert "capabilities" in reply["result"], reply
        for message in ({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}, {"jsonrpc": "2.0", "method": "exit"}):
            proc.stdin.write(frame(message))
            proc.stdin.flush()
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_other_subcommands_do_not_import_pygls(project):
    code = ("import sys; from downstream_sync.cli import main; "
            f"rc = main(['validate', {str(project / 'skaffold.yaml')!r}]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'grpc')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_lsp_tcp_refuses_to_listen_beyond_loopback_or_without_a_secret():
    env = {k: v for k, v in os.environ.items() if k != "DOWNSTREAM_SYNC_LSP_TOKEN"}
    result = subprocess.run([CLI, "lsp", "--tcp", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                            env={**env, "DOWNSTREAM_SYNC_LSP_TOKEN": "x" * 32}, timeout=20)
    assert result.returncode == 1
    assert result.stderr.startswith("downstream-sync: error: --host '0.0.0.0' is not a loopback address"), result.stderr
    assert "pass 127.0.0.1, ::1 or localhost" in result.stderr
    result = subprocess.run([CLI, "lsp", "--tcp", "--port", "0"], capture_output=True, text=True, env=env, timeout=20)
    assert result.returncode == 1
    assert "set DOWNSTREAM_SYNC_LSP_TOKEN or pass --token-file PATH" in result.stderr, result.stderr
