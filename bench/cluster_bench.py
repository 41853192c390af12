"""Through a real cluster and the real `kubectl exec`: Downstream Sync beside kubectl's own ways of
bringing files out of a pod, in the same run, on pods whose helper was injected (`downstream-sync
inject`, the standalone helper image):

  exec     the cost of one connection: `kubectl exec POD -- true` (the peer), app-connect through
           `kubectl exec -i` until the helper's first Watch message (what a session pays per
           connection), and a whole `downstream-sync pull` with nothing to bring (process start,
           pod list, the helper check and the connection), median of --execs;
  latency  a small file written in the container until identical bytes are on local disk, through
           a live session (`downstream-sync start`), p50/p99 over --writes writes; the peer, in the
           same loop: `kubectl exec POD -- cat` of a file written the same way, timed from its write;
  tree     a node_modules-like tree (--files files of 100 B to 64 KB, 2 to 6 folders deep): a first
           `downstream-sync pull` into an empty folder beside `kubectl cp` and `kubectl exec tar c |
           tar x` of the same tree: wall and CPU seconds of the local side (the process and the
           children it waited for), and of the helper on the test bed;
  large    one file of --large-mb MiB: pull beside `kubectl cp`: wall, throughput, and the peak RSS
           of the local side (all its processes together, sampled every 20 ms).

    .venv/bin/python bench/cluster_bench.py [--cases exec,latency,tree,large] [--runs 3] [--where tmpfs,disk]
    .venv/bin/python bench/cluster_bench.py --files 2000 --large-mb 256 --writes 50 --profile
    .venv/bin/python bench/cluster_bench.py --context CTX --helper-image REF --app-image busybox:1.37

Without --context it starts its own test bed, as root, with the modules of tests/e2e: etcd and
kube-apiserver on loopback (kube_testbed.py), the real kubelet, containerd and runc (kube_node.py),
the helper image of helper/image.sh and a busybox app image imported into containerd. With
--context it uses that cluster: the images must be pullable there (--helper-image, --app-image,
which needs sh and tar, as kubectl cp does). Local destinations are on a tmpfs the benchmark mounts
(the disk cannot hide software cost there) and on this machine's disk (bench/out/disk). Every copy is
checked against the tree that was sent up (every file's bytes). Each measure is the median of --runs
(spread: lowest and highest); ratios are ours / peer of the same run. Targets: pull of the tree
within 1.5x of kubectl cp on tmpfs, the large file at least 50% of kubectl cp's throughput, live
latency p50 below the peer's. `--profile` writes py-spy's collapsed stacks (every thread) of one
pull of the tree and one of the large file to bench/out/. Writes bench/out/cluster_bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_BIN = Path(sys.executable).parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from bulk_bench import make_tree  # noqa: E402
from engine_bench import pct  # noqa: E402

SPY = shutil.which("py-spy", path=str(VENV_BIN))
APP = "ds-bench/app"  # the artifact's image repository
TARGET_TREE = 1.5  # pull / kubectl cp, tmpfs
TARGET_LARGE = 0.5  # pull's throughput / kubectl cp's
PODS = ("exec", "live", "tree", "large")  # one pod per case, each injected from the same download stanza
SKAFFOLD = f"""\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: {APP}
    download:
      manual:
      - {{remoteSrc: src, localDst: out}}
