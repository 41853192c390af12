"""Wrap mode and attach mode end to end on the test node (kube_node.py), where pods run as real
containers: the example app's pod, injected by `downstream-sync inject` (the helper image without
Python as the init container, the app in a busybox image) or deployed as it is, applied with
`kubectl apply`; `downstream-sync pull` brings its files down through the real `kubectl exec`, the
real API server and the real kubelet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kube_node import busybox_rootfs, host_pod, oci_archive, wait_running
from kube_testbed import BIN, ROOT, WAIT

APP_IMAGE = "docker.io/ds-e2e/example-app:1"
SHELLESS_IMAGE = "docker.io/ds-e2e/no-shell:1"  # busybox as /bin/sleep alone
HELPER_IMAGE = "docker.io/downstream-sync/helper:0.1.0"

# The seed's example app, in sh: creates, modifies, renames and deletes files in src and abc, and
# writes into node_modules (excluded); then marks itself done and sleeps.
EXAMPLE_APP = """\
set -e
mkdir -p src/node_modules/lib abc
echo 'console.log("a")' > src/a.js
echo 'one' > src/b.js
mv src/b.js src/renamed.js
echo 'gone soon' > src/gone.js
rm src/gone.js
echo 'exports.x = 1' > src/node_modules/lib/index.js
echo 'aa' > abc/aa.js
echo 'bb, excluded' > abc/bb.js
echo 'console.log("modified")' >> src/a.js
touch /tmp/done
exec sleep 2147483647
"""

SKAFFOLD = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: ds-e2e/example-app
    download:
      manual:
      - {remoteSrc: src, localDst: node/src}
      - {remoteSrc: abc, localDst: node/abc}
      excludes: ["node_modules/*", "abc/bb.js"]
"""


@pytest.fixture(scope="module")
def images(node, tmp_path_factory):
    """The helper image of helper/image.sh and the example app's image, imported into the node."""
    if node is None:
        pytest.skip("against a context's cluster the images need a registry (not done yet)")
    where = tmp_path_factory.mktemp("images")
    subprocess.run(["bash", "helper/image.sh", str(where / "helper")], cwd=ROOT, check=True, timeout=1200)
    subprocess.run(["tar", "-C", str(where / "helper"), "-cf", str(where / "helper.tar"), "."], check=True)
    node.import_image(where / "helper.tar", HELPER_IMAGE)
    rootfs = busybox_rootfs(where / "app-rootfs")
    (rootfs / "app").mkdir()
    (rootfs / "app" / "run.sh").write_text(EXAMPLE_APP)
    bare = where / "no-shell-rootfs" / "bin"
    bare.mkdir(parents=True)
    shutil.copy2("/bin/busybox", bare / "sleep")
    node.import_image(oci_archive(where / "no-shell.tar", bare.parent, entrypoint=["/bin/sleep", "2147483647"]),
                      SHELLESS_IMAGE)
    node.import_image(oci_archive(where / "app.tar", rootfs, entrypoint=["/bin/sh", "/app/run.sh"],
                                   workdir="/app"), APP_IMAGE)


CLI = [sys.executable, "-m", "downstream_sync.cli"]


