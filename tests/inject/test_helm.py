"""`downstream-sync inject` as a Helm post-renderer, run by the real `helm template` (v3, built by
tests/tools/build.sh) on a chart the test writes: helm passes --post-renderer-args as they are,
the rendered manifests on stdin, and takes stdout; a failure shows our stderr. `helm install`
runs the same post-render step but needs an API server, which none of these tests has."""

import json
import os
import subprocess

import yaml

from downstream_sync.inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
from injecttools import BIN, free_port

SKAFFOLD = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: %s
    download:
      manual:
      - {remoteSrc: src, localDst: src}
      excludes: ["*.tmp"]
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: {{ .Values.image }}
        command: [/bin/app]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data: {mode: dev}
"""
IMAGE_CONFIG = {"Entrypoint": ["/entry.sh"], "Cmd": ["serve"], "WorkingDir": "/srv/app"}


def make_chart(root, image: str):
    chart = root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(f"image: {image}\n")
    (chart / "templates" / "web.yaml").write_text(DEPLOYMENT)
    return chart


def helm_template(helm, root, chart, *renderer_args):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "XDG_CACHE_HOME": str(root / "cache"),
           "XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data"),
           "DOCKER_HOST": f"unix://{root}/no-docker.sock", "DOCKER_CONFIG": str(root / "docker")}
    args = [helm, "template", "rel", str(chart)]
    if renderer_args:
        args += ["--post-renderer", "downstream-sync"]
        for word in renderer_args:
            args += ["--post-renderer-args", word]
    return subprocess.run(args, capture_output=True, text=True, cwd=root, env=env, timeout=120)


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def test_helm_template_with_the_post_renderer_injects_the_helper(tmp_path, real_tool):
    helm = real_tool("helm")
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % "app")
    (tmp_path / "app.json").write_text(json.dumps(IMAGE_CONFIG))
    chart = make_chart(tmp_path, "app:1.0")
    plain = helm_template(helm, tmp_path, chart)
    assert plain.returncode == 0, plain.stderr
    done = helm_template(helm, tmp_path, chart, "inject", "-f", str(tmp_path / "skaffold.yaml"),
                         "--image-config", f"app={tmp_path / 'app.json'}")
    assert done.returncode == 0, done.stderr
    # What helm gives back is what the filter makes of helm's own rendering, object for object.
    expected = inject_manifests(plain.stdout, InjectRequest(rules_from_project(tmp_path / "skaffold.yaml"),
                                                            ConfigSource({"app": tmp_path / "app.json"},
                                                                         use_docker=False, use_registry=False)))
    assert documents(done.stdout) == documents(expected.text)
    by_kind = {d["kind"]: d for d in documents(done.stdout)}
    deployment, config_map = by_kind["Deployment"], by_kind["ConfigMap"]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["downstream-sync.dev/injected"] == "app"
    (app,) = pod["spec"]["containers"]
    assert app["command"] == ["/sync-helper/app-server"]
    assert app["args"] == ["--workdir", "/srv/app", "--targets", "src", "--excludes", "*.tmp", "--", "/bin/app"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["downstream-sync-install"]
    assert config_map == next(d for d in documents(plain.stdout) if d["kind"] == "ConfigMap")


def test_a_chart_without_the_artifact_passes_unchanged_with_partial_and_fails_without(tmp_path, real_tool):
    helm = real_tool("helm")
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % "app")
    chart = make_chart(tmp_path, "nginx:1.27")
    plain = helm_template(helm, tmp_path, chart)
    partial = helm_template(helm, tmp_path, chart, "inject", "--partial", "-f", str(tmp_path / "skaffold.yaml"))
    assert partial.returncode == 0, partial.stderr
    assert documents(partial.stdout) == documents(plain.stdout)
    whole = helm_template(helm, tmp_path, chart, "inject", "-f", str(tmp_path / "skaffold.yaml"))
    assert whole.returncode != 0
    assert "no container runs artifact app (images found: nginx:1.27)" in whole.stderr


def test_a_failing_injection_makes_helm_fail_with_our_message(tmp_path, real_tool):
    """The artifact's registry is a closed loopback port and no Docker daemon answers, so its
    image config (the WorkingDir) cannot be had: helm stops, showing why."""
    helm = real_tool("helm")
    image = f"127.0.0.1:{free_port()}/app"
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % image)
    chart = make_chart(tmp_path, f"{image}:1.0")
    done = helm_template(helm, tmp_path, chart, "inject", "-f", str(tmp_path / "skaffold.yaml"))
    assert done.returncode != 0
    assert done.stdout == ""
    assert "downstream-sync: error: <stdin>: document " in done.stderr
    assert ": Deployment rel-web: " in done.stderr
    assert f"cannot read the config of image {image}:1.0" in done.stderr
    assert "--image-config IMAGE=FILE" in done.stderr
