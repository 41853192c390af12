"""Pod choice and its errors against real Pod objects in a real API server (kube_testbed.py), through
the real `kubernetes` client and the real kubectl.

These pods are never bound to a node (spec.nodeName unset; the test bed has no scheduler), so no
container runs: where a test needs a pod Running or in CrashLoopBackOff, it sets the pod's status
through the status subresource, as a kubelet would. Exec is refused by RBAC before any node is
asked, so that error is real too.
"""

from __future__ import annotations

import json
import socket

import pytest

from downstream_sync.cluster.kubernetes import KubernetesTransport, NoPodError, PodNotRunningError
from downstream_sync.cluster.transport import TransportError

IMAGE = "node-example"


def pod(name: str, image: str = f"{IMAGE}:e2e", container: str = "app") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": container, "image": image}]}}


def set_status(cluster, namespace: str, name: str, phase: str, container: dict) -> None:
    """What a kubelet would report: the pod's phase and its one container's status."""
    status = {"phase": phase, "containerStatuses": [{"image": f"{IMAGE}:e2e", "imageID": "", "restartCount": 0,
                                                     **container}]}
    cluster.kubectl("-n", namespace, "patch", "pod", name, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": status}))


def set_running(cluster, namespace: str, name: str, container: str = "app") -> None:
    set_status(cluster, namespace, name, "Running", {
        "name": container, "ready": True, "started": True,
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}})


def transport(cluster, namespace: str, *, kubeconfig=None, context=None, **kwargs) -> KubernetesTransport:
    return KubernetesTransport(IMAGE, namespace, context or cluster.context, None,
                               kubeconfig=str(kubeconfig or cluster.kubeconfig or "") or None,
                               kubectl=cluster.kubectl_path, wait_timeout=0, poll_interval=0.2, **kwargs)


def restricted_user(cluster, namespace: str, tmp_path, rules: list[dict]):
    """A kubeconfig (context `user`) for a service account whose Role has only `rules`."""
    cluster.apply([
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "dev"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "dev"}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "dev"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dev"},
         "subjects": [{"kind": "ServiceAccount", "name": "dev", "namespace": namespace}]},
    ], namespace)
    return cluster.user_kubeconfig(tmp_path / "user.kubeconfig", namespace, "dev")


async def test_of_two_running_replicas_one_is_chosen_and_named(cluster, namespace):
    cluster.apply([pod("web-a"), pod("web-b")], namespace)
    for name in ("web-a", "web-b"):
        set_running(cluster, namespace, name)
    created = {name: cluster.get("pod", name, namespace)["metadata"]["creationTimestamp"] for name in ("web-a", "web-b")}
    # The newest wins; pods made within the same second are taken by name.
    expected = max(created, key=lambda n: (created[n], -ord(n[-1])))
    seen = []
    t = transport(cluster, namespace, on_choice=lambda new, old: seen.append(new))
    first = await t.resolve()
    again = await t.resolve()
    assert (first.pod, first.container, first.candidates) == (expected, "app", 2)
    assert again == first
    t.adopt(first)
    assert [c.describe() for c in seen] == [f"pod {namespace}/{expected} (container app)"]


async def test_no_pod_runs_the_image_names_what_runs_there(cluster, namespace):
    cluster.apply(pod("other", image="redis:7"), namespace)
    with pytest.raises(NoPodError) as caught:
        await transport(cluster, namespace).resolve()
    message = str(caught.value)
    assert f"no pod runs image {IMAGE!r} (namespace {namespace!r}" in message
    assert "the 1 pod(s) there run: redis" in message


async def test_a_pending_pod_says_it_has_no_node_and_where_to_look(cluster, namespace):
    """No scheduler runs in the test bed, so the pod stays Pending without a node, as it does in a
    cluster where no node fits it."""
    cluster.apply(pod("web"), namespace)
    with pytest.raises(PodNotRunningError) as caught:
        await transport(cluster, namespace).resolve()
    message = str(caught.value)
    assert message.startswith(f"pod {namespace}/web (container app) is not running: Pending")
    assert "not scheduled to a node" in message
    assert f"kubectl describe pod -n {namespace} --context {cluster.context} web" in message


async def test_a_crash_looping_container_says_so_and_how_to_see_why(cluster, namespace):
    cluster.apply(pod("web"), namespace)
    set_status(cluster, namespace, "web", "Running", {
        "name": "app", "ready": False, "started": False, "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff",
                              "message": "back-off 1m20s restarting failed container=app"}},
        "lastState": {"terminated": {"exitCode": 3, "reason": "Error", "startedAt": "2026-01-01T00:00:00Z",
                                     "finishedAt": "2026-01-01T00:00:01Z"}}})
    with pytest.raises(PodNotRunningError) as caught:
        await transport(cluster, namespace).resolve()
    message = str(caught.value)
    assert f"pod {namespace}/web (container app) is not running" in message
    assert "CrashLoopBackOff: back-off 1m20s restarting failed container=app" in message
    assert "last exit code 3" in message
    assert f"kubectl logs -n {namespace} --context {cluster.context} web -c app --previous" in message


async def test_a_user_without_pods_exec_is_told_which_permission_is_missing(cluster, namespace, tmp_path):
    cluster.apply(pod("web"), namespace)
    set_running(cluster, namespace, "web")
    user = restricted_user(cluster, namespace, tmp_path, [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}])
    t = transport(cluster, namespace, kubeconfig=user, context="user", helper_mode="connect")
    with pytest.raises(TransportError) as caught:
        await t.command()
    message = str(caught.value)
    assert f"may not exec into pod {namespace}/web (container app)" in message
    assert f"create on pods/exec in namespace {namespace}" in message
    assert f'system:serviceaccount:{namespace}:dev' in message  # kubectl's words, kept


async def test_a_user_who_may_not_list_pods_is_told_so(cluster, namespace, tmp_path):
    user = restricted_user(cluster, namespace, tmp_path, [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    with pytest.raises(TransportError) as caught:
        await transport(cluster, namespace, kubeconfig=user, context="user").resolve()
    message = str(caught.value)
    assert "refused to list pods" in message and "403 Forbidden" in message
    assert f"get and list on pods in namespace {namespace}" in message


async def test_an_unreachable_api_server_is_named_with_what_to_check(cluster, namespace, tmp_path):
    """The test bed's own kubeconfig, its server moved to a loopback port where nothing listens
    (the API server cannot be stopped under the other tests)."""
    server, ca = cluster.cluster_entry()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{s.getsockname()[1]}"
    config = cluster.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout
    path = tmp_path / "moved.kubeconfig"
    path.write_text(config.replace(server, closed))
    with pytest.raises(TransportError) as caught:
        await transport(cluster, namespace, kubeconfig=path).resolve()
    message = str(caught.value)
    assert f"cannot reach the Kubernetes API at {closed}" in message
    assert "Connection refused" in message
    assert "Is the cluster running, and is this the right context" in message
