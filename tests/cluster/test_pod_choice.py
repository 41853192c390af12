"""Pod discovery's choice of pod and its wait for one to run, over the `kubernetes` client's
real model objects.

There is no Kubernetes API server on these machines: the pods are built as real V1Pod,
V1PodStatus, V1ContainerStatus... objects, the same types `list_namespaced_pod` returns.
"""

from datetime import datetime, timedelta, timezone

import pytest
from kubernetes.client import (
    V1Container, V1ContainerState, V1ContainerStateRunning, V1ContainerStateTerminated,
    V1ContainerStateWaiting, V1ContainerStatus, V1ObjectMeta, V1Pod, V1PodSpec, V1PodStatus,
)

from downstream_sync.cluster.pods import (
    NoPodError, PodNotRunningError, choose_pod, image_matches, image_repository, wait_for_pod,
)
from downstream_sync.cluster.transport import HELPER_ADVICE, TransportError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def pod(name, containers, *, phase="Running", age=0, ready=True, state="running", deleting=False,
        reason=None, message=None, namespace="default", node="node-1"):
    """A pod on `node` whose containers are (name, image) pairs, all in the same state."""
    def container_state():
        if state == "running":
            return V1ContainerState(running=V1ContainerStateRunning(started_at=T0))
        if state == "terminated":
            return V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=1, reason=reason, message=message))
        return V1ContainerState(waiting=V1ContainerStateWaiting(reason=reason, message=message))

    return V1Pod(
        metadata=V1ObjectMeta(name=name, namespace=namespace, creation_timestamp=T0 - timedelta(minutes=age),
                              deletion_timestamp=T0 if deleting else None),
        spec=V1PodSpec(node_name=node, containers=[V1Container(name=c, image=i) for c, i in containers]),
        status=V1PodStatus(phase=phase, container_statuses=[
            V1ContainerStatus(name=c, image=i, image_id="", ready=ready and state == "running", restart_count=0,
                              state=container_state())
            for c, i in containers]),
    )


def choose(pods, image="node-example", **kw):
    return choose_pod(pods, image, namespace="default", **kw)


@pytest.mark.parametrize("image, repo", [
    ("node-example", "node-example"),
    ("node-example:abc123", "node-example"),
    ("localhost:5000/team/node-example:v1", "localhost:5000/team/node-example"),
    ("gcr.io/p/node-example@sha256:" + "a" * 64, "gcr.io/p/node-example"),
    ("gcr.io/p/node-example:v2@sha256:" + "b" * 64, "gcr.io/p/node-example"),
    ("localhost:5000/node-example", "localhost:5000/node-example"),
])
def test_image_repository_drops_tag_and_digest(image, repo):
    assert image_repository(image) == repo


@pytest.mark.parametrize("artifact, container, expected", [
    ("node-example", "node-example:9233d8bc", True),
    ("node-example", "gcr.io/proj/node-example:abc", True),
    ("node-example", "registry:5000/x/node-example@sha256:" + "c" * 64, True),
    ("gcr.io/proj/node-example", "node-example:abc", True),
    ("node-example", "node-example-worker:abc", False),
    ("node-example", "gcr.io/node-example/other:abc", False),
    ("example", "node-example:abc", False),
])
def test_image_matches_whatever_tag_or_registry(artifact, container, expected):
    assert image_matches(artifact, container) is expected


def test_chooses_the_container_that_runs_the_image_and_says_which():
    pods = [pod("web-1", [("proxy", "envoy:1.30"), ("web", "gcr.io/p/node-example:abc")])]
    choice = choose(pods)
    assert (choice.pod, choice.container, choice.namespace) == ("web-1", "web", "default")
    assert choice.describe() == "pod default/web-1 (container web)"


def test_prefers_ready_then_newest_then_name_and_is_deterministic():
    old_ready = pod("web-old", [("web", "node-example:1")], age=30)
    new_unready = pod("web-new", [("web", "node-example:2")], age=1, ready=False)
    assert choose([new_unready, old_ready]).pod == "web-old"  # ready beats newer

    a = pod("web-a", [("web", "node-example:2")], age=5)
    b = pod("web-b", [("web", "node-example:2")], age=5)
    newest = pod("web-z", [("web", "node-example:3")], age=2)
    assert choose([a, b, newest]).pod == "web-z"
    assert choose([b, a]).pod == choose([a, b]).pod == "web-a"  # same age: by name, in any order
    assert choose([a, b, newest]).candidates == 3


def test_a_pod_being_deleted_gives_way_to_its_replacement():
    """A redeploy: the old pod still runs while it terminates; the new one is chosen once it runs."""
    old = pod("web-7d9c", [("web", "node-example:1")], age=10, deleting=True)
    new_starting = pod("web-8f2a", [("web", "node-example:2")], phase="Pending", state="waiting",
                       reason="ContainerCreating")
    assert choose([old, new_starting]).pod == "web-7d9c"
    new_running = pod("web-8f2a", [("web", "node-example:2")], ready=False)
    assert choose([old, new_running]).pod == "web-8f2a"


def test_container_name_narrows_the_choice():
    pods = [pod("web-1", [("web", "node-example:1"), ("worker", "node-example:1")])]
    assert choose(pods).container == "web"  # by name when both run the image
    assert choose(pods, container="worker").container == "worker"
    with pytest.raises(NoPodError, match="in a container named 'api'"):
        choose(pods, container="api")


