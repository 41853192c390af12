"""A project with a download stanza and the real Skaffold, for the wrapper's tests."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "downstream-sync")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web
        command: [/bin/server]
        args: [--port, "8080"]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: dev}
"""

# A kubeconfig whose cluster nothing answers: Skaffold gets a context (named so that it does not
# take it for a local cluster and reach for a Docker daemon), and fails at the first API call.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
contexts: [{name: remote, context: {cluster: c, user: u}}]
current-context: remote
users: [{name: u, user: {token: x}}]
"""


def skaffold_yaml(build: str = "docker: {}", deploy: str = "kubectl: {}", extra: str = "") -> str:
    """The project's config; `build` is the artifact's builder and `deploy` the deployer, as YAML
    written from column 0 (indented here)."""
    return (
        "apiVersion: skaffold/v4beta13\n"
        "kind: Config\n"
        "build:\n"
        "  artifacts:\n"
        "  - image: web\n"
        "    context: app\n"
        + textwrap.indent(build.strip() + "\n", "    ")
        + "    download:\n"
        "      manual:\n"
        "      - remoteSrc: out\n"
        "        localDst: synced\n"
        "      excludes: [\"*.tmp\"]\n"
        "manifests:\n"
        "  rawYaml:\n"
        "  - k8s/*.yaml\n"
        "deploy:\n"
        + textwrap.indent(deploy.strip() + "\n", "  ")
        + extra
    )


@dataclass
class Project:
    root: Path
    skaffold: str
    env: dict

    @property
    def config(self) -> Path:
        return self.root / "skaffold.yaml"

    def write(self, text: str) -> Path:
        self.config.write_text(text)
        return self.config

    def wrapper(self, *args: str) -> list[str]:
        """The wrapper's argv: our flags, then Skaffold's command and flags."""
        return [CLI, "skaffold", "--skaffold", self.skaffold, "--image-config",
                f"web={self.root / 'web-config.json'}", *args]


@pytest.fixture
def project(tmp_path: Path, real_tool) -> Project:
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "k8s").mkdir()
    (root / "app" / "Dockerfile").write_text("FROM scratch\nCOPY server /bin/server\n")
    (root / "app" / "server").write_text("the app\n")
    (root / "k8s" / "web.yaml").write_text(DEPLOYMENT)
    (root / "web-config.json").write_text(json.dumps({"config": {"Entrypoint": ["/bin/server"], "WorkingDir": "/srv"}}))
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "KUBECONFIG": str(tmp_path / "kubeconfig"),
           "SKAFFOLD_UPDATE_CHECK": "false", "NO_COLOR": "1"}
    project = Project(root, real_tool("skaffold"), env)
    project.write(skaffold_yaml())
    return project
