"""A pod injected from other download rules than the config's current ones: the session connects,
syncs, and warns once, naming the pod and saying to deploy again; the terminal and the language
server show that warning. Rules that did not change give no warning.

No Kubernetes API server or kubelet can be had here: the pod is the `kubernetes` client's V1Pod
carrying the annotations the real injector wrote, and `kubectl` is the script of
test_kubernetes_attach.py that turns `kubectl exec` into `runc exec` on a real runc container.
That container runs the injected command line (the injector's own args) with the binaries that
`app-server --install` put in its /sync-helper volume, as the init container does.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time

import pytest
import yaml

from downstream_sync.cluster.kubernetes import KubernetesTransport
from downstream_sync.cluster.pods import choose_pod
from downstream_sync.inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
from downstream_sync.sync.events import SessionWarning
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session
from downstream_sync.terminal import TerminalPrinter

from runc_box import WAIT
from test_kubernetes_attach import KUBECTL, pod

SKAFFOLD = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: node-example
    download:
      manual: [{remoteSrc: src, localDst: out}]
      excludes: [%s]
"""
MANIFEST = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "web", "image": "node-example:abc", "workingDir": "/app",
                                     "command": ["/bin/sh", "-c", "echo hi > /app/src/a.txt; exec sleep 100000"]}]}}


class PodsGiven(KubernetesTransport):
    def __init__(self, pods, **kw):
        super().__init__("node-example", "dev", None, None, **kw)
        self.pods = pods

    async def resolve(self):
        return choose_pod(self.pods, self.image, namespace="dev")


def injected(tmp_path, excludes: str) -> dict:
    config = tmp_path / "deployed" / "skaffold.yaml"
    config.parent.mkdir()
    config.write_text(SKAFFOLD % excludes)
    request = InjectRequest(rules_from_project(config), ConfigSource(use_docker=False, use_registry=False))
    return yaml.safe_load(inject_manifests(yaml.safe_dump(MANIFEST), request).text)


@pytest.fixture
def deployed(make_box, binaries, tmp_path):
    """A container running what the injector made of MANIFEST for rules excluding *.tmp; its V1Pod."""
    manifest = injected(tmp_path, '"*.tmp"')
    volume = tmp_path / "sync-helper"
    volume.mkdir()
    done = subprocess.run([str(binaries / "app-server"), "--install", str(volume)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    app = manifest["spec"]["containers"][0]
    env = [f"{e['name']}={e['value']}" for e in app.get("env", []) if "value" in e]
    box = make_box(writable_root=True, volumes={"/sync-helper": volume}, args=app["command"] + app["args"], env=env)
    box.wait_until(lambda: (volume / "app-server.sock").exists(), "the helper's socket")
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(KUBECTL)
    kubectl.chmod(0o755)
    annotations = manifest["metadata"]["annotations"]
    return pod(box.name, annotations), str(kubectl)


async def run_session(tmp_path, deployed, excludes: list[str]) -> tuple[list, str]:
    v1pod, kubectl = deployed
    project = tmp_path / f"project-{len(excludes)}"
    project.mkdir()
    transport = PodsGiven([v1pod], kubectl=kubectl)
    session = Session("web", RuleSet.from_download([("src", "out")], excludes, project), transport, project)
    events: list = []
    out = io.StringIO()
    session.subscribe(events.append)
    session.subscribe(TerminalPrinter(out))
    await session.start()
    try:
        deadline = time.monotonic() + WAIT
        while not (project / "out" / "a.txt").exists():
            assert time.monotonic() < deadline, f"a.txt did not sync: {events}"
            await asyncio.sleep(0.05)
    finally:
        await session.stop()
    return events, out.getvalue()


async def test_a_pod_injected_from_other_rules_is_named_with_the_advice_to_redeploy(tmp_path, deployed):
    events, printed = await run_session(tmp_path, deployed, ["*.log"])  # the config now excludes *.log
    warnings = [e for e in events if isinstance(e, SessionWarning)]
    assert len(warnings) == 1, warnings
    pod_name = deployed[0].metadata.name
    assert f"pod dev/{pod_name} (container web) was injected from other download rules" in warnings[0].message
    assert "deploy the artifact again" in warnings[0].message
    (line,) = [line for line in printed.splitlines() if "warning" in line]
    assert f"pod dev/{pod_name}" in line and "deploy the artifact again" in line

    # The language server shows the same event as a warning pop-up (real pygls framing, captured).
    from downstream_sync.lsp.server import make_server
    from downstream_sync.lsp.sessions import _Running

    ls = make_server()
    sent = io.BytesIO()
    ls.protocol.set_writer(type("W", (), {"write": lambda self, b: sent.write(b), "close": lambda self: None})())
    entry = _Running("web", None, tmp_path / "skaffold.yaml", "node-example", "pod", tmp_path)
    await ls.sessions._handle(entry, warnings[0])
    body = json.loads(sent.getvalue().split(b"\r\n\r\n", 1)[1])
    assert body["method"] == "window/showMessage" and body["params"]["type"] == 2  # Warning
    assert body["params"]["message"] == f"Downstream Sync 'web': {warnings[0].message}"


async def test_the_same_rules_give_no_warning(tmp_path, deployed):
    events, printed = await run_session(tmp_path, deployed, ["*.tmp"])
    assert [e for e in events if isinstance(e, SessionWarning)] == []
    assert "warning" not in printed
