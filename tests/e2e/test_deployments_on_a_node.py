"""The example app as a Deployment on the test node, with the real controller manager and scheduler
(kube_controllers.py): injected by `downstream-sync inject`, applied with `kubectl apply`, its pods
made by the ReplicaSet and bound by the scheduler. A live `downstream-sync start` finds every
file and no excluded one, follows the pod that replaces a deleted one, and of two replicas uses
one and names it; a pod no node fits and a container that crashes say which pod, which container
and what to do.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kube_node import busybox_rootfs, oci_archive
from kube_testbed import WAIT
from e2e_example import CLI, SKAFFOLD, cli_env, downstream_sync, wait_for_file
from e2e_images import APP, APP_CONFIG

EXPECTED = ["abc/aa.js", "src/a.js", "src/pod.txt", "src/renamed.js"]
CRASH_IMAGE = "docker.io/ds-e2e/crashing:1"
# The example app, after it wrote the name of the pod it runs in to src/pod.txt.
NAMED_APP = 'mkdir -p src && echo "$POD_NAME" > src/pod.txt && exec /bin/sh /app/run.sh'


@pytest.fixture(scope="module")
def crashing_image(node, images):
    """An image whose entrypoint fails at once, as an app missing its configuration does."""
    where = node.where / "crashing"
    rootfs = busybox_rootfs(where / "rootfs")
    node.import_image(oci_archive(where / "crashing.tar", rootfs, entrypoint=[
        "/bin/sh", "-c", "echo 'example-app: no configuration in /etc/example' >&2; exit 3"]), CRASH_IMAGE)


def deployment(name: str, images, replicas: int = 1) -> dict:
    """The example app as a Deployment of host-network pods that run the test's image, with no
    nodeName: the scheduler binds them."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 5, "containers": [{
                "name": "app", "image": images.app, "imagePullPolicy": images.pull_policy,
                "command": ["/bin/sh", "-c"], "args": [NAMED_APP],
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}}


def deploy(cluster, images, namespace: str, project: Path, replicas: int = 1) -> None:
    """Inject the helper into the example Deployment and apply it."""
    (project / "skaffold.yaml").write_text(SKAFFOLD)
    (project / "app.json").write_text(json.dumps(APP_CONFIG))
    injected = downstream_sync(cluster, "inject", "--image-config", f"{APP}=app.json",
                               "--helper-image", images.helper, cwd=project,
                               input=json.dumps(deployment("example", images, replicas)))
    assert injected.returncode == 0, injected.stderr
    assert "/sync-helper/app-server" in injected.stdout
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=injected.stdout)


def running_pods(cluster, namespace: str, count: int, exclude: tuple[str, ...] = ()) -> list[dict]:
    """The example's pods once `count` of them (none of `exclude`) run ready and are not being
    deleted; AssertionError with their statuses when they do not within WAIT."""
    deadline = time.monotonic() + WAIT
    while True:
        pods = json.loads(cluster.kubectl("-n", namespace, "get", "pods", "-l", "app=example", "-o", "json").stdout)
        up = [p for p in pods["items"] if p["metadata"]["name"] not in exclude
              and not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running"
              and all(s.get("ready") for s in p["status"].get("containerStatuses") or [{}])]
        if len(up) == count:
            return up
        assert time.monotonic() < deadline, f"{count} example pods did not run: " + json.dumps(
            [(p["metadata"]["name"], p["spec"].get("nodeName"), p["status"]) for p in pods["items"]])
        time.sleep(0.5)


def text(path: Path) -> str | None:
    """The file's text, None while it is not there (a new pod's reconcile may remove it a moment)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def synced(project: Path, pod: str) -> bool:
    """Whether the local tree is the example app's, as `pod` wrote it, and no excluded file."""
    local = project / "node"
    return (local_files(project) == EXPECTED and text(local / "src" / "pod.txt") == f"{pod}\n"
            and text(local / "src" / "a.js") == 'console.log("a")\nconsole.log("modified")\n')


def local_files(project: Path) -> list[str]:
    local = project / "node"
    return sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) if local.exists() else []


