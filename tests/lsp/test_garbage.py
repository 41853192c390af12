"""The server never crashes on input: binary text, a 5 MB YAML, deeply nested YAML, invalid UTF-8.

After each, the same server still answers and still checks a good document."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from .conftest import SERVER, WAIT, diagnostics_after, open_doc

GOOD = """\
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


async def still_alive(client: LanguageClient, project: Path) -> None:
    """The server answers a request and publishes diagnostics for a fresh document."""
    uri = (project / "skaffold-alive.yaml").as_uri()
    found = await diagnostics_after(client, lambda: open_doc(client, project / "skaffold-alive.yaml", GOOD), uri)
    assert [d.code for d in found if d.severity == lsp.DiagnosticSeverity.Error] == []
    hover = await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=5, character=6))
    )
    assert hover is not None and "download" in hover.contents.value


async def test_binary_content(client: LanguageClient, project: Path):
    rng = random.Random(4)
    blob = bytes(rng.randrange(256) for _ in range(64 * 1024)).decode("latin-1")
    path = project / "skaffold.yaml"
    found = await diagnostics_after(client, lambda: open_doc(client, path, "apiVersion: skaffold/v4\n\x00" + blob), path.as_uri())
    assert found, "a binary skaffold.yaml gets a diagnostic saying it cannot be read"
    assert all(d.severity == lsp.DiagnosticSeverity.Error for d in found)
    await still_alive(client, project)


def big_config(size: int) -> str:
    """A valid config of about `size` bytes whose last line has an unknown key."""
    item = "  - image: img{n}\n    context: c{n}\n    download:\n      manual:\n      - remoteSrc: out{n}\n        localDst: out/{n}\n"
    parts = ["apiVersion: skaffold/v4beta9\nkind: Config\nbuild:\n  artifacts:\n"]
    total, n = len(parts[0]), 0
    while total < size:
        parts.append(item.format(n=n))
        total += len(parts[-1])
        n += 1
    parts.append("  - image: last\n    download:\n      manual:\n      - remoteSrc: x\n        localdst: y\n")
    return "".join(parts)


async def test_large_yaml_is_checked_off_the_loop(client: LanguageClient, project: Path):
    text = big_config(400 * 1024)
    path = project / "skaffold.yaml"
    found = await diagnostics_after(client, lambda: open_doc(client, path, text), path.as_uri())
    last_line = text.count("\n") - 1
    assert ("download-unknown-key", last_line, 8) in [
        (d.code, d.range.start.line, d.range.start.character) for d in found
    ]
    assert all(d.range.start.line >= last_line - 1 for d in found if d.severity == lsp.DiagnosticSeverity.Error)
    await still_alive(client, project)


async def test_five_megabyte_yaml(client: LanguageClient, project: Path):
    text = big_config(5 * 1024 * 1024)
    path = project / "skaffold.yaml"
    found = await diagnostics_after(client, lambda: open_doc(client, path, text), path.as_uri())
    # Too large to read: said once, at the top, as an error.
    assert [(d.code, d.severity, d.range.start.line) for d in found] == [
        ("file-too-large", lsp.DiagnosticSeverity.Error, 0)
    ]
    await still_alive(client, project)


async def test_deeply_nested_yaml(client: LanguageClient, project: Path):
    path = project / "skaffold.yaml"
    flow = "apiVersion: skaffold/v4beta9\nkind: Config\nbuild: " + "[" * 50000 + "]" * 50000 + "\n"
    found = await diagnostics_after(client, lambda: open_doc(client, path, flow), path.as_uri())
    assert found and found[0].severity == lsp.DiagnosticSeverity.Error
    block = "apiVersion: skaffold/v4beta9\n" + "".join(" " * i + f"k{i}:\n" for i in range(3000))
    path2 = project / "skaffold-block.yaml"
    await diagnostics_after(client, lambda: open_doc(client, path2, block), path2.as_uri())
    await still_alive(client, project)


def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_message(stream) -> dict:
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("the server closed its output")
        if line in (b"\r\n", b"\n"):
            if length is not None:
                return json.loads(stream.read(length))
            continue
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)


def test_invalid_utf8_bytes_on_the_wire(tmp_path: Path):
    """Raw invalid UTF-8 inside a message's body: that message is dropped, the server goes on."""
    proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        def send(obj: dict | bytes) -> None:
            body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
            proc.stdin.write(_frame(body))
            proc.stdin.flush()

        def until(match) -> dict:
            while True:
                msg = _read_message(proc.stdout)
                if match(msg):
                    return msg

        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}})
        until(lambda m: m.get("id") == 1)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        uri = (tmp_path / "skaffold.yaml").as_uri()
        bad = ('{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": "%s", '
               '"languageId": "yaml", "version": 1, "text": "apiVersion: skaffold/v4\\nbuild: \xff\xfe\xc3(\\n"}}}' % uri)
        send(bad.encode("latin-1"))
        # Lone surrogates are valid JSON escapes but not valid Unicode text.
        send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 2,
            "text": "apiVersion: skaffold/v4beta9\nbuild:\n  artifacts:\n  - image: \udcff\n    download:\n      manual:\n      - remoteSrc: \ud800\n        localDst: \udfff\n"}}})
        published = until(lambda m: m.get("method") == "textDocument/publishDiagnostics")
        assert published["params"]["uri"] == uri
        send({"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 4, "character": 6}}})
        answer = until(lambda m: m.get("id") == 2)
        assert "download" in answer["result"]["contents"]["value"]
        send({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
        until(lambda m: m.get("id") == 3)
        send({"jsonrpc": "2.0", "method": "exit"})
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