"""
APP_SCRIPT = "mkdir -p /app/src /app/peer /app/incoming && exec sleep 2147483647"


# --- measuring processes ----------------------------------------------------------------------

def children_of() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree_of(pid: int) -> list[int]:
    kids, out, todo = children_of(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_of_tree(pid: int) -> float:
    """User + system CPU seconds of a process and every live descendant."""
    total = 0.0
    for p in tree_of(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_of_tree(pid: int) -> int:
    total = 0
    for p in tree_of(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(m.group(1)) * 1024 if m else 0
    return total


def timed(argv: list[str], *, env: dict | None = None, cwd: Path | None = None, shell: bool = False,
          sample_rss: bool = False, stdout=subprocess.DEVNULL) -> dict:
    """Run to its end: wall and CPU seconds (the process and the children it waited for), and with
    `sample_rss` the peak of the RSS of all its processes together. SystemExit when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, shell=shell, stdout=stdout, stderr=subprocess.PIPE)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss_of_tree(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True) if sample_rss else None
    if sampler:
        sampler.start()
    said: list[bytes] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: said.append(proc.stderr.read()), daemon=True)
    reader.start()  # read while it runs: a full pipe would stop it
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    reader.join(5)
    err = said[0] if said else b""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        what = argv if shell else " ".join(map(str, argv))
        raise SystemExit(f"{what} failed ({code}): {err.decode(errors='replace')[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_peak": peak[0],
            "maxrss": usage.ru_maxrss * 1024}


def spy_argv(out: Path) -> list[str]:
    return [SPY, "record", "--format", "raw", "--threads", "--subprocesses", "--rate", "250", "--nonblocking",
            "-o", str(out), "--"]


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            if rel.split("/", 1)[0] == ".downstream-sync":
                continue
            out[rel] = file_md5(p)
    return out


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def intact(row: dict, ok: bool, what: str) -> None:
    """Note in a measured row that its copy was checked; SystemExit when it is not the original."""
    row["intact"] = ok
    if not ok:
        raise SystemExit(f"{what} did not bring every byte of the original")


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


# --- the cluster ------------------------------------------------------------------------------

class Bed:
    """The cluster the benchmark runs on: its own test bed (tests/e2e) or a context's cluster."""

    def __init__(self, cluster, node=None, context: str | None = None):
        self.cluster, self.node = cluster, node
        self.context = context if context is not None else cluster.context
        self.env = {**os.environ}
        if cluster.kubeconfig:
            self.env["KUBECONFIG"] = str(cluster.kubeconfig)
        kubectl_dir = str(Path(cluster.kubectl_path).parent)
        self.env["PATH"] = f"{kubectl_dir}:{VENV_BIN}:{os.environ.get('PATH', '')}"

    def describe(self) -> str:
        return "test bed (kube-apiserver, kubelet, containerd, runc on this machine)" if self.node else \
            f"context {self.context}"

    def kubectl(self, *args: str) -> list[str]:
        return self.cluster.argv(*args)


@contextlib.contextmanager
def test_bed(where: Path):
    """etcd, kube-apiserver and a node of tests/e2e, started here and stopped after."""
    from kube_node import Node, preflight
    from kube_testbed import BIN, Cluster, ControlPlane

    (where / "control-plane").mkdir(parents=True)
    (where / "node").mkdir()
    plane = ControlPlane(where / "control-plane").start()
    node = None
    try:
        cluster = Cluster(plane.kubeconfig, "admin", str(BIN / "kubectl"))
        node = Node(where / "node", plane.server, plane.ca, plane.node_token).start()
        preflight(node, cluster)
        yield Bed(cluster, node)
    finally:
        if node is not None:
            node.stop()
        plane.stop()


def helper_version() -> str:
    text = (ROOT / "helper" / "pyproject.toml").read_text()
    return re.search(r'^version = "(.*)"', text, re.M).group(1)


def import_images(node, where: Path) -> tuple[str, str]:
    """The helper image of helper/image.sh and a busybox app image (with /app/src), imported into
    the test node; their references as a pod names them."""
    from kube_node import busybox_rootfs, oci_archive

    layout = where / "helper-image"
    subprocess.run(["bash", "helper/image.sh", str(layout)], cwd=ROOT, check=True, timeout=1800)
    subprocess.run(["tar", "-C", str(layout), "-cf", str(where / "helper.tar"), "."], check=True)
    helper = f"downstream-sync/helper:{helper_version()}"
    node.import_image(where / "helper.tar", f"docker.io/{helper}")
    rootfs = busybox_rootfs(where / "app-rootfs")
    for d in ("src", "peer", "incoming"):
        (rootfs / "app" / d).mkdir(parents=True)
    node.import_image(oci_archive(where / "app.tar", rootfs, entrypoint=["/bin/sleep", "2147483647"],
                                  workdir="/app"), f"docker.io/{APP}:1")
    return helper, f"{APP}:1"


