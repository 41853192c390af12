"""Test equipment: a node that runs pods as real containers, for the control plane of kube_testbed.py.

The real kubelet (k8s.io/kubernetes, the same release as the API server) talks CRI to the real
containerd v2, which runs each container with Debian's runc through containerd-shim-runc-v2 - the
binaries tests/cluster/build.sh builds. Set for these machines: cgroup v1 with the cgroupfs driver,
no QoS cgroups, no OOM score changes (lowering one is refused here), no swap check, host-network
pods only (a CNI configuration so that the node is Ready, but no plugin), images imported into
containerd (`ctr images import`) or pulled from a registry it is told of (`trust_plain_http`: a
hosts.toml under its `config_path`),
and a node IP on a veth pair the node makes (the kubelet refuses loopback). The kubelet accepts
the API server anonymously (a test bed on a private address); its serving certificate is its own.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import re
import subprocess
import tempfile
import time

import yaml

from kube_testbed import BIN, NODE_NAME, WAIT, Process, free_port, kubeconfig, wait_for

VETH_PREFIX = "dse2e-"  # a node's veth pair is dse2e-PIDa / dse2e-PIDb, PID the test run's
PAUSE_IMAGE = "docker.io/ds-e2e/pause:1"
NAMESPACE = "k8s.io"  # containerd's namespace for CRI
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def oci_archive(out: pathlib.Path, rootfs: pathlib.Path, *, entrypoint: list[str], cmd: list[str] = (),
                env: list[str] = (), workdir: str = "/") -> pathlib.Path:
    """An OCI image archive (tagged `1`) of the folder `rootfs`, made with umoci."""
    with tempfile.TemporaryDirectory() as work:
        layout = f"{work}/layout"
        run = lambda *a: subprocess.run(["umoci", *a], check=True, capture_output=True, timeout=WAIT)  # noqa: E731
        run("init", "--layout", layout)
        run("new", "--image", f"{layout}:1")
        run("insert", "--image", f"{layout}:1", str(rootfs), "/")
        flags = ["--os", "linux", "--architecture", ARCH, "--config.workingdir", workdir]
        for word in entrypoint:
            flags += ["--config.entrypoint", word]
        for word in cmd:
            flags += ["--config.cmd", word]
        for e in env:
            flags += ["--config.env", e]
        run("config", "--image", f"{layout}:1", *flags)
        subprocess.run(["tar", "-C", layout, "-cf", str(out), "."], check=True)
    return out


def _remove_leftover_veths() -> None:
    """Delete the veth pairs of test runs that were killed (their PID is gone)."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for name in re.findall(rf"^\d+: ({VETH_PREFIX}(\d+)a)@", links, re.M):
        if not pathlib.Path(f"/proc/{name[1]}").exists():
            subprocess.run(["ip", "link", "del", name[0]], capture_output=True)


