"""`downstream-sync skaffold dev` end to end: the real Skaffold v2 (tests/tools/build.sh) on the test
bed's API server and node (kube_testbed.py, kube_node.py).

The project is the seed's example app with a `custom` build: a script that makes the image an OCI
archive with umoci (busybox and the build context's files in /app), imports it into the node's
containerd under Skaffold's `$IMAGE` and pushes it to a registry on loopback (Debian's
docker-registry). The registry is there because Skaffold wants a digest for what it built: with
`push: false` it asks a local Docker daemon for the image's ID (there is none here), with `push: true`
the registry for the image's digest, and it deploys `REPO:TAG@DIGEST`. containerd resolves that
reference by `REPO@DIGEST` alone, which the import makes too (`--digests`; ctr skips that name for an
archive whose image is named, as umoci's is, unless given `--skip-digest-for-named`, whose sense is
the reverse of its name), so the kubelet runs the
imported image with `imagePullPolicy: Never` and nothing is pulled. The tags come from
`inputDigest`: a change of the sources is a new tag (Skaffold's default `gitCommit` has no git
repository here to read).

Skaffold is run at `-v info`, where its watcher names each file it saw change ("files added: [...]",
"files modified: [...]"): that is how the tests know what Skaffold took for a change, without
waiting for something not to happen.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from kube_node import ARCH, busybox_rootfs, host_pod
from kube_testbed import BIN, ROOT, WAIT, free_port

from e2e_images import EXAMPLE_APP

SKAFFOLD = ROOT / ".tools" / "bin" / "skaffold"
CLI = str(Path(sys.executable).parent / "downstream-sync")
HELPER_IMAGE = "docker.io/downstream-sync/helper:0.1.0"  # as helper/image.sh tags it
NODE_FILES = ["abc/aa.js", "src/a.js", "src/renamed.js"]  # what the example app leaves, less the excluded

BUILD = """\
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$IMAGE_TAG $(md5sum < "$BUILD_CONTEXT/run.sh" | cut -c1-8)" >> {builds}
cp -a {rootfs} "$work/rootfs"
mkdir -p "$work/rootfs/app"
cp -a "$BUILD_CONTEXT/." "$work/rootfs/app/"
umoci init --layout "$work/layout"
umoci new --image "$work/layout:$IMAGE_TAG"
umoci insert --image "$work/layout:$IMAGE_TAG" "$work/rootfs" /
umoci config --image "$work/layout:$IMAGE_TAG" --os linux --architecture {arch} --config.workingdir /app \\
  --config.entrypoint /bin/sh --config.entrypoint /app/run.sh
