"""Start, list and stop sync sessions through LSP commands, against a real helper.

The "container" is a temporary folder where a real `app-server` watches `out` and serves gRPC on
a unix socket; the session reaches it through a real `app-connect` process (`connectCommand`).
Only Kubernetes is left out: no cluster can be had on these machines.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, WAIT, initialize

BIN = Path(sys.executable).parent

CONFIG = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - remoteSrc: out
        localDst: local/out
      excludes:
      - "**/*.tmp"
"""


@pytest.fixture
def helper(tmp_path: Path):
    """A running app-server in a temporary container folder, with two files already there."""
    container = tmp_path / "container"
    (container / "out" / "sub").mkdir(parents=True)
    (container / "out" / "a.txt").write_text("alpha\n")
    (container / "out" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 1024)
    socket = tmp_path / "helper.sock"
    proc = subprocess.Popen([str(BIN / "app-server"), "--socket", str(socket), "--targets", "out"], cwd=container)
    try:
        for _ in range(int(WAIT / 0.05)):
            if socket.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert socket.exists(), f"app-server did not create {socket} (exit code {proc.poll()})"
        yield container, [str(BIN / "app-connect"), "--socket", str(socket)]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def execute(client: LanguageClient, command: str, **arguments) -> object:
    return await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=command, arguments=[arguments] if arguments else [])
    )


async def wait_file(path: Path, content: bytes) -> None:
    async def poll() -> None:
        while not (path.is_file() and path.read_bytes() == content):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


def _get(obj: object, key: str) -> object:
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


async def test_start_sync_list_conflict_stop(client: LanguageClient, project: Path, helper):
    container, connect = helper
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)

    result = await execute(client, "downstreamSync.server.startSession", configPath=str(config), connectCommand=connect)
    sessions = _get(result, "sessions")
    assert [_get(s, "name") for s in sessions] == ["web"]

    await client.session_states.wait_for(lambda p: p.session == "web" and p.state == "watching")
    local = project / "local" / "out"
    await wait_file(local / "a.txt", b"alpha\n")
    await wait_file(local / "sub" / "b.bin", bytes(range(256)) * 1024)

    synced = await client.file_events.wait_for(lambda p: p.kind == "synced" and p.path == "local/out/sub/b.bin")
    assert synced.remotePath == "out/sub/b.bin" and synced.bytes == 256 * 1024 and synced.session == "web"

    # The reconcile was reported as progress: begin ... end on one server-created token.
    tokens = [t for t in client.progress_reports if str(t).startswith("downstreamSync/web/reconcile/")]
    assert tokens, "no $/progress token for the reconcile"
    kinds = [type(v).__name__ for v in client.progress_reports[tokens[0]]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"

    # A live change in the container arrives as a file and as a notification.
    (container / "out" / "new.txt").write_text("fresh\n")
    created = await client.file_events.wait_for(lambda p: p.kind == "synced" and p.path == "local/out/new.txt")
    assert created.action == "created" and created.remotePath == "out/new.txt"
    await wait_file(local / "new.txt", b"fresh\n")

    listed = await execute(client, "downstreamSync.server.listSessions")
    (info,) = _get(listed, "sessions")
    assert _get(info, "name") == "web" and _get(info, "state") == "watching"
    assert _get(info, "artifact") == "web" and _get(info, "configPath") == str(config)

    # A file changed on both sides: the server asks, the answer "Take remote" is carried out.
    client.prompt_answer = "Take remote"
    (local / "a.txt").write_text("edited here\n")
    (container / "out" / "a.txt").write_text("edited there\n")
    prompt = await client.prompts.wait_for(lambda p: "local/out/a.txt" in p.message)
    assert [a.title for a in prompt.actions] == ["Keep local", "Take remote", "Show both"]
    conflict = await client.file_events.wait_for(lambda p: p.kind == "conflict")
    assert conflict.path == "local/out/a.txt"
    await wait_file(local / "a.txt", b"edited there\n")

    stopped = await execute(client, "downstreamSync.server.stopSession", name="web")
    assert list(_get(stopped, "stopped")) == ["web"]
    await client.session_states.wait_for(lambda p: p.session == "web" and p.state == "stopped")
    assert list(_get(await execute(client, "downstreamSync.server.listSessions"), "sessions")) == []

    # Stopped means stopped: a later change in the container stays there.
    (container / "out" / "late.txt").write_text("late\n")
    await asyncio.sleep(0.5)
    assert not (local / "late.txt").exists()


async def test_start_errors_say_what_is_wrong(client: LanguageClient, project: Path):
    missing = project / "nope" / "skaffold.yaml"
    with pytest.raises(Exception, match="does not exist"):
        await execute(client, "downstreamSync.server.startSession", configPath=str(missing))

    plain = project / "skaffold.yaml"
    plain.write_text("apiVersion: skaffold/v4beta9\nkind: Config\nbuild:\n  artifacts:\n  - image: web\n")
    with pytest.raises(Exception, match="has a download stanza to sync|has no download stanza"):
        await execute(client, "downstreamSync.server.startSession", configPath=str(plain), connectCommand=["true"])

    good = project / "with-rules" / "skaffold.yaml"
    good.parent.mkdir()
    good.write_text(CONFIG)
    for bad in ("app-connect 'unclosed", 5, {"x": 1}, [], [""], ["app-connect", 5]):
        with pytest.raises(Exception, match="connectCommand"):
            await execute(client, "downstreamSync.server.startSession", configPath=str(good), connectCommand=bad)

    with pytest.raises(Exception, match="no session named 'ghost'"):
        await execute(client, "downstreamSync.server.stopSession", name="ghost")
    assert list(_get(await execute(client, "downstreamSync.server.listSessions"), "sessions")) == []


async def test_a_kubeconfig_that_does_not_exist_is_refused_naming_it(client: LanguageClient, project: Path):
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)
    with pytest.raises(Exception, match=f"the kubeconfig {project}/nope.yaml does not exist or is not a file"):
        await execute(client, "downstreamSync.server.startSession", configPath="skaffold.yaml", kubeconfig="nope.yaml")
    with pytest.raises(Exception, match="'kubeconfig' must be a string"):
        await execute(client, "downstreamSync.server.startSession", configPath="skaffold.yaml", kubeconfig=["x"])
    assert list(_get(await execute(client, "downstreamSync.server.listSessions"), "sessions")) == []


