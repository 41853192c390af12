"""Test equipment: a real Kubernetes control plane on loopback, or the cluster a context names.

`ControlPlane` runs the real etcd and the real kube-apiserver that tests/cluster/build.sh builds
from Go modules (into .tools/cluster/bin), the way controller-runtime's envtest does: etcd with
`--unsafe-no-fsync` on a temporary data dir, the API server on a loopback port with a static
token for an admin (group system:masters), RBAC and Node authorization, a service-account key
pair made with openssl. Without kube_controllers.py (the scheduler and the controller manager,
for the tests that ask for them) pods are bound by setting spec.nodeName, and namespaces and
service accounts are made by the tests.

`Cluster` is what the tests use: a kubeconfig, a context, kubectl, and the namespaces they make.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / ".tools" / "cluster" / "bin"
WAIT = 60.0  # a bound on what must happen, never a measure
CONTEXT_ENV = "DOWNSTREAM_SYNC_E2E_CONTEXT"
NODE_NAME = "ds-e2e-node"  # the kubelet of kube_node.py registers it


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def missing_binaries(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not os.access(BIN / n, os.X_OK)]


class Process:
    """A background process whose output goes to a log file; stopped by its PID."""

    def __init__(self, name: str, argv: list[str], log: pathlib.Path, env: dict | None = None):
        self.name, self.log = name, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(ready, what: str, processes: list, interval: float) -> None:
    """Poll `ready` until it holds, failing at once when one of `processes` died, and after WAIT."""
    deadline = time.monotonic() + WAIT
    while not ready():
        for p in processes:
            p.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {WAIT:.0f} s for {what}:\n{processes[-1].tail()}")
        time.sleep(interval)


class ControlPlane:
    """etcd and kube-apiserver on loopback, with a kubeconfig for the admin (context `admin`)."""

    def __init__(self, where: pathlib.Path):
        self.where = where
        self.processes: list[Process] = []
        self.admin_token = secrets.token_hex(16)
        self.node_token = secrets.token_hex(16)
        # The controller manager's and the scheduler's users (kube_controllers.py), bound by the
        # API server's bootstrap RBAC policy to their roles.
        self.component_tokens = {user: secrets.token_hex(16)
                                 for user in ("system:kube-controller-manager", "system:kube-scheduler")}
        self.kubeconfig = where / "kubeconfig"
        self.server = ""
        self.ca = where / "apiserver" / "apiserver.crt"

    def start(self) -> "ControlPlane":
        try:
            self._etcd()
            self._apiserver()
        except BaseException:
            self.stop()
            raise
        return self

    def _etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self.processes.append(Process("etcd", [
            str(BIN / "etcd"), "--data-dir", str(self.where / "etcd"), "--unsafe-no-fsync",
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "warn",
        ], self.where / "etcd.log"))
        self._wait(lambda: _http_ok(f"{self.etcd_url}/health"), "etcd to answer /health")

    def _apiserver(self) -> None:
        certs = self.where / "apiserver"
        certs.mkdir()
        key, pub = certs / "sa.key", certs / "sa.pub"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
        tokens = certs / "tokens.csv"
        tokens.write_text(f'{self.admin_token},admin,admin,"system:masters"\n'
                          f'{self.node_token},system:node:{NODE_NAME},kubelet,"system:nodes"\n'
                          + "".join(f"{token},{user},{user}\n" for user, token in self.component_tokens.items()))
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        self.processes.append(Process("kube-apiserver", [
            str(BIN / "kube-apiserver"), "--etcd-servers", self.etcd_url,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(port),
            "--cert-dir", str(certs), "--token-auth-file", str(tokens),
            "--authorization-mode", "Node,RBAC", "--service-cluster-ip-range", "10.0.0.0/24",
            "--service-account-issuer", self.server, "--service-account-key-file", str(pub),
            "--service-account-signing-key-file", str(key), "--disable-admission-plugins", "ServiceAccount",
            "--allow-privileged=true", "--kubelet-preferred-address-types", "InternalIP",
            "--endpoint-reconciler-type", "none",
        ], self.where / "kube-apiserver.log"))
        self._wait(lambda: self.ca.exists() and _http_ok(f"{self.server}/readyz", self.admin_token, self.ca),
                   "kube-apiserver to answer /readyz")
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig(self.server, self.ca, {"admin": self.admin_token})))

    def _wait(self, ready, what: str) -> None:
        wait_for(ready, what, self.processes, 0.2)

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()



def kubeconfig(server: str, ca: pathlib.Path | None, users: dict[str, str], namespace: str | None = None,
               ca_data: str | None = None) -> dict:
    """A kubeconfig with one context per token user, named for the user."""
    cluster: dict = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    elif ca:
        cluster["certificate-authority"] = str(ca)
    contexts = []
    for name in users:
        ctx = {"cluster": "e2e", "user": name}
        if namespace:
            ctx["namespace"] = namespace
        contexts.append({"name": name, "context": ctx})
    return {
        "apiVersion": "v1", "kind": "Config", "clusters": [{"name": "e2e", "cluster": cluster}],
        "contexts": contexts, "current-context": next(iter(users)),
        "users": [{"name": n, "user": {"token": t}} for n, t in users.items()],
    }


def _http_ok(url: str, token: str | None = None, ca: pathlib.Path | None = None) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as answer:
            return answer.status == 200
    except OSError:
        return False


class Cluster:
    """The cluster the tests use: kubectl with an admin kubeconfig and context, and helpers."""

    def __init__(self, kubeconfig: pathlib.Path | None, context: str | None, kubectl: str):
        self.kubeconfig, self.context, self.kubectl_path = kubeconfig, context, kubectl

    def argv(self, *args: str) -> list[str]:
        argv = [self.kubectl_path]
        if self.kubeconfig:
            argv += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            argv += ["--context", self.context]
        return argv + list(args)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(self.argv(*args), input=input, capture_output=True, text=True, timeout=WAIT)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def apply(self, objects: list[dict] | dict, namespace: str | None = None) -> None:
        items = objects if isinstance(objects, list) else [objects]
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        self.kubectl(*(["-n", namespace] if namespace else []), "apply", "-f", "-", input=doc)

    def get(self, kind: str, name: str, namespace: str) -> dict:
        return json.loads(self.kubectl("-n", namespace, "get", kind, name, "-o", "json").stdout)

    def cluster_entry(self) -> tuple[str, str]:
        """The API server's URL and its CA (base64 PEM) as the admin context sees them."""
        view = json.loads(self.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout)
        cluster = view["clusters"][0]["cluster"]
        return cluster["server"], cluster.get("certificate-authority-data", "")

    def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.kubectl("create", "namespace", name)
        return name

    def delete_namespace(self, name: str) -> None:
        self.kubectl("delete", "namespace", name, "--wait=false", check=False)

    def user_kubeconfig(self, path: pathlib.Path, namespace: str, account: str) -> pathlib.Path:
        """A kubeconfig (context `user`) for a token of the service account `account`."""
        token = self.kubectl("-n", namespace, "create", "token", account, "--duration", "1h").stdout.strip()
        server, ca = self.cluster_entry()
        path.write_text(yaml.safe_dump(kubeconfig(server, None, {"user": token}, namespace, ca_data=ca)))
        return path


def from_context(context: str) -> Cluster:
    """The cluster `context` names in the user's kubeconfig (KUBECONFIG or ~/.kube/config)."""
    kubectl = shutil.which("kubectl") or str(BIN / "kubectl")
    return Cluster(None, context, kubectl)
