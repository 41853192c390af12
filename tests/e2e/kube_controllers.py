"""Test equipment: the real kube-controller-manager and kube-scheduler for kube_testbed.py's control
plane, so that Deployments get ReplicaSets and pods, and pods get a node.

Both come from the same k8s.io/kubernetes module as the API server (tests/cluster/build.sh) and
run as a local cluster runs them: each with a kubeconfig for a token user of its own
(system:kube-controller-manager, system:kube-scheduler: ControlPlane.component_tokens), which the
API server's bootstrap RBAC policy binds to their roles; the controllers act through service
accounts of their own (`--use-service-account-credentials`); the controller manager signs legacy
service-account tokens with the key the API server verifies; no leader election; secure ports on
free loopback ports, healthy when /healthz answers. Only the controllers the tests need run.
"""

from __future__ import annotations

import json
import pathlib
import time

import yaml

from kube_testbed import BIN, NODE_NAME, ControlPlane, Process, _http_ok, free_port, kubeconfig, wait_for

# What a Deployment, its pods' replacement and a namespace's deletion need, and the node lifecycle
# controller, which lifts the not-ready taint the kubelet registers its node with once it is Ready.
CONTROLLERS = ("deployment-controller", "replicaset-controller", "garbage-collector-controller",
               "namespace-controller", "serviceaccount-controller", "serviceaccount-token-controller",
               "node-lifecycle-controller")


class Controllers:
    """kube-controller-manager and kube-scheduler of `plane`; `ready_in` says how long each took
    from its start to a healthy /healthz (seconds, a figure for the test output)."""

    def __init__(self, plane: ControlPlane, where: pathlib.Path):
        self.plane, self.where = plane, where
        self.processes: list[Process] = []
        self.ready_in: dict[str, float] = {}

    def start(self) -> "Controllers":
        try:
            self._component("kube-controller-manager", [
                "--use-service-account-credentials=true",
                "--service-account-private-key-file", str(self.plane.ca.parent / "sa.key"),
                "--root-ca-file", str(self.plane.ca), "--controllers", ",".join(CONTROLLERS),
            ])
            self._component("kube-scheduler", [])
        except BaseException:
            self.stop()
            raise
        return self

    def _component(self, name: str, flags: list[str]) -> None:
        user = f"system:{name}"
        root = self.where / name
        root.mkdir()
        kc = root / "kubeconfig"
        kc.write_text(yaml.safe_dump(kubeconfig(self.plane.server, self.plane.ca,
                                                {user: self.plane.component_tokens[user]})))
        port = free_port()
        started = time.monotonic()
        self.processes.append(Process(name, [
            str(BIN / name), "--kubeconfig", str(kc), "--authentication-kubeconfig", str(kc),
            "--authorization-kubeconfig", str(kc), "--bind-address", "127.0.0.1", "--secure-port", str(port),
            "--cert-dir", str(root / "pki"), "--leader-elect=false", *flags,
        ], self.where / f"{name}.log"))
        wait_for(lambda: _healthy(port, root / "pki" / f"{name}.crt"), f"{name} to answer /healthz",
                 self.processes, 0.2)
        self.ready_in[name] = time.monotonic() - started

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()


def _healthy(port: int, cert: pathlib.Path) -> bool:
    """/healthz answers 200 over TLS checked against the component's own certificate (which it
    writes at start: not there, or not whole yet, is not healthy yet)."""
    try:
        return _http_ok(f"https://127.0.0.1:{port}/healthz", ca=cert)
    except (OSError, ValueError):  # ssl.SSLError while the certificate file is being written
        return False


def wait_schedulable(cluster, processes: list[Process]) -> dict:
    """The test node once it is Ready and has no NoSchedule or NoExecute taint (the scheduler would
    bind no pod to it); RuntimeError saying what it has when that does not come."""
    seen: dict = {}

    def schedulable() -> bool:
        got = cluster.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if got.returncode != 0:
            return False
        seen.update(json.loads(got.stdout))
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in seen["status"].get("conditions", []))
        blocking = [t for t in seen["spec"].get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        return ready and not blocking and not seen["spec"].get("unschedulable")

    try:
        wait_for(schedulable, f"node {NODE_NAME} to be Ready and untainted", processes, 0.5)
    except RuntimeError as error:
        raise RuntimeError(f"{error}\nnode spec: {json.dumps(seen.get('spec'))}\n"
                           f"conditions: {json.dumps((seen.get('status') or {}).get('conditions'))}") from None
    return seen
