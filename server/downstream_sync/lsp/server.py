"""The language server: the pygls LanguageServer subclass, its feature wiring, and `serve`.

Thin: diagnostics come from config/ (through diagnostics.py), sessions from sync/ (through
sessions.py). Never writes to stdout except the protocol.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from . import actions, completion, diagnostics, hover, injected, protocol, wire
from . import tcp as tcp_server
from .sessions import CommandError, Sessions
from .tasks import Background

log = logging.getLogger(__name__)

VERSION = "0.1.0"
OPTION_KEYS = ("helperImage", "skaffoldPath")  # initializationOptions that commands default to


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def editor_lines(source: str) -> list[str]:
    """The lines as LSP and YAML count them: only \\r\\n, \\r and \\n end a line (U+2028 does not)."""
    return _LINE.findall(source)

class CommandFailed(JsonRpcException):
    """The error response of a command that could not be carried out."""

    CODE = -32803  # RequestFailed


class DownstreamSyncServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("downstream-sync", VERSION)
        self.background = Background()
        self.sessions = Sessions(self)
        self.debouncer = diagnostics.Debouncer(self._validate_soon)
        self._published: set[str] = set()
        self.options: dict[str, str] = {}  # string initializationOptions that commands default to

    def show_message(self, message: str, kind: lsp.MessageType = lsp.MessageType.Info) -> None:
        self.window_show_message(lsp.ShowMessageParams(type=kind, message=message))

    # --- diagnostics ----------------------------------------------------------------------

    def _validate_soon(self, uri: str) -> None:
        self.background.spawn(self.validate(uri), f"checking {uri}")

    async def validate(self, uri: str) -> None:
        """Check one open document and publish its diagnostics (or clear them)."""
        self.debouncer.cancel(uri)
        try:
            doc = self.workspace.get_text_document(uri)
            text = doc.source
        except Exception:
            log.exception("cannot read document %s", uri)
            return
        if not doc.path:
            return
        path = Path(doc.path)
        if not diagnostics.is_skaffold_yaml(path, text):
            if uri in self._published:
                self._publish(uri, doc.version, [])
            return
        version = doc.version
        # Off the loop: a file reached through `requires` may be large even when this one is small.
        found = await asyncio.to_thread(diagnostics.check, path, text)
        current = self.workspace.text_documents.get(uri)
        if current is None or current.version != version:
            return  # changed or closed meanwhile: a newer check follows
        if not text.isascii():
            # The checks count characters in code points; the client in its own units.
            lines = editor_lines(doc.source)
            for d in found:
                d.range = doc.position_codec.range_to_client_units(lines, d.range)
        self._publish(uri, version, found)

    def _publish(self, uri: str, version: int | None, found: list[lsp.Diagnostic]) -> None:
        if found:
            self._published.add(uri)
        else:
            self._published.discard(uri)
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=found)
        )

    def clear(self, uri: str) -> None:
        self.debouncer.cancel(uri)
        if uri in self._published:
            self._publish(uri, None, [])

    async def disconnected(self) -> None:
        """The client is gone: stop the sessions it left running."""
        await self.sessions.stop_all()

    def lines_at(self, uri: str, position: lsp.Position) -> tuple[Any, list[str], lsp.Position]:
        """The document, its lines, and `position` in code points (the client counts its own units)."""
        doc = self.workspace.get_text_document(uri)
        raw = editor_lines(doc.source)
        lines = [line.rstrip("\r\n") for line in raw]
        pos = doc.position_codec.position_from_client_units(raw, position)
        return doc, lines, lsp.Position(line=pos.line, character=pos.character)


server = None  # the instance `serve` runs; created by make_server


def make_server() -> DownstreamSyncServer:
    ls = DownstreamSyncServer()

    @ls.feature(lsp.INITIALIZE)
    def initialize(ls: DownstreamSyncServer, params: lsp.InitializeParams) -> None:
        opts = params.initialization_options
        for key in OPTION_KEYS:
            value = opts.get(key) if isinstance(opts, dict) else None
            if isinstance(value, str) and value.strip():
                ls.options[key] = value.strip()
            elif value not in (None, ""):
                log.warning("ignoring %s=%r: not a string", key, value)
        if isinstance(opts, dict) and "diagnosticsDelayMs" in opts:
            try:
                ls.debouncer.delay = max(0.0, float(opts["diagnosticsDelayMs"]) / 1000)
            except (TypeError, ValueError):
                log.warning("ignoring diagnosticsDelayMs=%r: not a number", opts["diagnosticsDelayMs"])

    @ls.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: DownstreamSyncServer, params: lsp.DidOpenTextDocumentParams) -> None:
        await ls.validate(params.text_document.uri)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DownstreamSyncServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.debouncer.schedule(params.text_document.uri)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_SAVE, lsp.SaveOptions(include_text=False))
    async def did_save(ls: DownstreamSyncServer, params: lsp.DidSaveTextDocumentParams) -> None:
        await ls.validate(params.text_document.uri)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DownstreamSyncServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.clear(params.text_document.uri)

    @ls.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[]))
    def on_completion(ls: DownstreamSyncServer, params: lsp.CompletionParams) -> lsp.CompletionList | None:
        if not _is_skaffold(ls, params.text_document.uri):
            return None
        doc, lines, pos = ls.lines_at(params.text_document.uri, params.position)
        result = completion.complete(lines, pos)
        for item in result.items:
            item.text_edit.range = doc.position_codec.range_to_client_units(lines, item.text_edit.range)
        return result

    @ls.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: DownstreamSyncServer, params: lsp.HoverParams) -> lsp.Hover | None:
        if not _is_skaffold(ls, params.text_document.uri):
            return None
        doc, lines, pos = ls.lines_at(params.text_document.uri, params.position)
        result = hover.hover(lines, pos)
        if result is not None and result.range is not None:
            result.range = doc.position_codec.range_to_client_units(lines, result.range)
        return result

    @ls.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
    )
    def on_code_action(ls: DownstreamSyncServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        raw = editor_lines(doc.source)
        lines = [line.rstrip("\r\n") for line in raw]
        codec = doc.position_codec

        def to_server(rng: lsp.Range) -> lsp.Range:
            r = codec.range_from_client_units(raw, rng)
            return lsp.Range(start=lsp.Position(line=r.start.line, character=r.start.character),
                             end=lsp.Position(line=r.end.line, character=r.end.character))

        return actions.quick_fixes(
            params.text_document.uri, params, lines, to_server, lambda r: codec.range_to_client_units(lines, r)
        )

    @ls.command(protocol.START_SESSION)
    async def start_session(ls: DownstreamSyncServer, *args: Any) -> dict[str, Any]:
        return await _run(ls.sessions.start(*args))

    @ls.command(protocol.STOP_SESSION)
    async def stop_session(ls: DownstreamSyncServer, *args: Any) -> dict[str, Any]:
        return await _run(ls.sessions.stop(*args))

    @ls.command(protocol.LIST_SESSIONS)
    def list_sessions(ls: DownstreamSyncServer, *args: Any) -> dict[str, Any]:
        return ls.sessions.list(*args)

    @ls.command(protocol.RESOLVE_CONFLICT)
    async def resolve_conflict(ls: DownstreamSyncServer, *args: Any) -> dict[str, Any]:
        return await _run(ls.sessions.resolve(*args))

    @ls.command(protocol.SHOW_INJECTED_MANIFESTS)
    async def show_injected_manifests(ls: DownstreamSyncServer, *args: Any) -> dict[str, Any]:
        return await _run(injected.show_injected(ls, *args))

    @ls.feature(lsp.SHUTDOWN)
    async def shutdown(ls: DownstreamSyncServer, params: Any) -> None:
        await ls.sessions.stop_all()

    return ls


def _is_skaffold(ls: DownstreamSyncServer, uri: str) -> bool:
    try:
        doc = ls.workspace.get_text_document(uri)
        return bool(doc.path) and diagnostics.is_skaffold_yaml(Path(doc.path), doc.source)
    except Exception:
        return False


async def _run(coro: Any) -> Any:
    try:
        return await coro
    except CommandError as exc:
        raise CommandFailed(str(exc)) from exc


def serve(tcp: tuple[str, int] | None = None, token_file: str | None = None) -> int:
    """Run the language server on stdio, or on a loopback TCP port when `tcp` is (host, port).

    Returns the exit status. Raises `tcp.SetupError` when the TCP server cannot start.
    """
    global server
    if not logging.getLogger().handlers:
        # stderr only: stdout is the protocol's.
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("downstream_sync").setLevel(logging.INFO)
    if tcp is None:
        server = make_server()
    else:
        tcp_server.check_host(tcp[0])
        token = tcp_server.load_token(token_file, os.environ)
        os.environ.pop(tcp_server.TOKEN_ENV, None)  # not for the commands that sessions run
    # Everything imported so far lives as long as the process: keep it out of the collector's
    # way, so a check of a large config is not paused by full collections of pygls' types.
    gc.freeze()
    if tcp is None:
        return _serve_stdio(server)
    return tcp_server.serve(make_server, tcp[0], tcp[1], token)


def _serve_stdio(ls: DownstreamSyncServer) -> int:
    """Serve one client on stdin and stdout; on a stream that cannot be read, say so and exit 1."""
    ls.protocol.set_writer(StdoutWriter(sys.stdout.buffer))

    async def serve_client() -> None:
        try:
            await wire.run(wire.PipeReader(sys.stdin.buffer, ls.thread_pool), ls.protocol)
        finally:
            await ls.disconnected()  # while every task still runs: helper commands end in order

    try:
        asyncio.run(serve_client())
    except wire.StreamBroken as exc:
        print(f"downstream-sync lsp: stopped reading the client: {exc}; exiting so that the editor "
              "starts the server again", file=sys.stderr, flush=True)
        return 1
    except SystemExit as exc:  # the client's `exit`: 0 after `shutdown`, else 1
        return exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        log.error("the client closed its end of the connection")
        return 1
    finally:
        ls.shutdown()
    return 0
