"""`downstream-sync skaffold deploy` with the real Skaffold and the real kubectl behind the shim, to the
test bed's real API server (no node: what is checked is what the API server stored). Every kubectl
command line Skaffold's kubectl deployer makes goes through the shim: its applies (with the
deployer's global and apply flags after the command) store the injected pod template, its other
calls (version, create --dry-run, get, delete) are kubectl's own. `skaffold delete` removes it all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kube_testbed import BIN

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "downstream-sync")
SKAFFOLD = ROOT / ".tools" / "bin" / "skaffold"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web, command: [/bin/server], args: [--port, "8080"]}]
"""


def project(root: Path, kubectl_flags: str) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "k8s").mkdir()
    (root / "app" / "Dockerfile").write_text("FROM scratch\n")
    (root / "k8s" / "web.yaml").write_text(DEPLOYMENT)
    (root / "web.json").write_text(json.dumps({"config": {"Entrypoint": ["/bin/server"], "WorkingDir": "/srv"}}))
    (root / "skaffold.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: skaffold/v4beta13
        kind: Config
        build:
          artifacts:
          - image: web
            context: app
            download:
              manual: [{{remoteSrc: out, localDst: synced}}]
        manifests:
          rawYaml: [k8s/*.yaml]
        deploy:
          kubectl: {kubectl_flags}
        """))
    return root / "skaffold.yaml"


@pytest.mark.parametrize("flags", ["{}", "{flags: {global: [--v=1], apply: [--server-side, --force-conflicts]}}"])
def test_skaffolds_applies_store_the_injected_pod_and_its_other_calls_pass(control_plane, cluster, namespace,
                                                                          tmp_path, flags):
    if not os.access(SKAFFOLD, os.X_OK):
        pytest.skip("skaffold is not built: run bash tests/tools/build.sh")
    config = project(tmp_path / "project", flags)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": str(cluster.kubeconfig),
           "HOME": str(tmp_path), "SKAFFOLD_UPDATE_CHECK": "false", "NO_COLOR": "1"}
    common = ["--kube-context", cluster.context, "--namespace", namespace, "-f", str(config)]
    wrapper = [CLI, "skaffold", "--skaffold", str(SKAFFOLD), "--image-config", f"web={tmp_path / 'project/web.json'}"]
    done = subprocess.run([*wrapper, "deploy", "--images", "web=web:1", "--status-check=false", *common],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    pod = cluster.get("deployment", "web", namespace)["spec"]["template"]
    assert pod["metadata"]["annotations"]["downstream-sync.dev/injected"] == "web"
    [web] = pod["spec"]["containers"]
    assert web["image"] == "web:1" and web["command"] == ["/sync-helper/app-server"]
    assert web["args"][web["args"].index("--") + 1:] == ["/bin/server", "--port", "8080"]
    done = subprocess.run([*wrapper, "delete", *common], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    gone = cluster.kubectl("-n", namespace, "get", "deployment", "web", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