class Live:
    """`downstream-sync start` as a user runs it, its terminal read line by line."""

    def __init__(self, cluster, namespace: str, project: Path):
        self.proc = subprocess.Popen([*CLI, "start", "--context", cluster.context or "", "-n", namespace],
                                     cwd=project, env=cli_env(cluster), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._new: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def output(self) -> str:
        while not self._new.empty():
            line = self._new.get()
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines)

    def until(self, holds, what: str) -> None:
        """Until `holds()` is true, reading the terminal meanwhile; fails when the CLI ended or after WAIT."""
        deadline = time.monotonic() + WAIT
        while not holds():
            self.output()
            assert self.proc.poll() is None or not self._new.empty(), \
                f"the session ended ({self.proc.returncode}) before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"{what} did not happen within {WAIT:.0f} s:\n{self.output()}"
            time.sleep(0.2)

    def stop(self) -> int:
        """Ctrl+C, as the user stops it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(WAIT)  # the rest of its output
        self.output()
        return self.proc.returncode


def test_a_live_session_syncs_the_deployments_pod_and_follows_its_replacement(cluster, node, controllers, images,
                                                                             namespace, tmp_path):
    deploy(cluster, images, namespace, tmp_path)
    first = running_pods(cluster, namespace, 1)[0]["metadata"]["name"]
    live = Live(cluster, namespace, tmp_path)
    try:
        live.until(lambda: f"using pod {namespace}/{first} (container app)" in live.output(),
                   f"the session to choose {first}")
        live.until(lambda: synced(tmp_path, first) and "watching" in live.output(), "the first pod's files")

        cluster.kubectl("-n", namespace, "delete", "pod", first, "--wait=false")
        second = running_pods(cluster, namespace, 1, exclude=(first,))[0]["metadata"]["name"]
        live.until(lambda: synced(tmp_path, second), f"the files the replacement {second} writes")
        live.until(lambda: f"{first} is gone; following pod {namespace}/{second} (container app)" in live.output(),
                   "the terminal to name the pod the session moved to")
        # A replacement whose helper does not listen yet is retried, and said to be starting.
        for line in live.output().splitlines():
            if f"cannot reach the helper through pod {namespace}/{second}" in line:
                assert "may still be starting (this is retried)" in line, line
    finally:
        code = live.stop()
    assert code == 130, live.output()
    assert "Stopped." in live.output()


def test_of_two_replicas_one_is_chosen_named_and_synced(cluster, node, controllers, images, namespace, tmp_path):
    """Two host-network copies of the app side by side on one node (each helper's socket is in its
    own pod's /sync-helper): the CLI uses the newest, names it, and brings down its files."""
    deploy(cluster, images, namespace, tmp_path)
    running_pods(cluster, namespace, 1)
    cluster.kubectl("-n", namespace, "scale", "deployment", "example", "--replicas", "2")
    pods = running_pods(cluster, namespace, 2)
    newest = max(pods, key=lambda p: (p["metadata"]["creationTimestamp"],
                                      [-ord(c) for c in p["metadata"]["name"]]))["metadata"]["name"]
    for p in pods:
        wait_for_file(cluster, namespace, p["metadata"]["name"], "/tmp/done")
    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert f"using pod {namespace}/{newest} (container app) (of 2 candidates)" in pulled.stdout
    assert synced(tmp_path, newest)


def bare_pod(name: str, image: str, **spec) -> dict:
    """A host-network pod the scheduler places (no nodeName)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 5, **spec,
                     "containers": [{"name": "app", "image": image, "imagePullPolicy": "Never"}]}}


def wait_status(cluster, namespace: str, name: str, holds, what: str) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        status = cluster.get("pod", name, namespace)["status"]
        if holds(status):
            return status
        assert time.monotonic() < deadline, f"{namespace}/{name} never showed {what}: {json.dumps(status)}"
        time.sleep(0.5)


def test_a_pod_no_node_fits_says_what_the_scheduler_said_and_what_to_do(cluster, node, controllers, images,
                                                                       namespace, tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD)
    cluster.apply(bare_pod("example", "ds-e2e/example-app:1", nodeSelector={"ds-e2e/disk": "ssd"}), namespace)
    wait_status(cluster, namespace, "example", lambda s: any(
        c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable" for c in s.get("conditions") or []),
                "the scheduler's verdict")
    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace,
                             "--pod-timeout", "1", cwd=tmp_path)
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    said = pulled.stderr
    assert f"pod {namespace}/example (container app) is not running: Pending: not scheduled to a node yet" in said
    assert "didn't match Pod's node affinity/selector" in said  # the scheduler's own words
    assert "No node fits it: check its nodeSelector, affinity, tolerations and resource requests" in said
    assert f"kubectl describe pod -n {namespace} --context {cluster.context} example" in said


def test_a_crash_looping_container_says_its_exit_code_and_where_its_output_is(cluster, node, controllers, images,
                                                                              crashing_image, namespace, tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD.replace("ds-e2e/example-app", "ds-e2e/crashing"))
    cluster.apply(bare_pod("crashing", "ds-e2e/crashing:1"), namespace)
    # Between its restarts the container runs for a moment; a pull that starts then finds it
    # running. Each look waits for the back-off first; three such looks are the bound.
    for attempt in range(3):
        wait_status(cluster, namespace, "crashing", lambda s: any(
            c.get("restartCount", 0) >= 1 and (c.get("state", {}).get("waiting") or {}).get("reason")
            == "CrashLoopBackOff" for c in s.get("containerStatuses") or []), "CrashLoopBackOff")
        pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace,
                                 "--pod-timeout", "1", cwd=tmp_path)
        if "CrashLoopBackOff" in pulled.stderr:
            break
    said = pulled.stderr
    assert pulled.returncode == 1, pulled.stdout + said
    assert f"pod {namespace}/crashing (container app) is not running: Running: CrashLoopBackOff" in said
    assert "last exit code 3" in said
    assert f"kubectl logs -n {namespace} --context {cluster.context} crashing -c app --previous" in said
    # Where the advice sends the user: the app's own words (the kubelet may be swapping the
    # previous run's log for the next one's a moment: then it is asked again).
    deadline = time.monotonic() + WAIT
    while "no configuration in /etc/example" not in (logs := cluster.kubectl(
            "-n", namespace, "logs", "crashing", "-c", "app", "--previous", check=False).stdout):
        assert time.monotonic() < deadline, f"kubectl logs --previous never gave the app's output: {logs}"
        time.sleep(0.5)
