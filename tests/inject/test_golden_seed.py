"""The seed's "Manifests rewriting example" as a golden test: its node-example image config and
download stanza give its "after" container, through the real `downstream-sync inject` filter."""

import yaml

from injecttools import SEED_TAG, run_cli

BEFORE = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: node
spec:
  selector:
    matchLabels: {{app: node}}
  template:
    metadata:
      labels: {{app: node}}
    spec:
      containers:
      - name: node
        image: node-example:{SEED_TAG}
        ports:
        - containerPort: 3000
"""

AFTER_CONTAINER = {
    "name": "node",
    "image": f"node-example:{SEED_TAG}",
    "ports": [{"containerPort": 3000}],
    "command": ["/sync-helper/app-server"],
    "args": ["--workdir", "/home/node/app", "--targets", "src,abc", "--excludes", "node_modules/*,abc/bb.js",
             "--", "docker-entrypoint.sh", "/bin/sh", "-c", "npm run $NODE_ENV"],
    "env": [{"name": "DOWNSTREAM_SYNC_APP_TMPDIR", "value": ""}, {"name": "TMPDIR", "value": "/sync-helper/tmp"}],
    "volumeMounts": [{"name": "downstream-sync-helper", "mountPath": "/sync-helper"}],
}


def test_the_seed_example_gives_the_seed_after(seed_project):
    done = run_cli(["inject", "-f", "skaffold.yaml", "--image-config", "node-example=node-example.json"],
                   BEFORE, seed_project)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    after = yaml.safe_load(done.stdout)
    template = after["spec"]["template"]
    pod = template["spec"]
    assert pod["containers"] == [AFTER_CONTAINER]
    assert pod["volumes"] == [{"name": "downstream-sync-helper", "emptyDir": {}}]
    assert pod["initContainers"] == [{
        "name": "downstream-sync-install", "image": "ghcr.io/downstream-sync/helper:0.1.0",
        "command": ["/app-server", "--install", "/sync-helper"],
        "volumeMounts": [{"name": "downstream-sync-helper", "mountPath": "/sync-helper"}]}]
    annotations = template["metadata"]["annotations"]
    assert annotations["downstream-sync.dev/injected"] == "node"
    assert annotations["downstream-sync.dev/fingerprint"].startswith("node=")
    assert template["metadata"]["labels"] == {"app": "node"}
    # everything outside the pod template is as it was
    before = yaml.safe_load(BEFORE)
    assert {k: v for k, v in after.items() if k != "spec"} == {k: v for k, v in before.items() if k != "spec"}
    assert after["spec"]["selector"] == before["spec"]["selector"]


def test_injecting_the_output_again_changes_nothing_and_needs_no_image_config(seed_project):
    first = run_cli(["inject", "-f", "skaffold.yaml", "--image-config", "node-example=node-example.json"],
                    BEFORE, seed_project)
    assert first.returncode == 0, first.stderr
    second = run_cli(["inject", "-f", "skaffold.yaml"], first.stdout, seed_project)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_helper_image_flag(seed_project):
    done = run_cli(["inject", "-f", "skaffold.yaml", "--image-config", "node-example=node-example.json",
                    "--helper-image", "127.0.0.1:5000/helper@sha256:" + "a" * 64], BEFORE, seed_project)
    assert done.returncode == 0, done.stderr
    init = yaml.safe_load(done.stdout)["spec"]["template"]["spec"]["initContainers"][0]
    assert init["image"] == "127.0.0.1:5000/helper@sha256:" + "a" * 64
