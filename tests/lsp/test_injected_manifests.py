"""`downstreamSync.server.showInjectedManifests` through a real client and the real server: the
rawYaml manifests before and after injection, the helper image from the initialization options or
the command, the editor's unsaved config, a stand-in `skaffold render`, and the errors a user meets.

No Docker daemon is reachable (DOCKER_HOST names a socket that is not there) and the registry of
the unreachable image is a loopback port nothing listens on. `skaffold render` is
the real skaffold (tests/tools/build.sh) for a kustomize project, and a stand-in script that records
its arguments and stdin, and one that fails, to check exactly how the server calls it and what it
does with a failure.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import pytest_lsp
import yaml
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, initialize, open_doc

COMMAND = "downstreamSync.server.showInjectedManifests"

CONFIG = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - {remoteSrc: out, localDst: out}
      excludes: ["*.tmp"]
manifests:
  rawYaml: [k8s/*.yaml]
profiles:
- name: other
  manifests:
    rawYaml: [other/*.yaml]
"""

DEPLOYMENT = """\
# the web front end
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: web:latest
        command: [node, server.js]
        workingDir: /srv
        env: [{name: TMPDIR, value: /tmp}]
"""
SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "DOCKER_CONFIG": str(tmp_path / "docker")}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=_env(Path("/nonexistent"))))
async def client(lsp_client: LanguageClient, tmp_path: Path):
    await initialize(lsp_client, tmp_path, {"diagnosticsDelayMs": 50, "helperImage": "127.0.0.1:5000/helper:init"})
    yield
    await lsp_client.shutdown_session()


async def show(client: LanguageClient, **arguments) -> dict:
    result = await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=COMMAND, arguments=[arguments]))
    return result if isinstance(result, dict) else dict(vars(result))


def project(root: Path, config: str = CONFIG) -> Path:
    (root / "k8s").mkdir(exist_ok=True)
    (root / "k8s" / "app.yaml").write_text(DEPLOYMENT + "---\n" + SERVICE)
    (root / "skaffold.yaml").write_text(config)
    return root / "skaffold.yaml"


async def test_the_rewritten_manifests_come_beside_the_originals(client: LanguageClient, tmp_path: Path):
    config = project(tmp_path)
    result = await show(client, configPath=config.as_uri())
    assert result["files"] == ["k8s/app.yaml"] and result["renderer"] == "rawYaml"
    assert result["original"] == "# Source: k8s/app.yaml\n" + DEPLOYMENT + "---\n" + SERVICE
    docs = list(yaml.safe_load_all(result["injected"]))
    pod = docs[0]["spec"]["template"]["spec"]
    app = pod["containers"][0]
    assert app["command"] == ["/sync-helper/app-server"]
    assert app["args"] == ["--workdir", "/srv", "--targets", "out", "--excludes", "*.tmp", "--", "node", "server.js"]
    assert pod["initContainers"][0]["image"] == "127.0.0.1:5000/helper:init"  # from the initialization options
    assert docs[1] == yaml.safe_load(SERVICE)  # untouched
    assert "# the web front end" in result["injected"]
    assert result["containers"] == ["k8s/app.yaml: document 1: Deployment web: container app"]
    assert result["warnings"] == []  # the manifest says all: no image config was looked up

    # The command's own helperImage wins over the initialization option.
    again = await show(client, configPath=str(config), helperImage="127.0.0.1:5000/helper:cmd")
    init = next(yaml.safe_load_all(again["injected"]))["spec"]["template"]["spec"]["initContainers"][0]
    assert init["image"] == "127.0.0.1:5000/helper:cmd"