async def test_a_connect_command_line_is_refused_not_run_by_a_shell(client: LanguageClient, project: Path):
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)
    marker = project / "MARKER"
    with pytest.raises(Exception, match=r"must be a list of strings .*not a command line: write \["):
        await execute(client, "downstreamSync.server.startSession", configPath=str(config),
                      connectCommand=f"sh -c 'touch {marker}'")
    assert not marker.exists()
    assert list(_get(await execute(client, "downstreamSync.server.listSessions"), "sessions")) == []


async def test_show_both_then_keep_local_by_command(client: LanguageClient, project: Path, helper):
    container, connect = helper
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)
    client.prompt_answer = "Show both"
    await execute(client, "downstreamSync.server.startSession", configPath=str(config), connectCommand=connect,
                  name="mine", policy="safe")
    await client.session_states.wait_for(lambda p: p.session == "mine" and p.state == "watching")
    local = project / "local" / "out"
    await wait_file(local / "a.txt", b"alpha\n")

    (local / "a.txt").write_text("mine\n")
    (container / "out" / "a.txt").write_text("theirs\n")
    conflict = await client.file_events.wait_for(lambda p: p.kind == "conflict" and p.path == "local/out/a.txt")
    assert conflict.remoteCopy, "the container's copy is kept beside the local file"
    copy = (project / conflict.remoteCopy) if not Path(conflict.remoteCopy).is_absolute() else Path(conflict.remoteCopy)
    await wait_file(copy, b"theirs\n")
    assert (local / "a.txt").read_bytes() == b"mine\n"

    async def shown() -> None:
        while len(client.shown_documents) < 2:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(shown(), WAIT)
    assert {d.uri for d in client.shown_documents} == {(local / "a.txt").resolve().as_uri(), copy.resolve().as_uri()}

    # The container changes it again: the same conflict, its copy updated, and no second prompt.
    (container / "out" / "a.txt").write_text("theirs 2\n")
    await client.file_events.wait_for(lambda p: p.kind == "conflict" and p.path == "local/out/a.txt" and p.repeat)
    await wait_file(copy, b"theirs 2\n")
    assert len([p for p in client.prompts.items if "a.txt" in p.message]) == 1

    answer = await execute(client, "downstreamSync.server.resolveConflict", session="mine", path="local/out/a.txt",
                           choice="keep-local")
    assert _get(answer, "choice") == "keep-local"
    assert (local / "a.txt").read_bytes() == b"mine\n" and not copy.exists()
    await client.file_events.wait_for(lambda p: p.kind == "resolved" and p.path == "local/out/a.txt"
                                      and p.how == "kept the local version")
    with pytest.raises(Exception, match="no conflict"):
        await execute(client, "downstreamSync.server.resolveConflict", session="mine", path="local/out/a.txt",
                      choice="take-remote")
    await execute(client, "downstreamSync.server.stopSession")
    await client.session_states.wait_for(lambda p: p.session == "mine" and p.state == "stopped")