def busybox_rootfs(where: pathlib.Path) -> pathlib.Path:
    """A root file system with busybox and its applets in /bin, /tmp, and /etc/passwd for root."""
    for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
        (where / d).mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "/bin/busybox", str(where / "bin" / "busybox")], check=True)
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not (where / "bin" / applet).exists():
            (where / "bin" / applet).symlink_to("busybox")
    (where / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (where / "etc" / "group").write_text("root:x:0:\n")
    return where


class Node:
    """containerd and the kubelet, registered as node `ds-e2e-node` at `self.ip`, an address of
    10.213.0.0/16 no other run on this machine holds (runs side by side do not collide)."""

    def __init__(self, where: pathlib.Path, server: str, ca: pathlib.Path, token: str):
        self.where, self.server, self.ca, self.token = where, server, ca, token
        self.processes: list[Process] = []
        self.socket = where / "containerd" / "containerd.sock"
        self.veth: tuple[str, str] | None = None
        self.ip = ""

    # set-up --------------------------------------------------------------------------------

    def start(self) -> "Node":
        try:
            self._veth()
            self._containerd()
            self.import_image(oci_archive(self.where / "pause.tar", busybox_rootfs(self.where / "pause-rootfs"),
                                          entrypoint=["/bin/sleep", "2147483647"]), PAUSE_IMAGE)
            self._kubelet()
        except BaseException:
            self.stop()
            raise
        return self

    def _veth(self) -> None:
        _remove_leftover_veths()
        pid = os.getpid()
        self.veth = (f"{VETH_PREFIX}{pid}a", f"{VETH_PREFIX}{pid}b")
        subprocess.run(["ip", "link", "del", self.veth[0]], capture_output=True)
        subprocess.run(["ip", "link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1]],
                       check=True, capture_output=True)
        used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
        free = [f"10.213.{(pid + n) % 250 + 1}.1" for n in range(250)]
        self.ip = next(ip for ip in free if f" {ip}/" not in used)
        subprocess.run(["ip", "addr", "add", f"{self.ip}/30", "dev", self.veth[0]], check=True)
        for dev in self.veth:
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)

    def _containerd(self) -> None:
        root = self.where / "containerd"
        root.mkdir()
        # A pod network the runtime reports ready (the node is Ready, the scheduler binds pods to
        # it), which no pod uses: every pod here is host-network, so no CNI plugin ever runs.
        (root / "cni").mkdir()
        (root / "cni" / "10-ds-e2e.conflist").write_text(json.dumps(
            {"cniVersion": "1.0.0", "name": "ds-e2e-host-only", "plugins": [{"type": "loopback"}]}))
        stream_port = free_port()
        config = root / "config.toml"
        config.write_text(f"""\
version = 3
root = "{root}/root"
state = "{root}/state"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = "{root}/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{root}/certs.d"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    conf_dir = "{root}/cni"
    bin_dirs = ["{root}/cni-bin"]
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
    BinaryName = "/usr/sbin/runc"
    Root = "{root}/runc"
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "{stream_port}"
""")
        env = {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin"}
        self.processes.append(Process("containerd", [str(BIN / "containerd"), "--config", str(config)],
                                      self.where / "containerd.log", env=env))
        self._wait(lambda: self.ctr("version", check=False).returncode == 0, "containerd to answer")

    def _kubelet(self) -> None:
        root = self.where / "kubelet"
        root.mkdir()
        kc = root / "kubeconfig"
        kc.write_text(yaml.safe_dump(kubeconfig(self.server, self.ca, {NODE_NAME: self.token})))
        self.port = free_port(self.ip)
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": self.ip, "port": self.port, "readOnlyPort": 0, "healthzPort": 0,
            "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
            "cgroupsPerQOS": False, "enforceNodeAllocatable": [], "oomScoreAdj": 0,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False},
                               "x509": {}},
            "authorization": {"mode": "AlwaysAllow"},
            "podLogsDir": str(root / "pod-logs"), "resolvConf": "",
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "makeIPTablesUtilChains": False, "localStorageCapacityIsolation": False,
            "registerNode": True, "syncFrequency": "5s", "fileCheckFrequency": "5s",
            # An imported image and the same image pulled from a registry share an image ID; once the
            # kubelet has pulled it, it would refuse the imported name (pull policy Never) otherwise.
            "imagePullCredentialsVerificationPolicy": "NeverVerify",
        }))
        self.processes.append(Process("kubelet", [
            str(BIN / "kubelet"), "--config", str(config), "--kubeconfig", str(kc), "--root-dir", str(root / "root"),
            "--cert-dir", str(root / "pki"), "--node-ip", self.ip, "--hostname-override", NODE_NAME, "--v", "1",
        ], self.where / "kubelet.log", env={"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin"}))

    def _wait(self, ready, what: str) -> None:
        wait_for(ready, what, self.processes, 0.5)

    # use -----------------------------------------------------------------------------------

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / "ctr"), "--address", str(self.socket), "--namespace", NAMESPACE, *args],
                              capture_output=True, text=True, timeout=WAIT)
        if check and done.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def import_image(self, archive: pathlib.Path, name: str) -> None:
        """Import an OCI archive made by oci_archive() as image `name` (REPOSITORY:1)."""
        self.ctr("images", "import", "--base-name", name.rsplit(":", 1)[0], str(archive))
        listed = self.ctr("images", "ls", "-q").stdout.split()
        if name not in listed:
            raise RuntimeError(f"ctr images import of {archive} did not give {name}: {listed}")

    def trust_plain_http(self, host: str) -> None:
        """Let containerd pull from the registry at `host` (host:port) over plain HTTP: a hosts.toml
        in its registry config_path, which it reads at each pull."""
        folder = self.where / "containerd" / "certs.d" / host
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "hosts.toml").write_text(f'server = "http://{host}"\n\n[host."http://{host}"]\n'
                                           '  capabilities = ["pull", "resolve"]\n')

    # tear-down -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the kubelet, then every container it left, then containerd; unmount what is left."""
        kubelet = [p for p in self.processes if p.name == "kubelet"]
        for p in kubelet:
            p.stop()
        if any(p.name == "containerd" for p in self.processes):
            for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
            deadline = time.monotonic() + 15
            while self.ctr("tasks", "ls", "-q", check=False).stdout.split() and time.monotonic() < deadline:
                for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                    self.ctr("tasks", "delete", "-f", task, check=False)
                time.sleep(0.2)
            for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                self.ctr("containers", "delete", container, check=False)
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()
        self._unmount()
        if self.veth:
            subprocess.run(["ip", "link", "del", self.veth[0]], capture_output=True)
            self.veth = None

    def _unmount(self) -> None:
        prefix = str(self.where) + "/"
        mounts = [line.split()[1] for line in pathlib.Path("/proc/self/mounts").read_text().splitlines()]
        for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True)