async def test_profiles_and_the_editors_unsaved_config_are_used(client: LanguageClient, tmp_path: Path):
    config = project(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - {name: w, image: web:2, command: [run], workingDir: /, env: [{name: TMPDIR, value: /t}]}\n")
    result = await show(client, configPath=str(config), profile="other")
    assert result["files"] == ["other/job.yaml"]
    assert "/sync-helper/app-server" in result["injected"]

    unsaved = CONFIG.replace('excludes: ["*.tmp"]', 'excludes: ["*.log"]')
    open_doc(client, config, unsaved)
    result = await show(client, configPath=str(config))
    assert "*.log" in result["injected"] and "*.tmp" not in result["injected"]


async def test_errors_name_the_file_document_and_container(client: LanguageClient, tmp_path: Path):
    config = project(tmp_path)
    # No manifest file matches.
    (tmp_path / "k8s" / "app.yaml").unlink()
    with pytest.raises(Exception, match=r"rawYaml \('k8s/\*\.yaml'\) matches no file"):
        await show(client, configPath=str(config))

    # A manifest that is not YAML: the file and the document.
    (tmp_path / "k8s" / "app.yaml").write_text(SERVICE + "---\nkind: [unclosed\n")
    with pytest.raises(Exception, match=r"k8s/app\.yaml.*document 2"):
        await show(client, configPath=str(config))

    # The image config is needed (no command in the manifest) and cannot be had: the image and the ways.
    image = f"127.0.0.1:{_free_port()}/web:1"
    (tmp_path / "k8s" / "app.yaml").write_text(DEPLOYMENT.replace("web:latest", image).replace(
        "        command: [node, server.js]\n", ""))
    with pytest.raises(Exception) as raised:
        await show(client, configPath=str(config))
    message = str(raised.value)
    assert "k8s/app.yaml: document 1: Deployment web" in message and "container app" in message
    assert image in message and "image-config" in message

    # ... and given as a file, it works.
    (tmp_path / "web.json").write_text(json.dumps({"Entrypoint": ["/e"], "Cmd": ["go"], "WorkingDir": "/w"}))
    result = await show(client, configPath=str(config), imageConfigs={image: str(tmp_path / "web.json")})
    app = next(yaml.safe_load_all(result["injected"]))["spec"]["template"]["spec"]["containers"][0]
    assert app["args"][-3:] == ["--", "/e", "go"]

    # No container runs the artifact.
    (tmp_path / "k8s" / "app.yaml").write_text(SERVICE)
    with pytest.raises(Exception, match="no container runs artifact web"):
        await show(client, configPath=str(config))

    # A config without download rules, and one that does not exist.
    (tmp_path / "plain.yaml").write_text("apiVersion: skaffold/v4beta9\nkind: Config\n")
    with pytest.raises(Exception, match="no artifact in .* has a download stanza"):
        await show(client, configPath=str(tmp_path / "plain.yaml"))
    with pytest.raises(Exception, match="does not exist"):
        await show(client, configPath=str(tmp_path / "nope.yaml"))
    with pytest.raises(Exception, match="'profile' must be"):
        await show(client, configPath=str(config), profile=5)


STAND_IN = """\
#!{python}
import json, os, sys
record = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "stdin": sys.stdin.read()}}
with open({log!r}, "w") as f:
    json.dump(record, f)
print("a note on stdout, as the real one prints")
output = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--output=")][0]
with open(output, "w") as f:
    f.write({manifest!r})
"""


async def test_a_project_without_raw_yaml_is_rendered_by_skaffold(client: LanguageClient, tmp_path: Path):
    config = tmp_path / "skaffold.yaml"
    config.write_text(CONFIG.split("manifests:")[0] + "deploy:\n  helm:\n    releases: [{name: web, chartPath: chart}]\n")
    with pytest.raises(Exception, match="no skaffold executable"):
        await show(client, configPath=str(config))

    skaffold = tmp_path / "bin" / "skaffold"
    skaffold.parent.mkdir()
    log = tmp_path / "skaffold-call.json"
    skaffold.write_text(STAND_IN.format(python=sys.executable, log=str(log), manifest=DEPLOYMENT))
    skaffold.chmod(0o755)
    result = await show(client, configPath=str(config), skaffoldPath=str(skaffold))
    assert result["renderer"] == "skaffold render"
    assert "/sync-helper/app-server" in result["injected"]
    call = json.loads(log.read_text())
    assert call["argv"][:3] == ["render", "--digest-source=none", "--filename"] and call["argv"][3] == "-"
    assert Path(call["cwd"]) == tmp_path
    given = yaml.safe_load(call["stdin"])
    assert "download" not in given["build"]["artifacts"][0]  # stock Skaffold rejects the stanza
    assert given["deploy"]["helm"]["releases"][0]["name"] == "web"

    skaffold.write_text("#!/bin/sh\necho 'parsing skaffold config: bad' >&2\nexit 1\n")
    with pytest.raises(Exception, match=r"skaffold render.*failed \(exit 1\): parsing skaffold config: bad"):
        await show(client, configPath=str(config), skaffoldPath=str(skaffold))


KUSTOMIZED = """\
apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual: [{remoteSrc: out, localDst: out}]
manifests:
  kustomize:
    paths: [k8s]
"""


async def test_the_real_skaffold_renders_a_kustomize_project(client: LanguageClient, tmp_path: Path, real_tool):
    """The real skaffold (tests/tools/build.sh), whose kustomize renderer runs `kubectl kustomize`
    here: it reads the config without its download stanza from stdin, in the config's folder."""
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "kustomization.yaml").write_text("resources: [app.yaml]\n")
    (tmp_path / "k8s" / "app.yaml").write_text(DEPLOYMENT)
    config = tmp_path / "skaffold.yaml"
    config.write_text(KUSTOMIZED)
    result = await show(client, configPath=str(config), skaffoldPath=real_tool("skaffold"))
    assert result["renderer"] == "skaffold render" and result["files"] == ["skaffold render of skaffold.yaml"]
    app = next(yaml.safe_load_all(result["injected"]))["spec"]["template"]["spec"]["containers"][0]
    assert app["command"] == ["/sync-helper/app-server"]
    assert app["args"] == ["--workdir", "/srv", "--targets", "out", "--", "node", "server.js"]
