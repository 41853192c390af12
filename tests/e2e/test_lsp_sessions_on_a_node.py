"""Sessions started from the language server against the cluster: a pytest-lsp client (VS Code's
capabilities) drives `python -m downstream_sync.lsp`, opens the example project's skaffold.yaml,
and runs `downstreamSync.server.startSession` with the test bed's kubeconfig, context and
namespace; the example app's pod runs on the test node (kube_node.py), injected (wrap mode) or as
it is (the session attaches the helper). The files arrive on disk, the session's state and file
events arrive as notifications, a file the app writes later arrives too, and `stopSession` ends it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from e2e_example import SYNCED, assert_images_came_from_where_they_should, deployed, local_files
from kube_testbed import BIN, WAIT

SERVER = [sys.executable, "-m", "downstream_sync.lsp"]
SERVER_ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}  # the test bed's kubectl first
ARTIFACT = "ds-e2e/example-app"


class Inbox:
    """Every notification of one method, and a bounded wait for one that matches."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, match: Callable[[Any], bool]) -> Any:
        async def find() -> Any:
            seen = 0
            while True:
                for item in self.items[seen:]:
                    if match(item):
                        return item
                seen = len(self.items)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), WAIT)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=SERVER_ENV))
async def client(lsp_client: LanguageClient, tmp_path: Path):
    lsp_client.states, lsp_client.files = Inbox(), Inbox()

    @lsp_client.feature("downstreamSync/sessionState")
    def _state(params: Any) -> None:
        lsp_client.states.add(params)

    @lsp_client.feature("downstreamSync/fileEvent")
    def _file(params: Any) -> None:
        lsp_client.files.add(params)

    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=tmp_path.as_uri(),
        workspace_folders=[lsp.WorkspaceFolder(uri=tmp_path.as_uri(), name=tmp_path.name)]))
    yield
    await lsp_client.shutdown_session()


async def execute(client: LanguageClient, command: str, arguments: dict | None = None) -> Any:
    return await asyncio.wait_for(client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=command, arguments=[arguments] if arguments is not None else [])), WAIT)


def _get(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


async def until(condition: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(poll(), WAIT)
    except asyncio.TimeoutError:
        raise AssertionError(f"waited {WAIT:.0f} s for {what}") from None


async def session_from_the_editor(client: LanguageClient, cluster, namespace: str, project: Path, pod: str,
                                  mode: str) -> None:
    """Open the config, start its session, see the files and notifications, a later file, then stop."""
    config = project / "skaffold.yaml"
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=config.as_uri(), language_id="yaml", version=1, text=config.read_text())))
    arguments = {"configPath": config.as_uri(), "namespace": namespace, "helper": "auto", "podTimeout": WAIT}
    if cluster.context:
        arguments["kubeContext"] = cluster.context
    if cluster.kubeconfig:
        arguments["kubeconfig"] = str(cluster.kubeconfig)

    started = await execute(client, "downstreamSync.server.startSession", arguments)
    (info,) = _get(started, "sessions")
    assert _get(info, "name") == ARTIFACT and _get(info, "artifact") == ARTIFACT
    assert f"image {ARTIFACT} in {namespace}" in _get(info, "transport")
    await client.states.wait_for(lambda p: p.session == ARTIFACT and p.state == "watching")

    local = project / "node"
    await until(lambda: local_files(local) == SYNCED, f"{SYNCED} in {local} (found {local_files(local)})")
    assert (local / "src" / "a.js").read_text() == 'console.log("a")\nconsole.log("modified")\n'
    synced = await client.files.wait_for(lambda p: p.kind == "synced" and p.path == "node/src/renamed.js")
    assert synced.remotePath.endswith("src/renamed.js") and synced.session == ARTIFACT
    excluded = [p.path for p in client.files.items if p.kind == "synced"
                and ("node_modules" in p.path or p.path.endswith("bb.js"))]
    assert not excluded, excluded

    # The app's container writes again: the watching session brings it down and says so.
    cluster.kubectl("-n", namespace, "exec", pod, "-c", "app", "--", "sh", "-c", f"echo {mode} > src/live.js")
    live = await client.files.wait_for(lambda p: p.kind == "synced" and p.path == "node/src/live.js")
    assert live.action == "created"
    await until(lambda: (local / "src" / "live.js").is_file()
                and (local / "src" / "live.js").read_text() == f"{mode}\n", "node/src/live.js")

    stopped = await execute(client, "downstreamSync.server.stopSession", {"name": ARTIFACT})
    assert list(_get(stopped, "stopped")) == [ARTIFACT]
    await client.states.wait_for(lambda p: p.session == ARTIFACT and p.state == "stopped")
    assert list(_get(await execute(client, "downstreamSync.server.listSessions"), "sessions")) == []


@pytest.mark.parametrize("source", ["images", "registry_images"])
async def test_a_session_from_the_language_server_follows_the_injected_pod(client, cluster, node, source, request,
                                                                         namespace, tmp_path):
    images = request.getfixturevalue(source)
    pod = await asyncio.to_thread(deployed, cluster, images, namespace, tmp_path, "example", inject=True, node=node)
    assert_images_came_from_where_they_should(pod, images)
    await session_from_the_editor(client, cluster, namespace, tmp_path, "example", "wrap")


async def test_a_session_from_the_language_server_attaches_the_helper_to_a_plain_pod(client, cluster, node, images,
                                                                                   namespace, tmp_path):
    await asyncio.to_thread(deployed, cluster, images, namespace, tmp_path, "plain", inject=False, node=node)
    await session_from_the_editor(client, cluster, namespace, tmp_path, "plain", "attach")
    left = cluster.kubectl("-n", namespace, "exec", "plain", "--", "ls", "-a", "/tmp").stdout.split()
    assert "downstream-sync-helper" not in left  # stopping the session removed the attached helper

