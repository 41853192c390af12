"""Wrap mode and attach mode end to end on the test node (kube_node.py), where pods run as real
containers: the example app's pod, injected by `downstream-sync inject` (the helper image without
Python as the init container, the app in a busybox image) or deployed as it is, applied with
`kubectl apply`; `downstream-sync pull` brings its files down through the real `kubectl exec`, the
real API server and the real kubelet.
"""

from __future__ import annotations

import json
import time

import pytest

from e2e_example import (SKAFFOLD, SYNCED, assert_images_came_from_where_they_should, deploy_injected, deployed,
                         downstream_sync, local_files, wait_for_file)
from kube_node import wait_running
from kube_testbed import WAIT


@pytest.mark.parametrize("source", ["images", "registry_images"])
def test_pull_brings_the_example_apps_files_down_and_leaves_the_excluded_ones(cluster, node, source, request,
                                                                               namespace, tmp_path):
    """Wrap mode; with `registry_images` the kubelet pulls the app and the helper image from a
    registry the images were pushed to, not imported."""
    images = request.getfixturevalue(source)
    pod = deployed(cluster, images, namespace, tmp_path, "example", inject=True, node=node)
    assert_images_came_from_where_they_should(pod, images)

    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert f"using pod {namespace}/example (container app)" in pulled.stdout
    local = tmp_path / "node"
    assert local_files(local) == SYNCED
    assert (local / "src" / "a.js").read_text() == 'console.log("a")\nconsole.log("modified")\n'
    assert (local / "src" / "renamed.js").read_text() == "one\n"


@pytest.mark.parametrize("source", ["images", "registry_images"])
def test_attach_mode_syncs_a_pod_deployed_without_the_helper(cluster, node, source, request, namespace, tmp_path):
    """The same app deployed as it is (no injection): the CLI attaches the standalone helper
    through `kubectl exec` for the pull and removes it afterwards."""
    images = request.getfixturevalue(source)
    pod = deployed(cluster, images, namespace, tmp_path, "plain", inject=False, node=node)
    assert_images_came_from_where_they_should(pod, images)

    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert local_files(tmp_path / "node") == SYNCED
    left = cluster.kubectl("-n", namespace, "exec", "plain", "--", "ls", "-a", "/tmp").stdout.split()
    assert "downstream-sync-helper" not in left


def test_a_pod_without_the_helper_in_connect_mode_says_how_to_inject_it(cluster, node, images, namespace, tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD)
    cluster.apply(images.pod("plain", images.app), namespace)
    wait_running(cluster, namespace, "plain", node)
    pulled = downstream_sync(cluster, "pull", "--context", cluster.context or "", "-n", namespace,
                             "--helper", "connect", cwd=tmp_path)
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    assert (f"pod {namespace}/plain (container app) has no helper at /sync-helper/app-connect: deploy it with "
            "the helper injected") in pulled.stderr
    assert "no such file or directory" in pulled.stderr  # the runtime's words, through kubectl


def test_attach_to_a_container_without_a_shell_says_why_and_what_to_do(cluster, node, images, namespace, tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD.replace("ds-e2e/example-app", "ds-e2e/no-shell"))
    cluster.apply(images.pod("bare", images.no_shell), namespace)
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
    deploy_injected(cluster, images, namespace, tmp_path, "trapping", command=["/bin/sh", "-c"],
                    args=[TRAPPING_APP], spec={"restartPolicy": "Never"})
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