class Pod:
    """One pod running the app with the helper injected, and ways into its container."""

    def __init__(self, bed: Bed, namespace: str, name: str):
        self.bed, self.namespace, self.name = bed, namespace, name
        self.pid: int | None = None  # the container's first process, on the test bed

    def kubectl(self, *args: str) -> list[str]:
        return self.bed.kubectl("-n", self.namespace, *args)

    def exec(self, *argv: str, input: bytes | None = None, timeout: float = 600) -> bytes:
        flags = ["-i"] if input is not None else []
        done = subprocess.run(self.kubectl("exec", *flags, self.name, "-c", "app", "--", *argv), input=input,
                              capture_output=True, timeout=timeout)
        if done.returncode != 0:
            raise SystemExit(f"kubectl exec {self.name} -- {' '.join(argv)} failed: {done.stderr.decode()[-1000:]}")
        return done.stdout

    def selector_args(self) -> list[str]:
        return ["--context", self.bed.context or "", "-n", self.namespace, "-l", f"app={self.name}"]

    def root(self) -> Path | None:
        """The container's root file system as this machine sees it (test bed only)."""
        return Path(f"/proc/{self.pid}/root") if self.pid else None

    def helper_cpu(self) -> float | None:
        return cpu_of_tree(self.pid) if self.pid else None