PROBE_IMAGE = "docker.io/ds-e2e/probe:1"


def preflight(node: Node, cluster) -> None:
    """The node registers, runs a host-network pod from an imported image, and `kubectl exec`
    reaches it through the API server and the kubelet; RuntimeError saying which step failed."""
    node.import_image(oci_archive(node.where / "probe.tar", busybox_rootfs(node.where / "probe-rootfs"),
                                  entrypoint=["/bin/sleep", "2147483647"]), PROBE_IMAGE)
    node._wait(lambda: cluster.kubectl("get", "node", NODE_NAME, check=False).returncode == 0,
               f"node {NODE_NAME} to register")
    cluster.kubectl("create", "namespace", "ds-e2e-preflight")
    try:
        cluster.apply(host_pod("probe", PROBE_IMAGE), "ds-e2e-preflight")
        wait_running(cluster, "ds-e2e-preflight", "probe", node)
        said = cluster.kubectl("-n", "ds-e2e-preflight", "exec", "probe", "--", "echo", "exec works", check=False)
        if said.stdout.strip() != "exec works":
            raise RuntimeError(f"kubectl exec into the probe pod failed: {said.stderr.strip()}")
    finally:
        cluster.kubectl("delete", "namespace", "ds-e2e-preflight", "--wait=false", check=False)


def host_pod(name: str, image: str, **container) -> dict:
    """A host-network pod bound to the test node, running `image` as imported (never pulled)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": NODE_NAME, "hostNetwork": True, "terminationGracePeriodSeconds": 5,
                     "containers": [{"name": "app", "image": image, "imagePullPolicy": "Never", **container}]}}


def wait_running(cluster, namespace: str, name: str, node: Node | None = None) -> dict:
    """The pod once all its containers run; RuntimeError with its status when it does not."""
    deadline = time.monotonic() + WAIT
    while True:
        pod = json.loads(cluster.kubectl("-n", namespace, "get", "pod", name, "-o", "json").stdout)
        statuses = pod.get("status", {}).get("containerStatuses") or []
        if pod["status"].get("phase") == "Running" and statuses and all(s.get("ready") for s in statuses):
            return pod
        if time.monotonic() > deadline:
            logs = node.processes[-1].tail() if node and node.processes else ""
            raise RuntimeError(f"pod {namespace}/{name} did not run within {WAIT:.0f} s: "
                               f"{json.dumps(pod.get('status'))}\n{logs}")
        time.sleep(0.5)