async def test_unreachable_helper_is_shown_as_an_error(client: LanguageClient, project: Path, tmp_path: Path):
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)
    nowhere = tmp_path / "no-helper.sock"
    result = await execute(client, "downstreamSync.server.startSession", configPath=str(config),
                           connectCommand=[str(BIN / "app-connect"), "--socket", str(nowhere)])
    assert [_get(s, "name") for s in _get(result, "sessions")] == ["web"]
    state = await client.session_states.wait_for(lambda p: p.state == "reconnecting")
    assert "cannot reach the helper" in state.detail
    error = await client.file_events.wait_for(lambda p: p.kind == "error")
    assert error.path is None and "cannot reach the helper" in error.message

    async def shown() -> lsp.ShowMessageParams:
        while True:
            for m in client.messages:
                if m.type == lsp.MessageType.Error and "cannot reach the helper" in m.message:
                    return m
            await asyncio.sleep(0.05)

    message = await asyncio.wait_for(shown(), WAIT)
    assert message.message.startswith("Downstream Sync 'web'")
    assert list(_get(await execute(client, "downstreamSync.server.stopSession", configPath=str(config)), "stopped")) == ["web"]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env={**os.environ, "KUBECONFIG": os.devnull}))
async def kube_client(lsp_client: LanguageClient, tmp_path: Path):
    await initialize(lsp_client, tmp_path)
    yield
    await lsp_client.shutdown_session()


async def test_without_connect_command_the_pod_is_looked_up_in_kubernetes(kube_client: LanguageClient, tmp_path: Path):
    """No cluster can be had here: an empty kubeconfig shows that the Kubernetes transport is
    used with the given namespace, and that its failure reaches the editor as an error."""
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG)
    result = await execute(kube_client, "downstreamSync.server.startSession", configPath="skaffold.yaml",
                           namespace="dev", kubeContext="kind-dev")
    (info,) = _get(result, "sessions")
    assert "web" in _get(info, "transport") and "dev" in _get(info, "transport")
    error = await kube_client.file_events.wait_for(lambda p: p.kind == "error")
    assert "kube" in error.message.lower()
    await kube_client.session_states.wait_for(lambda p: p.state == "reconnecting")
    assert list(_get(await execute(kube_client, "downstreamSync.server.stopSession"), "stopped")) == ["web"]


PROFILED = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
profiles:
- name: sync
  patches:
  - op: add
    path: /build/artifacts/0/download
    value:
      manual:
      - remoteSrc: out
        localDst: local/out
