"""The Kubernetes transport chooses connect or attach from the pod's injection annotation.

No Kubernetes API server or kubelet can be had here: the pods are the `kubernetes` client's own
V1Pod objects, chosen by the real choose_pod, and `kubectl` is a small script that turns
`kubectl ... exec -i POD -c C -- ARGV` into `runc exec POD ARGV` on a real runc container.
Everything after the pod choice (the exec command lines, the copy, the helper, the sync) is real."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest
from kubernetes.client import (V1Container, V1ContainerState, V1ContainerStateRunning, V1ContainerStatus,
                               V1ObjectMeta, V1Pod, V1PodSpec, V1PodStatus)

from downstream_sync.cluster.attach import INJECTED_ANNOTATION
from downstream_sync.cluster.kubernetes import KubernetesTransport
from downstream_sync.cluster.pods import choose_pod
from downstream_sync.cluster.transport import TransportError
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session

from runc_box import WAIT

KUBECTL = """#!/bin/sh
# kubectl [--kubeconfig K] [--context C] --namespace N exec [-i] POD -c CONTAINER -- ARGV...
while [ "$1" != exec ]; do shift; done; shift
[ "$1" = -i ] && shift
pod=$1; shift 3; [ "$1" = -- ] && shift
exec runc exec "$pod" "$@"
"""


def pod(name: str, annotations: dict | None) -> V1Pod:
    return V1Pod(
        metadata=V1ObjectMeta(name=name, namespace="dev", annotations=annotations),
        spec=V1PodSpec(containers=[V1Container(name="web", image="node-example:abc")]),
        status=V1PodStatus(phase="Running", container_statuses=[V1ContainerStatus(
            name="web", image="node-example:abc", image_id="", ready=True, restart_count=0,
            state=V1ContainerState(running=V1ContainerStateRunning()))]))


class PodsGiven(KubernetesTransport):
    """The real transport, with the pod list given instead of asked from an API server."""

    def __init__(self, pods, **kw):
        super().__init__("node-example", "dev", None, None, **kw)
        self.pods = pods

    async def resolve(self):
        return choose_pod(self.pods, self.image, namespace="dev")


@pytest.fixture
def kubectl(tmp_path):
    path = tmp_path / "kubectl"
    path.write_text(KUBECTL)
    path.chmod(0o755)
    return str(path)


async def test_a_pod_without_the_annotation_gets_a_helper_attached(make_box, binaries, kubectl, tmp_path, monkeypatch):
    monkeypatch.setenv("DOWNSTREAM_SYNC_HELPER_BINARIES", str(binaries))
    box = make_box(writable_root=True)
    project = tmp_path / "project"
    project.mkdir()
    rules = RuleSet.from_download([("src", "out")], [], project)
    transport = PodsGiven([pod(box.name, {"other": "x"})], kubectl=kubectl)  # the session gives the targets
    session = Session("web", rules, transport, project)
    await session.start()
    try:
        assert box.exec("sh", "-c", "echo made-here > /app/src/a.txt").returncode == 0
        deadline = time.monotonic() + WAIT
        while not (project / "out" / "a.txt").exists():
            assert time.monotonic() < deadline, "a.txt did not sync"
            await asyncio.sleep(0.05)
        assert transport.attach is not None and "helper attached" in transport.attach.describe()
    finally:
        await session.stop()
    assert transport.attach is None
    box.wait_until(lambda: box.exec("ls", "-A", "/tmp").stdout == "", "the helper's folder to go")


async def test_an_injected_pod_is_connected_to_and_its_missing_helper_named(make_box, kubectl):
    box = make_box()
    transport = PodsGiven([pod(box.name, {INJECTED_ANNOTATION: "web"})], kubectl=kubectl)
    with pytest.raises(TransportError, match="has no helper at /sync-helper/app-connect: deploy it with the helper"):
        await transport.command()
    assert box.exec("ls", "-A", "/tmp").stdout == ""


async def test_connect_can_be_forced_and_attach_can_be_forced(make_box, binaries, kubectl, monkeypatch):
    monkeypatch.setenv("DOWNSTREAM_SYNC_HELPER_BINARIES", str(binaries))
    box = make_box()
    forced = PodsGiven([pod(box.name, None)], kubectl=kubectl, helper_mode="connect")
    with pytest.raises(TransportError, match="has no helper at /sync-helper/app-connect"):
        await forced.command()
    attach = PodsGiven([pod(box.name, {INJECTED_ANNOTATION: "web"})], kubectl=kubectl, helper_mode="attach")
    with pytest.raises(TransportError, match="needs the folders to watch"):
        await attach.command()
    attach.set_targets(["src"], [])
    try:
        argv = await attach.command()
        assert argv[:2] == [kubectl, "--namespace"] and "app-connect" in argv[-2]
    finally:
        await attach.aclose()


def test_an_unknown_helper_mode_is_refused():
    with pytest.raises(ValueError, match="auto, connect, attach"):
        KubernetesTransport("node-example", None, None, None, helper_mode="inject")


async def test_an_injected_helper_of_another_architecture_is_named(make_box, binaries, kubectl):
    """An arm64 build cannot be had here: a copy whose ELF header says aarch64 stands in for one,
    injected at /sync-helper; the kernel refuses to run it, as an arm64 helper on an amd64 node."""
    box = make_box(writable_root=True)
    helper = box.rootfs / "sync-helper"
    helper.mkdir()
    for name in ("app-server", "app-connect"):
        shutil.copy2(binaries / name, helper / name)
        with open(helper / name, "r+b") as f:
            f.seek(18)
            f.write((183).to_bytes(2, "little"))  # EM_AARCH64
    transport = PodsGiven([pod(box.name, {INJECTED_ANNOTATION: "web"})], kubectl=kubectl)
    with pytest.raises(TransportError, match="built for another architecture than the node's") as caught:
        await transport.command()
    assert "exec format error" in str(caught.value)
