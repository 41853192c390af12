"""A pytest-lsp client that speaks to `python -m downstream_sync.lsp` with VS Code's capabilities,
and collects the server's custom notifications and conflict prompts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = [sys.executable, "-m", "downstream_sync.lsp"]
WAIT = 30.0  # seconds before a wait gives up (a failure bound, not a measure)


class Inbox:
    """Notifications of one method, with a way to wait for one that matches."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, match: Callable[[Any], bool], timeout: float = WAIT) -> Any:
        async def find() -> Any:
            seen = 0
            while True:
                for item in self.items[seen:]:
                    if match(item):
                        return item
                seen = len(self.items)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)


def attach_inboxes(client: LanguageClient) -> None:
    client.session_states = Inbox()
    client.file_events = Inbox()
    client.prompts = Inbox()
    client.prompt_answer = None  # title of the action to answer conflict prompts with

    @client.feature("downstreamSync/sessionState")
    def _state(params: Any) -> None:
        client.session_states.add(params)

    @client.feature("downstreamSync/fileEvent")
    def _event(params: Any) -> None:
        client.file_events.add(params)

    @client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)
    def _prompt(params: lsp.ShowMessageRequestParams) -> lsp.MessageActionItem | None:
        client.prompts.add(params)
        answer = client.prompt_answer
        return lsp.MessageActionItem(title=answer) if answer else None


async def initialize(client: LanguageClient, root: Path, options: dict | None = None) -> None:
    attach_inboxes(client)
    await client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=options or {"diagnosticsDelayMs": 50},
        )
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tmp_path: Path):
    await initialize(lsp_client, tmp_path)
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="yaml", version=version, text=text)
        )
    )
    return uri


async def diagnostics_after(client: LanguageClient, action: Callable[[], Any], uri: str) -> list[lsp.Diagnostic]:
    """Run `action` and return the next diagnostics published for `uri`."""
    while True:
        waiting = client.protocol.wait_for_notification_async(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        action()
        params = await asyncio.wait_for(waiting, WAIT)
        if params.uri == uri:
            return list(params.diagnostics)
        action = lambda: None  # noqa: E731  another document's: keep waiting


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The folder the client's workspace root points at."""
    return tmp_path