"""


async def test_start_uses_profiles_and_the_editors_unsaved_text(client: LanguageClient, project: Path, tmp_path: Path):
    config = project / "skaffold.yaml"
    config.write_text(PROFILED)
    connect = [str(BIN / "app-connect"), "--socket", str(tmp_path / "none.sock")]
    with pytest.raises(Exception, match="has a download stanza to sync|has no download stanza"):
        await execute(client, "downstreamSync.server.startSession", configPath=str(config), connectCommand=connect)
    result = await execute(client, "downstreamSync.server.startSession", configPath=str(config), profile="sync",
                           connectCommand=connect)
    assert [_get(s, "name") for s in _get(result, "sessions")] == ["web"]
    again = await execute(client, "downstreamSync.server.startSession", configPath=str(config), profile="sync",
                          connectCommand=connect)
    assert [_get(s, "alreadyRunning") for s in _get(again, "sessions")] == [True]
    await execute(client, "downstreamSync.server.stopSession", name="web")

    # The disk has no download stanza without the profile; the open, unsaved buffer has one.
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=config.as_uri(), language_id="yaml", version=1, text=CONFIG)))
    result = await execute(client, "downstreamSync.server.startSession", configPath=str(config), connectCommand=connect)
    assert [_get(s, "name") for s in _get(result, "sessions")] == ["web"]
    await execute(client, "downstreamSync.server.stopSession", name="web")

    # A config with errors is refused with the first of them.
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=config.as_uri(), version=2),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=CONFIG.replace("localDst: local/out", "localDst: ../../x"))]))
    with pytest.raises(Exception, match="download-localdst-outside"):
        await execute(client, "downstreamSync.server.startSession", configPath=str(config), connectCommand=connect)


async def test_a_large_download_is_reported_as_progress(client: LanguageClient, project: Path, helper):
    """A file big enough for the data lane gets its own `$/progress` token, begun and ended."""
    from downstream_sync.sync.lane import LANE_MIN

    container, connect = helper
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)
    await execute(client, "downstreamSync.server.startSession", configPath=str(config), connectCommand=connect)
    await client.session_states.wait_for(lambda p: p.session == "web" and p.state == "watching")

    big = os.urandom(LANE_MIN + 4096)
    (container / "out" / "big.bin").write_bytes(big)
    await client.file_events.wait_for(lambda p: p.kind == "synced" and p.path == "local/out/big.bin")
    await wait_file(project / "local" / "out" / "big.bin", big)

    tokens = [t for t in client.progress_reports if str(t).startswith("downstreamSync/web/download/")]
    assert len(tokens) == 1, f"expected one download token, got {list(client.progress_reports)}"
    reports = client.progress_reports[tokens[0]]
    assert isinstance(reports[0], lsp.WorkDoneProgressBegin) and "local/out/big.bin" in reports[0].title
    assert isinstance(reports[-1], lsp.WorkDoneProgressEnd)
    await execute(client, "downstreamSync.server.stopSession", name="web")


async def test_stop_by_config_path_after_the_config_is_gone(client: LanguageClient, project: Path, helper):
    """The path may be spelled another way, and the file may have been deleted meanwhile."""
    container, connect = helper
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)
    await execute(client, "downstreamSync.server.startSession", configPath=str(config), connectCommand=connect)
    await client.session_states.wait_for(lambda p: p.session == "web" and p.state == "watching")
    config.unlink()
    (project / "sub").mkdir()
    stopped = await execute(client, "downstreamSync.server.stopSession",
                            configPath=str(project / "sub" / ".." / "skaffold.yaml"))
    assert list(_get(stopped, "stopped")) == ["web"]
    with pytest.raises(Exception, match="no session named"):
        await execute(client, "downstreamSync.server.resolveConflict", session=["web"], path="x", choice="keep-local")


async def test_the_editor_gets_every_option_the_terminal_has(client: LanguageClient, project: Path, helper, tmp_path: Path):
    """The same planner as the CLI: {image} in the connect command, a missing program, an unknown
    artifact, and the Kubernetes options checked before anything starts."""
    container, connect = helper
    config = project / "skaffold.yaml"
    config.write_text(CONFIG)
    with pytest.raises(Exception, match=r"no artifact 'wbe' .*\(artifacts: web\)"):
        await execute(client, "downstreamSync.server.startSession", configPath=str(config), artifact="wbe",
                      connectCommand=connect)
    with pytest.raises(Exception, match="'no-such-bridge-xyz' not found"):
        await execute(client, "downstreamSync.server.startSession", configPath=str(config),
                      connectCommand=["no-such-bridge-xyz", "{image}"])
    with pytest.raises(Exception, match="podTimeout"):
        await execute(client, "downstreamSync.server.startSession", configPath=str(config), podTimeout="soon")
    assert list(_get(await execute(client, "downstreamSync.server.listSessions"), "sessions")) == []

    # The helper's socket, reached through a link named after the image: only {image} finds it.
    socket = Path(connect[-1])
    (tmp_path / "web.sock").symlink_to(socket)
    by_image = [connect[0], "--socket", str(tmp_path / "{image}.sock")]
    result = await execute(client, "downstreamSync.server.startSession", configPath=str(config), artifact=["web"],
                           connectCommand=by_image)
    assert [_get(s, "name") for s in _get(result, "sessions")] == ["web"]
    await wait_file(project / "local" / "out" / "a.txt", b"alpha\n")
    await execute(client, "downstreamSync.server.stopSession", name="web")