def deploy(bed: Bed, namespace: str, name: str, helper_image: str, app_image: str, work: Path) -> Pod:
    """The app's pod, injected by `downstream-sync inject` from the benchmark's download stanza."""
    from kube_node import host_pod, wait_running

    project = work / "inject"
    project.mkdir(exist_ok=True)
    (project / "skaffold.yaml").write_text(SKAFFOLD)
    (project / "app.json").write_text(json.dumps({"Entrypoint": ["/bin/sh", "-c", APP_SCRIPT], "WorkingDir": "/app"}))
    pod = host_pod(name, app_image, command=["/bin/sh", "-c", APP_SCRIPT], workingDir="/app")
    if bed.node is None:  # a real cluster schedules it, on its own network
        del pod["spec"]["nodeName"], pod["spec"]["hostNetwork"]
        pod["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    injected = subprocess.run([str(VENV_BIN / "downstream-sync"), "inject", "--image-config", f"{APP}=app.json",
                               "--helper-image", helper_image], cwd=project, input=json.dumps(pod),
                              capture_output=True, text=True, env=bed.env, timeout=120)
    if injected.returncode != 0:
        raise SystemExit(f"downstream-sync inject failed: {injected.stderr}")
    bed.cluster.kubectl("-n", namespace, "apply", "-f", "-", input=injected.stdout)
    status = wait_running(bed.cluster, namespace, name, bed.node)
    p = Pod(bed, namespace, name)
    if bed.node is not None:
        cid = status["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
        for line in bed.node.ctr("tasks", "ls").stdout.splitlines()[1:]:
            task, pid, *_ = line.split()
            if task == cid:
                p.pid = int(pid)
    return p


def project(base: Path, name: str) -> Path:
    root = base / name
    root.mkdir()
    (root / "skaffold.yaml").write_text(SKAFFOLD)
    return root


def pull_argv(pod: Pod, root: Path, profile: Path | None = None) -> list[str]:
    cli = [str(VENV_BIN / "downstream-sync")]
    if profile is not None and SPY:
        cli = [*spy_argv(profile), sys.executable, "-m", "downstream_sync.cli"]
    return [*cli, "pull", "-f", str(root / "skaffold.yaml"), *pod.selector_args()]


def pull(pod: Pod, root: Path, *, sample_rss: bool = False, profile: Path | None = None) -> dict:
    return timed(pull_argv(pod, root, profile), env=pod.bed.env, cwd=root, sample_rss=sample_rss)


# --- exec: the cost of one connection ---------------------------------------------------------

async def app_connect_setups(pod: Pod, n: int) -> list[float]:
    """Seconds from dialing the bridge until the helper's HELLO arrives, through a fresh
    `kubectl exec -i POD -- /sync-helper/app-connect` each time, as a session connects."""
    from downstream_sync.cluster.bridge import Bridge
    from downstream_sync.cluster.kubernetes import HELPER_PATH
    from downstream_sync.cluster.transport import CommandTransport
    from downstream_sync.sync.client import HelperClient, pb

    bridge = Bridge(CommandTransport(pod.kubectl("exec", "-i", pod.name, "-c", "app", "--", HELPER_PATH)))
    await bridge.start()
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            client = HelperClient(bridge.target)
            call = client.watch(since_version=0, instance_id="", snapshot=False)
            async for msg in call:
                if msg.kind != pb.FileEvent.HELLO:
                    raise SystemExit(f"the helper's first message was {msg.kind}, not HELLO")
                times.append(time.perf_counter() - t0)
                break
            call.cancel()
            await client.close()
            await bridge.reap()
    finally:
        await bridge.close()
    return times


def case_exec(pod: Pod, n: int, base: Path) -> dict:
    trues = [timed(pod.kubectl("exec", pod.name, "-c", "app", "--", "true"))["wall"] for _ in range(n)]
    setups = asyncio.run(app_connect_setups(pod, n))
    pulls = []
    for i in range(max(1, min(n, 5))):
        root = project(base, f"empty-pull{i}")
        pulls.append(pull(pod, root)["wall"])
        shutil.rmtree(root)
    return {"exec_true": trues, "app_connect": setups, "empty_pull": pulls}


# --- latency ----------------------------------------------------------------------------------

class Writer:
    """Writes a small file in the container and returns when it is closed there: on the test bed
    straight into the container's root (/proc/PID/root); elsewhere through one `kubectl exec -i sh`
    that says when each write is done (so the clock starts a one-way trip late, for both tools)."""

    def __init__(self, pod: Pod):
        self.root = pod.root()
        self.shell = None
        if self.root is None:
            self.shell = subprocess.Popen(pod.kubectl("exec", "-i", pod.name, "-c", "app", "--", "sh"),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def write(self, path: str, data: bytes) -> None:
        if self.root is not None:
            with open(self.root / path.lstrip("/"), "wb") as f:
                f.write(data)
            return
        assert self.shell and self.shell.stdin and self.shell.stdout
        self.shell.stdin.write(f"printf '%s' '{data.decode()}' > {path} && echo ok\n".encode())
        self.shell.stdin.flush()
        if self.shell.stdout.readline().strip() != b"ok":
            raise SystemExit(f"writing {path} in the container failed")

    def close(self) -> None:
        if self.shell is not None:
            self.shell.stdin.close()
            self.shell.wait(30)


def same(path: Path, data: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def wait_for(predicate, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.0002)


def case_latency(pod: Pod, writes: int, base: Path) -> dict:
    """A live session and the peer in one loop, one write after the other for each."""
    root = project(base, "live")
    log = open(base / "live-session.log", "wb")
    session = subprocess.Popen([str(VENV_BIN / "downstream-sync"), "start", "-f", str(root / "skaffold.yaml"),
                                *pod.selector_args()], cwd=root, env=pod.bed.env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    writer = Writer(pod)
    ours, peer = [], []
    try:
        writer.write("/app/src/probe", b"probe")
        wait_for(lambda: same(root / "out" / "probe", b"probe") or session.poll() is not None, 120,
                 "the live session to sync a first file")
        if session.poll() is not None:
            raise SystemExit(f"the live session ended: {(base / 'live-session.log').read_text()[-2000:]}")
        local_peer = base / "peer"
        local_peer.mkdir()
        for i in range(writes):
            data = f"file {i} {os.urandom(16).hex()}\n".encode() * 4
            dst = root / "out" / f"f{i:05}.txt"
            writer.write(f"/app/src/f{i:05}.txt", data)
            t0 = time.perf_counter()
            wait_for(lambda: same(dst, data), 60, f"f{i:05}.txt to arrive")
            ours.append(time.perf_counter() - t0)
            data = f"peer {i} {os.urandom(16).hex()}\n".encode() * 4
            writer.write(f"/app/peer/f{i:05}.txt", data)
            t0 = time.perf_counter()
            with open(local_peer / f"f{i:05}.txt", "wb") as out:
                timed(pod.kubectl("exec", pod.name, "-c", "app", "--", "cat", f"/app/peer/f{i:05}.txt"), stdout=out)
            peer.append(time.perf_counter() - t0)
            if not same(local_peer / f"f{i:05}.txt", data):
                raise SystemExit(f"kubectl exec cat of f{i:05}.txt did not bring its bytes")
    finally:
        writer.close()
        os.killpg(session.pid, signal.SIGTERM)
        try:
            session.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(session.pid, signal.SIGKILL)
            session.wait()
        log.close()
    return {"ours": ours, "peer": peer}


# --- tree and large ---------------------------------------------------------------------------

def upload_tree(pod: Pod, src: Path) -> None:
    """`tar c | kubectl exec -i tar x` into /app/incoming, then one rename into the watched folder."""
    tar = subprocess.run(["tar", "-C", str(src), "-cf", "-", "."], capture_output=True, check=True).stdout
    pod.exec("tar", "-x", "-f", "-", "-C", "/app/incoming", input=tar)
    pod.exec("mv", "/app/incoming/node_modules", "/app/src/node_modules")


def peers_of_tree(pod: Pod, dst: Path) -> dict[str, list[str] | str]:
    return {
        "kubectl cp": pod.kubectl("cp", "-c", "app", f"{pod.namespace}/{pod.name}:/app/src", str(dst)),
        "exec tar": (f"mkdir -p '{dst}' && {' '.join(pod.kubectl('exec', pod.name, '-c', 'app', '--', 'tar', 'cf', '-', '-C', '/app/src', '.'))}"
                     f" | tar -C '{dst}' -xf -"),
    }


def case_tree(pod: Pod, files: int, runs: int, places: dict[str, Path], work: Path, profile: bool) -> dict:
    src = work / "tree-src"
    src.mkdir()
    size = make_tree(src, files)
    want = tree_digest(src)
    upload_tree(pod, src)
    results: dict = {"files": files, "bytes": size, "places": {}}
    for where, base in places.items():
        warm = project(base, "tree-warm")
        pull(pod, warm)  # the helper has indexed and hashed the tree; page caches are warm
        if tree_digest(warm / "out") != want:
            raise SystemExit("the warm-up pull did not bring the tree intact")
        shutil.rmtree(warm)
        rows: dict[str, list[dict]] = {"pull": [], "kubectl cp": [], "exec tar": []}
        for run in range(runs):
            for tool, argv in peers_of_tree(pod, base / f"peer{run}").items():
                rows[tool].append(timed(argv, env=pod.bed.env, shell=isinstance(argv, str)))
                intact(rows[tool][-1], tree_digest(base / f"peer{run}") == want, f"{tool} of the tree")
                shutil.rmtree(base / f"peer{run}")
            root = project(base, f"pull{run}")
            before = pod.helper_cpu()
            prof = OUT / "cluster_tree_pull.spy" if profile and run == 0 and where == next(iter(places)) else None
            row = pull(pod, root, profile=prof)
            if before is not None:
                row["helper_cpu"] = pod.helper_cpu() - before
            rows["pull"].append(row)
            intact(row, tree_digest(root / "out") == want, f"pull {run} of the tree")
            shutil.rmtree(root)
        results["places"][where] = rows
    return results


def case_large(pod: Pod, mb: int, runs: int, places: dict[str, Path], profile: bool) -> dict:
    pod.exec("sh", "-c", f"head -c {mb << 20} /dev/urandom > /app/incoming/large.bin && "
                         "mv /app/incoming/large.bin /app/src/large.bin")
    want = pod.exec("md5sum", "/app/src/large.bin").split()[0].decode()
    results: dict = {"mb": mb, "places": {}}
    for where, base in places.items():
        warm = project(base, "large-warm")
        pull(pod, warm)  # the helper has hashed it; the container's page cache holds it
        if file_md5(warm / "out" / "large.bin") != want:
            raise SystemExit("the warm-up pull did not bring the large file intact")
        shutil.rmtree(warm)
        rows: dict[str, list[dict]] = {"pull": [], "kubectl cp": []}
        for run in range(runs):
            dst = base / f"cp{run}.bin"
            rows["kubectl cp"].append(timed(pod.kubectl("cp", "-c", "app", f"{pod.namespace}/{pod.name}:/app/src/large.bin",
                                                        str(dst)), env=pod.bed.env, sample_rss=True))
            intact(rows["kubectl cp"][-1], file_md5(dst) == want, "kubectl cp of the large file")
            dst.unlink()
            root = project(base, f"large{run}")
            before = pod.helper_cpu()
            prof = OUT / "cluster_large_pull.spy" if profile and run == 0 and where == next(iter(places)) else None
            row = pull(pod, root, sample_rss=True, profile=prof)
            if before is not None:
                row["helper_cpu"] = pod.helper_cpu() - before
            rows["pull"].append(row)
            intact(row, file_md5(root / "out" / "large.bin") == want, f"pull {run} of the large file")
            shutil.rmtree(root)
        results["places"][where] = rows
    return results


# --- the whole run ----------------------------------------------------------------------------

@contextlib.contextmanager
def places(names: list[str], work: Path):
    """A folder per place: a tmpfs mounted here (root), else /dev/shm; and the disk."""
    made: dict[str, Path] = {}
    mounted: list[Path] = []
    try:
        for name in names:
            if name == "tmpfs":
                point = Path(tempfile.mkdtemp(prefix="cluster-bench-tmpfs-"))
                if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6g", "tmpfs",
                                                         str(point)]).returncode == 0:
                    mounted.append(point)
                else:
                    point.rmdir()
                    point = Path(tempfile.mkdtemp(prefix="cluster-bench-", dir="/dev/shm"))
                made[name] = point
            elif name == "disk":
                made[name] = work / "disk"
                made[name].mkdir()
            else:
                raise SystemExit(f"--where: unknown place {name!r} (tmpfs, disk)")
        yield made
    finally:
        for name, point in made.items():
            if point in mounted:
                subprocess.run(["umount", "-l", str(point)], check=False)
                point.rmdir()
            else:
                shutil.rmtree(point, ignore_errors=True)


def run(bed: Bed, args, work: Path, helper_image: str, app_image: str) -> dict:
    """Every case asked for on `bed`; the report (the JSON the benchmark writes)."""
    cases = args.cases.split(",")
    unknown = set(cases) - {"exec", "latency", "tree", "large"}
    if unknown:
        raise SystemExit(f"--cases: unknown case {', '.join(sorted(unknown))} (exec, latency, tree, large)")
    report: dict = {"cluster": bed.describe(), "cpus": os.cpu_count(), "loadavg_before": os.getloadavg(),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "args": vars(args), "cases": {}}
    namespace = bed.cluster.namespace("ds-bench")
    try:
        pods = {}
        for case in cases:
            name = {"exec": "exec", "latency": "live", "tree": "tree", "large": "large"}[case]
            pods[case] = deploy(bed, namespace, name, helper_image, app_image, work)
        with places(args.where.split(","), work) as where:
            first = next(iter(where.values()))
            def done(case: str) -> None:  # what is measured so far survives a run stopped later
                OUT.mkdir(parents=True, exist_ok=True)
                (OUT / "cluster_bench.partial.json").write_text(json.dumps(
                    {**report, "loadavg_after": os.getloadavg(), "done": case}, indent=1))

            if "exec" in cases:
                print(f"exec: {args.execs} connections of each kind ...", file=sys.stderr)
                report["cases"]["exec"] = case_exec(pods["exec"], args.execs, first)
                done("exec")
            if "latency" in cases:
                print(f"latency: {args.writes} writes ...", file=sys.stderr)
                report["cases"]["latency"] = case_latency(pods["latency"], args.writes, first)
                done("latency")
            if "tree" in cases:
                print(f"tree: {args.files} files, {args.runs} runs per place ...", file=sys.stderr)
                report["cases"]["tree"] = case_tree(pods["tree"], args.files, args.runs, where, work, args.profile)
                done("tree")
            if "large" in cases:
                print(f"large: {args.large_mb} MiB, {args.runs} runs per place ...", file=sys.stderr)
                report["cases"]["large"] = case_large(pods["large"], args.large_mb, args.runs, where, args.profile)
                done("large")
    finally:
        bed.cluster.delete_namespace(namespace)
    report["loadavg_after"] = os.getloadavg()
    return report


# --- the table --------------------------------------------------------------------------------

def spread(values: list[float], scale: float = 1.0, fmt: str = "{:.3f}") -> str:
    s = summary(values)
    return f"{fmt.format(s['median'] * scale)} ({fmt.format(s['min'] * scale)}-{fmt.format(s['max'] * scale)})"


def table(report: dict) -> tuple[list[str], bool]:
    """The printed lines, and whether every target was met."""
    lines = [f"cluster bench on {report['cluster']}, {report['date']}; {report['cpus']} CPUs, load average "
             f"{report['loadavg_before'][0]:.1f} -> {report['loadavg_after'][0]:.1f}",
             "medians (lowest-highest); CPU s of the local side (/ the helper's, on the test bed); ratio: ours / peer",
             f"{'case':8} {'where':6} {'tool':22} {'wall s':>22} {'CPU s':>12} {'MiB/s':>6} {'RSS MiB':>8} {'ratio':>6}"]
    ok = True

    def line(case, where, tool, wall, cpu="", rate="", rss="", ratio=""):
        lines.append(f"{case:8} {where:6} {tool:22} {wall:>22} {cpu:>12} {rate:>6} {rss:>8} {ratio:>6}")

    cases = report["cases"]
    if "exec" in cases:
        e = cases["exec"]
        peer = statistics.median(e["exec_true"])
        line("exec", "", "kubectl exec -- true", spread(e["exec_true"]), ratio="1.00")
        line("exec", "", "app-connect to HELLO", spread(e["app_connect"]),
             ratio=f"{statistics.median(e['app_connect']) / peer:.2f}")
        line("exec", "", "pull, nothing to bring", spread(e["empty_pull"]),
             ratio=f"{statistics.median(e['empty_pull']) / peer:.2f}")
    if "latency" in cases:
        lat = cases["latency"]
        for p in (50, 99):
            ours, peer = pct(lat["ours"], p), pct(lat["peer"], p)
            line("latency", "", f"live session p{p}", f"{ours * 1000:.1f} ms", ratio=f"{ours / peer:.2f}")
            line("latency", "", f"kubectl exec cat p{p}", f"{peer * 1000:.1f} ms", ratio="1.00")
        met = pct(lat["ours"], 50) < pct(lat["peer"], 50)
        ok &= met
        lines.append(f"  target: live p50 below kubectl exec cat's: {'PASS' if met else 'FAIL'} "
                     f"({len(lat['ours'])} writes)")
    if "tree" in cases:
        t = cases["tree"]
        lines.append(f"tree: {t['files']} files, {t['bytes'] / 1e6:.0f} MB")
        for where, rows in t["places"].items():
            cp = statistics.median(r["wall"] for r in rows["kubectl cp"])
            for tool in ("kubectl cp", "exec tar", "pull"):
                walls = [r["wall"] for r in rows[tool]]
                cpu = f"{statistics.median(r['cpu'] for r in rows[tool]):.2f}"
                if tool == "pull" and all("helper_cpu" in r for r in rows[tool]):
                    cpu += f" / {statistics.median(r['helper_cpu'] for r in rows[tool]):.2f}"
                line("tree", where, tool, spread(walls), cpu, ratio=f"{statistics.median(walls) / cp:.2f}")
            ratio = statistics.median(r["wall"] for r in rows["pull"]) / cp
            tar = statistics.median(r["wall"] for r in rows["exec tar"])
            lines.append(f"  {where}: pull {ratio:.2f}x kubectl cp, "
                         f"{statistics.median(r['wall'] for r in rows['pull']) / tar:.2f}x exec tar")
            if where == "tmpfs":
                ok &= ratio <= TARGET_TREE
                lines.append(f"  target on tmpfs: pull <= {TARGET_TREE}x kubectl cp: "
                             f"{'PASS' if ratio <= TARGET_TREE else 'FAIL'}")
    if "large" in cases:
        g = cases["large"]
        lines.append(f"large: one file of {g['mb']} MiB")
        for where, rows in g["places"].items():
            cp = statistics.median(r["wall"] for r in rows["kubectl cp"])
            for tool in ("kubectl cp", "pull"):
                walls = [r["wall"] for r in rows[tool]]
                wall = statistics.median(walls)
                cpu = f"{statistics.median(r['cpu'] for r in rows[tool]):.2f}"
                if tool == "pull" and all("helper_cpu" in r for r in rows[tool]):
                    cpu += f" / {statistics.median(r['helper_cpu'] for r in rows[tool]):.2f}"
                rss = statistics.median(r["rss_peak"] for r in rows[tool]) / (1 << 20)
                line("large", where, tool, spread(walls), cpu, f"{g['mb'] / wall:.0f}", f"{rss:.0f}",
                     f"{wall / cp:.2f}")
            share = cp / statistics.median(r["wall"] for r in rows["pull"])
            ok &= share >= TARGET_LARGE
            lines.append(f"  target: pull >= {TARGET_LARGE:.0%} of kubectl cp's throughput: {share:.0%} "
                         f"{'PASS' if share >= TARGET_LARGE else 'FAIL'}")
    return lines, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="exec,latency,tree,large")
    ap.add_argument("--files", type=int, default=10_000, help="files of the tree")
    ap.add_argument("--large-mb", type=int, default=1024, help="size of the large file in MiB")
    ap.add_argument("--writes", type=int, default=200, help="writes of the latency case")
    ap.add_argument("--execs", type=int, default=20, help="connections of each kind in the exec case")
    ap.add_argument("--runs", type=int, default=3, help="runs of each tool per place (tree, large)")
    ap.add_argument("--where", default="tmpfs,disk", help="where the local copies go: tmpfs, disk")
    ap.add_argument("--profile", action="store_true", help="py-spy profiles of one pull of the tree and the file")
    ap.add_argument("--context", help="a kube context to run on instead of the test bed")
    ap.add_argument("--helper-image", help="with --context: the helper image the cluster pulls")
    ap.add_argument("--app-image", default="busybox:1.37", help="with --context: an image with sh and tar")
    args = ap.parse_args()
    if args.profile and SPY is None:
        raise SystemExit("--profile needs py-spy in the venv: .venv/bin/pip install py-spy")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "disk").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-", dir=OUT / "disk"))
    try:
        if args.context:
            from kube_testbed import from_context

            if not args.helper_image:
                raise SystemExit("--context needs --helper-image: a helper image that cluster can pull")
            report = run(Bed(from_context(args.context), None, args.context), args, work, args.helper_image,
                         args.app_image)
        else:
            if os.geteuid() != 0:
                raise SystemExit("the test bed needs root (containers, a veth pair, mounts); or give --context")
            with test_bed(work / "bed") as bed:
                helper, app = import_images(bed.node, work / "images")
                report = run(bed, args, work, helper, app)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines, ok = table(report)
    report["table"] = lines
    (OUT / "cluster_bench.json").write_text(json.dumps(report, indent=1))
    print("\n" + "\n".join(lines))
    print(f"wrote {OUT / 'cluster_bench.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
