"""The end-to-end suite's cluster: the test bed of kube_testbed.py, started once per run, or the
cluster that DOWNSTREAM_SYNC_E2E_CONTEXT names in the user's kubeconfig; and the images its pods
run (e2e_images.py), imported into the test node or pushed to DOWNSTREAM_SYNC_E2E_REGISTRY."""

from __future__ import annotations

import os
import shutil

import pytest

from kube_testbed import BIN, CONTEXT_ENV, Cluster, ControlPlane, from_context, missing_binaries


def not_built(what: str, missing: list[str]) -> str:
    return (f"{what} {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not built: "
            "run bash tests/cluster/build.sh")


def unavailable(reason: str) -> None:
    """In CI a missing part of the test bed fails the tests; elsewhere they skip, saying why."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """Our own etcd and kube-apiserver (None when the suite runs against a context's cluster)."""
    if os.environ.get(CONTEXT_ENV):
        yield None
        return
    missing = missing_binaries(("etcd", "kube-apiserver", "kubectl"))
    if missing:
        unavailable(not_built("the test cluster's", missing))
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane")).start()
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def cluster(control_plane) -> Cluster:
    context = os.environ.get(CONTEXT_ENV)
    if context:
        return from_context(context)
    return Cluster(control_plane.kubeconfig, "admin", str(BIN / "kubectl"))


@pytest.fixture
def namespace(cluster, request):
    """A fresh namespace for one test, deleted after it."""
    name = cluster.namespace("ds-e2e")
    yield name
    cluster.delete_namespace(name)


NODE_ROUTE: list[str] = []  # what the preflight found, for the summary


@pytest.fixture(scope="session")
def node(control_plane, cluster, tmp_path_factory):
    """A node that runs pods as real containers (kube_node.py), checked by a preflight: a probe pod
    must run and answer `kubectl exec`. None against a context's cluster, whose nodes are its own."""
    if control_plane is None:
        yield None
        return
    missing = missing_binaries(("kubelet", "containerd", "containerd-shim-runc-v2", "ctr"))
    if missing:
        NODE_ROUTE.append(f"none: {', '.join(missing)} not built")
        unavailable(not_built("the test node's", missing))
    from kube_node import Node, preflight

    node = Node(tmp_path_factory.mktemp("node"), control_plane.server, control_plane.ca, control_plane.node_token)
    try:
        node.start()
        preflight(node, cluster)
    except Exception as error:
        NODE_ROUTE.append(f"none: the kubelet route failed: {error}")
        node.stop()
        unavailable(f"the test node does not run pods here: {error}")
    NODE_ROUTE.append("kubelet + containerd + runc")
    yield node
    node.stop()


CONTROLLERS_READY: list[str] = []  # how long the controllers took to answer, for the summary


@pytest.fixture(scope="module")
def controllers(control_plane, node, tmp_path_factory):
    """The controller manager and the scheduler (kube_controllers.py), for the tests of one module
    (the others bind their pods by hand, or set statuses no kubelet must overwrite), and the test
    node Ready and untainted. None against a context's cluster, which runs its own."""
    if control_plane is None:
        yield None
        return
    missing = missing_binaries(("kube-controller-manager", "kube-scheduler"))
    if missing:
        unavailable(not_built("the test cluster's", missing))
    from kube_controllers import Controllers, wait_schedulable

    started = Controllers(control_plane, tmp_path_factory.mktemp("controllers")).start()
    try:
        wait_schedulable(Cluster(control_plane.kubeconfig, "admin", str(BIN / "kubectl")), started.processes)
        CONTROLLERS_READY.append(", ".join(f"{name} {seconds:.1f} s" for name, seconds in started.ready_in.items()))
        yield started
    finally:
        started.stop()


def pytest_terminal_summary(terminalreporter):
    for route in NODE_ROUTE:
        terminalreporter.write_line(f"end-to-end node: {route}")
    for ready in CONTROLLERS_READY:
        terminalreporter.write_line(f"end-to-end controllers healthy after: {ready}")


@pytest.fixture(scope="session")
def built_images(tmp_path_factory):
    """The images of the tests, built once a run (e2e_images.py)."""
    from e2e_images import build

    return build(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def images(node, built_images):
    """The images as the tests' manifests name them: pushed to DOWNSTREAM_SYNC_E2E_REGISTRY when it
    is set (and pulled by the cluster's kubelets), else imported into the test node."""
    from e2e_images import REGISTRY_ENV, imported, pushed
    from e2e_registry import split_registry

    registry = os.environ.get(REGISTRY_ENV)
    if registry:
        if node is not None:  # our node pulls over plain HTTP where it is told so, or from loopback
            prefix, scheme = split_registry(registry)
            host = prefix.split("/", 1)[0]
            if scheme == "http" or host.startswith(("localhost:", "127.")):
                node.trust_plain_http(host)
        return pushed(built_images, registry, on_test_node=node is not None)
    if node is None:
        pytest.skip(f"against a context's cluster the images need a registry it can pull from: set {REGISTRY_ENV} "
                    "(e.g. registry.example:5000/team)")
    return imported(built_images, node)


@pytest.fixture(scope="session")
def registry_images(node, built_images, tmp_path_factory):
    """The images pushed to a registry of our own (Debian's docker-registry on 127.0.0.1, plain
    HTTP, which the test node's containerd is told of), for the kubelet to pull."""
    from e2e_images import REGISTRY_ENV, pushed
    from e2e_registry import LocalRegistry

    if node is None:
        pytest.skip(f"against a context's cluster every test's images come from {REGISTRY_ENV} already")
    if shutil.which("docker-registry") is None:
        unavailable("Debian's docker-registry is not installed (apt-get install docker-registry)")
    local = LocalRegistry(tmp_path_factory.mktemp("registry"))
    try:
        node.trust_plain_http(local.host)
        yield pushed(built_images, f"{local.host}/ds-e2e", on_test_node=True, local=local)
    finally:
        local.stop()
