"""Test equipment: the seed's example project on the cluster. Its skaffold.yaml (download rules
for `src` and `abc`, `node_modules/*` and `abc/bb.js` excluded), the CLI run as a user runs it,
the app's pod deployed injected (`downstream-sync inject`, then `kubectl apply`) or as it is, and
waits for what the app does and for where its images came from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from e2e_images import APP, APP_CONFIG, Images
from kube_node import wait_running
from kube_testbed import BIN, WAIT

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
SYNCED = ["abc/aa.js", "src/a.js", "src/renamed.js"]  # what the app leaves that the rules take


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


def deploy_injected(cluster, images: Images, namespace: str, project: Path, name: str, spec: dict | None = None,
                    **container) -> None:
    """The app's pod (`spec` added to the pod's, `container` to its container's) with the helper
    injected (the image's config given as a file), applied."""
    (project / "app.json").write_text(json.dumps(APP_CONFIG))
    pod = images.pod(name, images.app, **container)
    pod["spec"].update(spec or {})
    injected = downstream_sync(cluster, "inject", "--image-config", f"{APP}=app.json", "--helper-image",
                               images.helper, cwd=project, input=json.dumps(pod))
    assert injected.returncode == 0, injected.stderr
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=injected.stdout)


def wait_for_file(cluster, namespace: str, pod: str, path: str) -> None:
    """Until `path` exists in the pod's app container (the app's work is done)."""
    deadline = time.monotonic() + WAIT
    while cluster.kubectl("-n", namespace, "exec", pod, "-c", "app", "--", "test", "-e", path,
                          check=False).returncode != 0:
        assert time.monotonic() < deadline, f"{path} never appeared in {namespace}/{pod}"
        time.sleep(0.5)


def deployed(cluster, images: Images, namespace: str, project: Path, name: str, *, inject: bool, node) -> dict:
    """The example app's pod, injected or as it is, once it runs and the app's work is done."""
    (project / "skaffold.yaml").write_text(SKAFFOLD)
    if inject:
        deploy_injected(cluster, images, namespace, project, name)
    else:
        cluster.apply(images.pod(name, images.app), namespace)
    pod = wait_running(cluster, namespace, name, node)
    wait_for_file(cluster, namespace, name, "/tmp/done")
    return pod


def local_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_images_came_from_where_they_should(pod: dict, images: Images) -> None:
    """Pushed images: each of the pod's containers runs the digest its manifest names, and when
    the registry is our own, containerd fetched each one's manifest from it (the kubelet pulled
    it; nothing was imported under that name)."""
    if images.pull_policy == "Never":
        return
    specs = pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
    statuses = {s["name"]: s for s in pod["status"].get("initContainerStatuses", []) +
                pod["status"]["containerStatuses"]}
    for spec in specs:
        digest = spec["image"].rpartition("@")[2]
        assert digest.startswith("sha256:") and statuses[spec["name"]]["imageID"].endswith(digest), \
            (spec, statuses[spec["name"]])
    if images.registry is not None:
        wanted = {spec["image"].split("/", 1)[1].split("@")[0] for spec in specs}
        pulled = images.registry.pulled_by_containerd()
        assert wanted <= pulled, (wanted, pulled)