def test_no_matching_pod_names_what_was_searched():
    pods = [pod("db-0", [("db", "postgres:16")]), pod("cache-0", [("redis", "docker.io/library/redis:7")])]
    with pytest.raises(NoPodError) as caught:
        choose_pod(pods, "node-example", namespace="team-a", context="kind-dev", selector="app=web")
    message = str(caught.value)
    assert isinstance(caught.value, TransportError)
    for word in ("'node-example'", "namespace 'team-a'", "context 'kind-dev'", "label selector 'app=web'",
                 "postgres", "docker.io/library/redis"):
        assert word in message
    with pytest.raises(NoPodError, match="there are no pods there"):
        choose_pod([], "node-example", namespace="default")


def test_a_pod_that_does_not_run_gives_its_phase_and_reason():
    pulling = pod("web-1", [("web", "node-example:abc")], phase="Pending", state="waiting",
                  reason="ImagePullBackOff", message='Back-off pulling image "node-example:abc"')
    with pytest.raises(PodNotRunningError) as caught:
        choose([pulling])
    assert str(caught.value) == (
        'pod default/web-1 (container web) is not running: Pending: ImagePullBackOff: '
        'Back-off pulling image "node-example:abc". To see why: kubectl describe pod -n default web-1')

    crashed = pod("web-2", [("web", "node-example:abc")], phase="Failed", state="terminated", reason="Error")
    with pytest.raises(PodNotRunningError, match="is not running: Failed: Error"):
        choose([crashed])


def test_a_pod_no_node_fits_says_what_to_check():
    """The scheduler's verdict on a pod whose nodeSelector no node has, as it writes it."""
    from kubernetes.client import V1PodCondition

    stuck = pod("web-1", [("web", "node-example:abc")], phase="Pending", node=None)
    stuck.status.container_statuses = None
    stuck.status.conditions = [V1PodCondition(
        type="PodScheduled", status="False", reason="Unschedulable",
        message="0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.")]
    with pytest.raises(PodNotRunningError) as caught:
        choose([stuck], context="dev")
    assert str(caught.value) == (
        "pod default/web-1 (container web) is not running: Pending: not scheduled to a node yet (Unschedulable: "
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.). No node fits it: check "
        "its nodeSelector, affinity, tolerations and resource requests against the nodes (kubectl get nodes "
        "--show-labels --context dev). To see why: kubectl describe pod -n default --context dev web-1")

    waiting = pod("web-2", [("web", "node-example:abc")], phase="Pending", node=None)  # not looked at yet
    waiting.status.container_statuses = None
    with pytest.raises(PodNotRunningError) as caught:
        choose([waiting])
    assert "No node fits" not in str(caught.value)


def test_a_running_pod_whose_container_waits_is_not_chosen():
    crashlooping = pod("web-1", [("web", "node-example:abc")], phase="Running", state="waiting",
                       reason="CrashLoopBackOff", message="back-off 5m0s restarting failed container")
    with pytest.raises(PodNotRunningError, match="Running: CrashLoopBackOff: back-off 5m0s"):
        choose([crashlooping])


async def test_waits_for_the_pod_to_run_and_says_what_it_waits_for():
    """The waiting loop, fed the pods a cluster would list in turn during a rollout."""
    rollout = [
        [],
        [pod("web-1", [("web", "node-example:1")], phase="Pending", state="waiting", reason="ContainerCreating")],
        [pod("web-1", [("web", "node-example:1")], phase="Pending", state="waiting", reason="ContainerCreating")],
        [pod("web-1", [("web", "node-example:1")], ready=False)],
    ]
    listed, heard = [], []

    async def list_pods():
        listed.append(1)
        return rollout[min(len(listed), len(rollout)) - 1]

    choice = await wait_for_pod(list_pods, choose, timeout=600, poll_interval=0.01, on_wait=heard.append)
    assert (choice.pod, choice.ready) == ("web-1", False)
    assert len(listed) == 4
    assert len(heard) == 2  # told once per distinct reason, not on every poll
    assert heard[0].startswith("waiting up to 600 s: no pod runs image 'node-example'")
    assert heard[1] == ("waiting up to 600 s: pod default/web-1 (container web) is not running: "
                        "Pending: ContainerCreating")


async def test_gives_up_after_its_timeout_with_the_last_reason():
    async def list_pods():
        return [pod("web-1", [("web", "node-example:1")], phase="Pending", state="waiting",
                    reason="ErrImagePull", message="manifest unknown")]

    with pytest.raises(PodNotRunningError) as caught:
        await wait_for_pod(list_pods, choose, timeout=0, poll_interval=0.01)
    assert str(caught.value) == ("pod default/web-1 (container web) is not running: Pending: ErrImagePull: "
                                 "manifest unknown (waited 0 s). "
                                 "To see why: kubectl describe pod -n default web-1")


def test_the_transport_follows_a_replaced_pod_and_says_so():
    """What `command()` does on each reconnection, given the pods listed before and after a redeploy."""
    from downstream_sync.cluster.kubernetes import KubernetesTransport

    moves = []
    t = KubernetesTransport("node-example", None, None, None, on_choice=lambda new, old: moves.append((new, old)))
    before = [pod("web-7d9c", [("web", "node-example:1")], age=10)]
    t.adopt(choose(before))
    assert t.advice == HELPER_ADVICE
    t.adopt(choose(before))  # a reconnection to the same pod is not news
    after = [pod("web-7d9c", [("web", "node-example:1")], age=10, deleting=True),
             pod("web-8f2a", [("web", "node-example:2")], age=0)]
    t.adopt(choose(after))
    assert [(new.pod, old.pod if old else None) for new, old in moves] == [("web-7d9c", None), ("web-8f2a", "web-7d9c")]
    assert t.describe() == "pod default/web-8f2a (container web)"
    # Its helper may not listen yet: what the user reads while the session retries says so first.
    assert t.advice == ("the helper of this pod, which replaced the previous one, may still be starting (this is "
                        f"retried); if it never answers, {HELPER_ADVICE}")