tar -C "$work/layout" -cf "$work/image.tar" .
{ctr} images import --base-name "$IMAGE_REPO" --digests --skip-digest-for-named "$work/image.tar"
{ctr} images push --plain-http "$IMAGE"
"""


class Registry:
    """Debian's docker-registry on a free loopback port, its storage in `root`."""

    def __init__(self, root: Path):
        self.host = f"127.0.0.1:{free_port()}"
        config = root / "registry.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
                          f"{root / 'data'}\nhttp:\n  addr: {self.host}\n")
        self.log = root / "registry.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + WAIT
        while not _answers(f"http://{self.host}/v2/"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not answer: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def registry(node, tmp_path_factory):
    if node is None:
        pytest.skip("against a context's cluster the images need its registry (not done yet)")
    if not os.access(SKAFFOLD, os.X_OK):
        message = "skaffold is not built: run bash tests/tools/build.sh"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def base(node, registry, tmp_path_factory):
    """The helper image in the node, and the busybox root file system the build starts from."""
    where = tmp_path_factory.mktemp("skaffold-images")
    subprocess.run(["bash", "helper/image.sh", str(where / "helper")], cwd=ROOT, check=True, timeout=1200)
    subprocess.run(["tar", "-C", str(where / "helper"), "-cf", str(where / "helper.tar"), "."], check=True)
    node.import_image(where / "helper.tar", HELPER_IMAGE)
    return busybox_rootfs(where / "rootfs")


class Project:
    """The example app's Skaffold project in `root`: app/ is the build context (run.sh), k8s/ the pod."""

    def __init__(self, root: Path, cluster, node, registry: Registry, rootfs: Path, namespace: str):
        self.root, self.cluster, self.namespace = root, cluster, namespace
        self.image = f"{registry.host}/example-app"
        self.builds = root / "builds.log"
        (root / "app").mkdir(parents=True)
        (root / "k8s").mkdir()
        (root / "app" / "run.sh").write_text(EXAMPLE_APP)
        ctr = f"{BIN / 'ctr'} --address {node.socket} --namespace k8s.io"
        (root / "build-image.sh").write_text(BUILD.format(builds=self.builds, rootfs=rootfs, arch=ARCH, ctr=ctr))
        pod = host_pod("example", self.image)
        (root / "k8s" / "pod.yaml").write_text(yaml.safe_dump(pod))
        (root / "home").mkdir()
        self.env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "KUBECONFIG": str(cluster.kubeconfig),
                    "HOME": str(root / "home"), "DOCKER_CONFIG": str(root / "home" / ".docker"),
                    "DOCKER_HOST": f"unix://{root}/no-docker.sock", "SKAFFOLD_UPDATE_CHECK": "false",
                    "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}

    def write_config(self, download: str, custom_extra: str = "", sync: str = "") -> None:
        """skaffold.yaml; `download`, `custom_extra` and `sync` are YAML at the artifact's indentation."""
        (self.root / "skaffold.yaml").write_text(
            "apiVersion: skaffold/v4beta13\n"
            "kind: Config\n"
            "build:\n"
            "  tagPolicy:\n"
            "    inputDigest: {}\n"
            "  local:\n"
            "    push: true\n"
            "  artifacts:\n"
            f"  - image: {self.image}\n"
            "    context: app\n"
            "    custom:\n"
            f"      buildCommand: sh {self.root / 'build-image.sh'}\n"
            + custom_extra + sync + download +
            "manifests:\n"
            "  rawYaml: [k8s/pod.yaml]\n"
            "deploy:\n"
            "  kubectl: {}\n")

    def builds_done(self) -> list[str]:
        return self.builds.read_text().splitlines() if self.builds.exists() else []

    def pod(self) -> dict:
        return self.cluster.get("pod", "example", self.namespace)

    def local_files(self, folder: str) -> list[str]:
        base = self.root / folder
        return sorted(str(p.relative_to(base)) for p in base.rglob("*")
                      if p.is_file() and ".downstream-sync" not in p.parts)


NODE_DOWNLOAD = """\
    download:
      manual:
      - {remoteSrc: src, localDst: node/src}
      - {remoteSrc: abc, localDst: node/abc}
      excludes: ["node_modules/*", "abc/bb.js"]
"""


class Dev:
    """`downstream-sync skaffold dev` running in the background; its output collected line by line."""

    def __init__(self, project: Project, *extra: str, wrapper_flags: tuple[str, ...] = ()):
        self.project = project
        argv = [CLI, "skaffold", "--skaffold", str(SKAFFOLD), "--helper-image", "downstream-sync/helper:0.1.0",
                "-v", *wrapper_flags, "dev", "-n", project.namespace, "-v", "info", *extra]
        self.proc = subprocess.Popen(argv, cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def wait_for(self, condition, what: str, timeout: float = WAIT * 3):
        """Until `condition()` is truthy (returns it); fails with the output when Skaffold ended or
        the bound passed."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self.proc.poll() is not None:
                self.reader.join(5)
                pytest.fail(f"the wrapper ended ({self.proc.returncode}) before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"waited {timeout:.0f} s for {what}:\n{self.output()[-6000:]}\n{self.cluster_state()}")
            time.sleep(0.2)

    def cluster_state(self) -> str:
        """What the namespace holds, for a failure's message."""
        done = self.project.cluster.kubectl("-n", self.project.namespace, "describe", "pods", check=False)
        files = self.project.cluster.kubectl("-n", self.project.namespace, "exec", "example", "-c", "app", "--",
                                             "sh", "-c", "ls -la /app /app/*; cat /app/shared/* 2>&1", check=False)
        return done.stdout[-3000:] + done.stderr + files.stdout + files.stderr

    def said(self, text: str) -> bool:
        return text in self.output()

    def changes_seen(self) -> list[str]:
        """The files Skaffold's watcher reported, each time ("files added/modified/deleted: [...]"),
        relative to the project's folder."""
        found = re.findall(r"files (?:added|modified|deleted): \[([^\]]*)\]", self.output())
        root = self.project.root
        return [os.path.relpath(root / name, root) for group in found for name in group.split()]

    def interrupt(self) -> int:
        """Ctrl+C: SIGINT to the wrapper's process group, as a terminal sends it (the sessions'
        kubectl processes hear it too; Skaffold, in a group of its own, gets it from the wrapper)."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(WAIT * 2)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the wrapper did not end after SIGINT:\n{self.output()}")
        self.reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def copies(project: Project) -> list[str]:
    """The wrapper's copies of the config in the project's folder."""
    return sorted(p.name for p in project.root.iterdir() if p.name.startswith(".skaffold.downstream-sync-"))


@pytest.fixture
def project(cluster, node, registry, base, namespace, tmp_path):
    return Project(tmp_path / "project", cluster, node, registry, base, namespace)


@pytest.fixture
def dev_runs():
    """Every Dev started; any still running at the end is killed (a failed test leaves nothing)."""
    runs: list[Dev] = []
    yield runs
    for run in runs:
        run.kill()


def processes_naming(text: str) -> list[str]:
    """Command lines of live processes (not zombies) that mention `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state != "Z" and text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_dev_deploys_injected_syncs_down_follows_a_rebuild_and_stops_on_ctrl_c(project, dev_runs):
    project.write_config(NODE_DOWNLOAD)
    dev = Dev(project)
    dev_runs.append(dev)
    dev.wait_for(lambda: dev.said("deploy 1 is up: syncing"), "the first deploy")
    pod = project.pod()
    init = pod["spec"].get("initContainers") or []
    assert [c["image"] for c in init] == ["downstream-sync/helper:0.1.0"], init
    app = pod["spec"]["containers"][0]
    assert app["command"] == ["/sync-helper/app-server"]
    assert app["args"][app["args"].index("--") + 1:] == ["/bin/sh", "/app/run.sh"]  # the image's, from the registry
    assert re.fullmatch(rf"{re.escape(project.image)}:[0-9a-f]{{64}}@sha256:[0-9a-f]{{64}}", app["image"]), app
    dev.wait_for(lambda: project.local_files("node") == NODE_FILES, f"the files {NODE_FILES}")
    assert (project.root / "node" / "src" / "a.js").read_text() == 'console.log("a")\nconsole.log("modified")\n'
    assert len(project.builds_done()) == 1

    run_sh = project.root / "app" / "run.sh"
    run_sh.write_text(EXAMPLE_APP.replace("touch /tmp/done", "echo 'fresh' > src/new.js\ntouch /tmp/done"))
    dev.wait_for(lambda: dev.said("deploy 2 is up"), "the deploy after the rebuild")
    dev.wait_for(lambda: (project.root / "node" / "src" / "new.js").exists(), "src/new.js of the new container")
    assert project.local_files("node") == sorted(NODE_FILES + ["src/new.js"])
    assert (project.root / "node" / "src" / "new.js").read_text() == "fresh\n"
    builds = project.builds_done()
    assert len(builds) == 2 and builds[0].split()[0] != builds[1].split()[0]  # a new tag: inputDigest
    assert project.pod()["spec"]["containers"][0]["image"] != app["image"]
    assert dev.changes_seen() == ["app/run.sh"]

    code = dev.interrupt()
    out = dev.output()
    assert code == 0, out
    assert "Cleaning up..." in out and "Stopped." in out, out
    gone = project.cluster.kubectl("-n", project.namespace, "get", "pod", "example", "-o", "json", check=False)
    assert gone.returncode != 0 or yaml.safe_load(gone.stdout)["metadata"].get("deletionTimestamp"), \
        "Skaffold did not delete what it deployed"
    assert processes_naming(str(project.root)) == []
    assert processes_naming(project.namespace) == []


# --- the rebuild loop (issue: a download into the build context) ---------------------------------

# The app writes a file of its own start into out/, which the download brings into the build context.
BOOT_APP = """\
set -e
mkdir -p out
cat /proc/sys/kernel/random/uuid > out/boot
touch /tmp/done
exec sleep 2147483647
"""
OUT_DOWNLOAD = """\
    download:
      manual:
      - {remoteSrc: out, localDst: app/out}
"""
IGNORE_OUT = "      dependencies:\n        paths: ['.']\n        ignore: ['out/**']\n"  # what the diagnostic offers


def validate(project: Project) -> str:
    done = subprocess.run([CLI, "validate"], cwd=project.root, env=project.env, capture_output=True, text=True,
                          timeout=WAIT)
    return done.stdout + done.stderr


def container_file(project: Project, path: str) -> str | None:
    done = project.cluster.kubectl("-n", project.namespace, "exec", "example", "-c", "app", "--", "cat", path,
                                   check=False)
    return done.stdout if done.returncode == 0 else None


def boot_arrived(project: Project):
    """The container's out/boot, once the local copy holds it (its start was downloaded)."""
    remote = container_file(project, "/app/out/boot")
    local = project.root / "app" / "out" / "boot"
    return remote if remote and local.is_file() and local.read_text() == remote else None


def test_a_download_into_a_custom_builds_context_rebuilds_again_and_again(project, dev_runs):
    (project.root / "app" / "run.sh").write_text(BOOT_APP)
    project.write_config(OUT_DOWNLOAD)
    said = validate(project)
    assert "download-rebuild-loop" in said and "give custom `dependencies: {paths: ['.'], ignore: ['out/**']}`" in said, said
    dev = Dev(project)
    dev_runs.append(dev)
    dev.wait_for(lambda: len(project.builds_done()) >= 3, "two rebuilds caused by the download", WAIT * 5)
    boot = "app/out/boot"
    assert dev.changes_seen().count(boot) >= 2, dev.output()
    assert set(dev.changes_seen()) == {boot}  # nothing else changed: the download alone rebuilt it
    assert dev.interrupt() == 0


def test_with_the_ignore_entry_the_diagnostic_offers_a_download_causes_no_rebuild(project, dev_runs):
    """Determined, not waited out: each sentinel edit of run.sh is written after the container's
    out/boot arrived, so the watcher's scan that finds the edit (or one before it) would name out/boot
    were it still a dependency; it names run.sh alone, and only the sentinels built."""
    run_sh = project.root / "app" / "run.sh"
    run_sh.write_text(BOOT_APP)
    project.write_config(OUT_DOWNLOAD, custom_extra=IGNORE_OUT)
    assert "download-rebuild-loop" not in validate(project)  # nor in Skaffold, as the watcher shows
    dev = Dev(project)
    dev_runs.append(dev)
    first = dev.wait_for(lambda: dev.said("deploy 1 is up") and boot_arrived(project), "the first start's out/boot")
    for n in (2, 3):
        run_sh.write_text(run_sh.read_text() + f"# edit {n}\n")
        dev.wait_for(lambda: dev.said(f"deploy {n} is up"), f"deploy {n}")
        later = dev.wait_for(lambda: boot_arrived(project) not in (None, first) and boot_arrived(project),
                             f"the out/boot of deploy {n}")
        first = later
    builds = project.builds_done()
    assert len(builds) == 3 and len({b.split()[1] for b in builds}) == 3, builds  # one build per edit
    assert dev.changes_seen() == ["app/run.sh"] * 2, dev.output()
    assert dev.interrupt() == 0


# --- Skaffold's own upstream sync beside the download ----------------------------------------------

IDLE_APP = "touch /tmp/done\nexec sleep 2147483647\n"
SHARED_SYNC = """\
    sync:
      manual:
      - {src: 'shared/**', dest: .}
"""
SHARED_DOWNLOAD = """\
    download:
      manual:
      - {remoteSrc: shared, localDst: app/shared}
"""


def test_a_folder_skaffold_uploads_and_the_session_downloads_does_not_ping_pong(project, dev_runs):
    """A local edit goes up by Skaffold's sync; the container's copy comes back to the session,
    which finds it up to date (the MD5 echo guard): no write, no conflict, so Skaffold sees no
    change to upload again. A second edit, made after the first came back, is the sentinel: the
    watcher's scans up to it name each edited file once."""
    (project.root / "app" / "run.sh").write_text(IDLE_APP)
    shared = project.root / "app" / "shared"
    shared.mkdir()
    (shared / "x.txt").write_text("one\n")
    project.write_config(SHARED_DOWNLOAD, sync=SHARED_SYNC)
    dev = Dev(project)
    dev_runs.append(dev)
    dev.wait_for(lambda: dev.said("deploy 1 is up") and container_file(project, "/app/shared/x.txt") == "one\n",
                 "the first deploy")
    dev.wait_for(lambda: re.search(r"reconciled \d+ files .*; watching", dev.output()), "the session's first look")

    def came_back(name: str, text: str):
        skips = re.findall(rf"skipped\s+app/shared/{re.escape(name)}\s+\(already up to date\)", dev.output())
        return container_file(project, f"/app/shared/{name}") == text and len(skips)

    before = len(re.findall(r"skipped\s+app/shared/x\.txt", dev.output()))
    (shared / "x.txt").write_text("two\n")
    dev.wait_for(lambda: (came_back("x.txt", "two\n") or 0) > before, "x.txt up and back")
    (shared / "y.txt").write_text("sentinel\n")
    dev.wait_for(lambda: came_back("y.txt", "sentinel\n"), "y.txt up and back")
    assert dev.changes_seen() == ["app/shared/x.txt", "app/shared/y.txt"], dev.output()
    assert (shared / "x.txt").read_text() == "two\n" and (shared / "y.txt").read_text() == "sentinel\n"
    assert sorted(p.name for p in shared.iterdir()) == ["x.txt", "y.txt"]  # no conflict copies
    out = dev.output()
    assert "conflict" not in out.lower() and len(project.builds_done()) == 1, out
    assert dev.interrupt() == 0


# --- deploy.helm: the post-renderer inside a real helm install ---------------------------------------

HELM_DEPLOY = """\
  helm:
    releases:
    - name: example
      chartPath: chart
"""


def helm_project(project: Project) -> Path:
    """The project deployed by a chart holding its pod; returns the helm binary, put on PATH."""
    helm = ROOT / ".tools" / "bin" / "helm"
    if not os.access(helm, os.X_OK):
        message = "helm is not built: run bash tests/tools/build.sh"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    chart = project.root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: example\nversion: 0.1.0\n")
    (chart / "templates" / "pod.yaml").write_text((project.root / "k8s" / "pod.yaml").read_text())
    project.write_config(NODE_DOWNLOAD)
    config = project.root / "skaffold.yaml"
    text = config.read_text()
    config.write_text(text[:text.index("manifests:")] + "deploy:\n" + HELM_DEPLOY)
    project.env["PATH"] = f"{helm.parent}:{project.env['PATH']}"
    return helm


def test_a_helm_deploy_through_the_wrapper_is_injected_by_the_post_renderer(project, dev_runs):
    helm = helm_project(project)
    dev = Dev(project)
    dev_runs.append(dev)
    dev.wait_for(lambda: dev.said("deploy 1 is up: syncing"), "the first deploy")
    pod = project.pod()
    assert [c["image"] for c in pod["spec"].get("initContainers") or []] == ["downstream-sync/helper:0.1.0"]
    app = pod["spec"]["containers"][0]
    assert app["command"] == ["/sync-helper/app-server"] and "@sha256:" in app["image"], app
    assert pod["metadata"]["annotations"]["meta.helm.sh/release-name"] == "example"
    dev.wait_for(lambda: project.local_files("node") == NODE_FILES, f"the files {NODE_FILES}")
    # Skaffold (and its `skaffold filter` under Helm) read the copy from the wrapper's file beside the
    # config, there from before the first build: the watcher never named it, nothing was rebuilt.
    copy = f".skaffold.downstream-sync-{dev.proc.pid}.yaml"
    assert copies(project) == [copy]
    assert not [c for c in dev.changes_seen() if "downstream-sync-" in c] and len(project.builds_done()) == 1
    assert dev.interrupt() == 0, dev.output()
    assert copies(project) == []  # removed when Skaffold ended
    listed = subprocess.run([str(helm), "list", "-n", project.namespace, "-q"], env=project.env,
                            capture_output=True, text=True, timeout=WAIT)
    assert listed.returncode == 0 and listed.stdout.strip() == "", listed  # Skaffold uninstalled the release
    assert processes_naming(str(project.root)) == []


def test_a_helm_deploy_whose_post_renderer_fails_fails_saying_why(project, dev_runs):
    """`skaffold filter` ignores its post-renderer's exit code and stderr: ours, unable to inject (the
    image config it is told to read is missing), makes the install fail and tells the wrapper's stderr."""
    helm = helm_project(project)
    missing = project.root / "missing-config.json"
    dev = Dev(project, wrapper_flags=("--image-config", f"{project.image}={missing}"))
    dev_runs.append(dev)
    try:
        code = dev.proc.wait(WAIT * 3)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the wrapper did not end after the failed install:\n{dev.output()}")
    dev.reader.join(10)
    out = dev.output()
    assert code != 0 and "downstream-sync: error: the manifests Helm rendered" in out and str(missing) in out, out
    assert "deploy 1 is up" not in out and copies(project) == []
    listed = subprocess.run([str(helm), "list", "-n", project.namespace, "-a", "-o", "json"], env=project.env,
                            capture_output=True, text=True, timeout=WAIT)
    assert listed.returncode == 0, listed
    assert all(r["status"] != "deployed" for r in yaml.safe_load(listed.stdout) or []), listed.stdout  # none installed
    with pytest.raises(AssertionError, match="NotFound"):
        project.pod()