def cli_env(cluster) -> dict[str, str]:
    """The environment the CLI runs in: the test bed's kubectl first on PATH, its kubeconfig."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    if cluster.kubeconfig:
        env["KUBECONFIG"] = str(cluster.kubeconfig)
    return env


def downstream_sync(cluster, *args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, env=cli_env(cluster), input=input,
                          capture_output=True, text=True, timeout=WAIT * 3)


def test_pull_brings_the_example_apps_files_down_and_leaves_the_excluded_ones(cluster, node, images, namespace,
                                                                               tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD)
    (tmp_path / "app.json").write_text(json.dumps({"Entrypoint": ["/bin/sh", "/app/run.sh"], "WorkingDir": "/app"}))
    pod = host_pod("example", "ds-e2e/example-app:1")
    injected = downstream_sync(cluster, "inject", "--image-config", "ds-e2e/example-app=app.json",
                               "--helper-image", "downstream-sync/helper:0.1.0", cwd=tmp_path, input=json.dumps(pod))
    assert injected.returncode == 0, injected.stderr
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=injected.stdout)
    wait_running(cluster, namespace, "example", node)
    wait_for_file(cluster, namespace, "example", "/tmp/done")

    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert f"using pod {namespace}/example (container app)" in pulled.stdout
    local = tmp_path / "node"
    found = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert found == ["abc/aa.js", "src/a.js", "src/renamed.js"]
    assert (local / "src" / "a.js").read_text() == 'console.log("a")\nconsole.log("modified")\n'
    assert (local / "src" / "renamed.js").read_text() == "one\n"


def wait_for_file(cluster, namespace: str, pod: str, path: str) -> None:
    """Until `path` exists in the pod's app container (the app's work is done)."""
    deadline = time.monotonic() + WAIT
    while cluster.kubectl("-n", namespace, "exec", pod, "-c", "app", "--", "test", "-e", path,
                          check=False).returncode != 0:
        assert time.monotonic() < deadline, f"{path} never appeared in {namespace}/{pod}"
        time.sleep(0.5)


def test_attach_mode_syncs_a_pod_deployed_without_the_helper(cluster, node, images, namespace, tmp_path):
    """The same app deployed as it is (no injection): the CLI attaches the standalone helper
    through `kubectl exec` for the pull and removes it afterwards."""
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD)
    cluster.apply(host_pod("plain", "ds-e2e/example-app:1"), namespace)
    wait_running(cluster, namespace, "plain", node)
    wait_for_file(cluster, namespace, "plain", "/tmp/done")

    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    local = tmp_path / "node"
    found = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert found == ["abc/aa.js", "src/a.js", "src/renamed.js"]
    left = cluster.kubectl("-n", namespace, "exec", "plain", "--", "ls", "-a", "/tmp").stdout.split()
    assert "downstream-sync-helper" not in left


def test_a_pod_without_the_helper_in_connect_mode_says_how_to_inject_it(cluster, node, images, namespace, tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD)
    cluster.apply(host_pod("plain", "ds-e2e/example-app:1"), namespace)
    wait_running(cluster, namespace, "plain", node)
    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace,
                             "--helper", "connect", cwd=tmp_path)
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    assert (f"pod {namespace}/plain (container app) has no helper at /sync-helper/app-connect: deploy it with "
            "the helper injected") in pulled.stderr
    assert "no such file or directory" in pulled.stderr  # the runtime's words, through kubectl


def test_attach_to_a_container_without_a_shell_says_why_and_what_to_do(cluster, node, images, namespace, tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD.replace("ds-e2e/example-app", "ds-e2e/no-shell"))
    cluster.apply(host_pod("bare", "ds-e2e/no-shell:1"), namespace)
    wait_running(cluster, namespace, "bare", node)
    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace, cwd=tmp_path)
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    assert f"pod {namespace}/bare (container app) has no shell (sh), so the helper cannot be copied" in pulled.stderr
    assert "deploy it with the helper injected instead" in pulled.stderr


TRAPPING_APP = "trap 'exit 7' TERM; touch /tmp/done; while true; do sleep 1; done"


def test_the_kubelets_sigterm_reaches_the_app_and_its_exit_code_comes_back(cluster, node, images, namespace,
                                                                            tmp_path):
    """The kubelet stops the injected container (its pod's deadline, set once it runs, has passed):
    the SIGTERM goes through the helper to the app, and the app's exit code is the container's."""
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD)
    pod = host_pod("trapping", "ds-e2e/example-app:1", command=["/bin/sh", "-c"], args=[TRAPPING_APP])
    pod["spec"]["restartPolicy"] = "Never"
    (tmp_path / "app.json").write_text(json.dumps({"Entrypoint": ["/bin/sh", "/app/run.sh"], "WorkingDir": "/app"}))
    injected = downstream_sync(cluster, "inject", "--image-config", "ds-e2e/example-app=app.json",
                               "--helper-image", "downstream-sync/helper:0.1.0", cwd=tmp_path, input=json.dumps(pod))
    assert injected.returncode == 0, injected.stderr
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=injected.stdout)
    wait_running(cluster, namespace, "trapping", node)
    wait_for_file(cluster, namespace, "trapping", "/tmp/done")
    cluster.kubectl("-n", namespace, "patch", "pod", "trapping", "--type=merge",
                    "-p", json.dumps({"spec": {"activeDeadlineSeconds": 1}}))
    deadline = time.monotonic() + WAIT
    while True:
        status = cluster.get("pod", "trapping", namespace)["status"]
        terminated = (status.get("containerStatuses") or [{}])[0].get("state", {}).get("terminated")
        if terminated:
            break
        assert time.monotonic() < deadline, f"the container was not stopped: {status}"
        time.sleep(0.5)
    assert terminated["exitCode"] == 7, terminated
    assert status["phase"] == "Failed" and status.get("reason") == "DeadlineExceeded"
