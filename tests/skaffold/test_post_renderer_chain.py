"""A Helm post-renderer of the user's, in `deploy.helm.flags.install`, chained behind ours.

The copy of the config names our post-renderer where theirs was; ours runs theirs first (with its
`--post-renderer-args`, from the config's folder) and injects what it printed, so the containers
it adds are injected too. Run here by the real `helm template` (built by tests/tools/build.sh) with
the install flags of the copy and the environment the wrapper gives Skaffold: the same program and
flags Skaffold's `skaffold filter` runs it with for `helm install` (which needs a cluster).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from downstream_sync.skaffold.run import prepare

from .conftest import skaffold_yaml

# The chart holds no container of the artifact: the user's post-renderer adds it.
CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: proxy, image: nginx, command: [nginx]}
"""
ADD_CONTAINER = f"""#!{sys.executable}
import sys, yaml
name, image = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
for d in docs:
    if d["kind"] == "Deployment":
        d["spec"]["template"]["spec"]["containers"].append({{"name": name, "image": image, "command": ["/bin/server"]}})
yaml.safe_dump_all(docs, sys.stdout)
"""


def helm_project(project, flags: str):
    chart = project.root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "templates" / "web.yaml").write_text(CHART_DEPLOYMENT)
    (project.root / "bin").mkdir()
    renderer = project.root / "bin" / "add-container"
    renderer.write_text(ADD_CONTAINER)
    renderer.chmod(0o755)
    helm = f"helm:\n  releases:\n  - name: web\n    chartPath: chart\n  flags:\n    install: {flags}"
    project.write(skaffold_yaml(deploy=helm).replace("manifests:\n  rawYaml:\n  - k8s/*.yaml\n", ""))


def helm_template_as_skaffold_installs(project, real_tool):
    """`helm template` with the copy's install flags, where Skaffold runs helm."""
    prepared = prepare(project.skaffold, ["deploy"], image_configs=(f"web={project.root / 'web-config.json'}",),
                       cwd=project.root)
    try:
        flags = yaml.safe_load(prepared.copy_file.read_text())["deploy"]["helm"]["flags"]["install"]
        env = {**prepared.env, "XDG_CACHE_HOME": str(project.root / ".cache"),
               "XDG_CONFIG_HOME": str(project.root / ".config"), "XDG_DATA_HOME": str(project.root / ".data")}
        result = subprocess.run([real_tool("helm"), "template", "web", "chart", *flags], cwd=prepared.cwd, env=env,
                                capture_output=True, text=True, timeout=120)
    finally:
        prepared.cleanup()
    return flags, result


def test_the_users_post_renderer_runs_first_with_its_args_and_what_it_adds_is_injected(project, real_tool):
    helm_project(project, "[--post-renderer, bin/add-container, --post-renderer-args, web, "
                          "--post-renderer-args=web:1]")
    flags, result = helm_template_as_skaffold_installs(project, real_tool)
    assert [w for w in flags if w.startswith("--post-renderer")] == ["--post-renderer"]  # theirs is in ours
    assert result.returncode == 0, result.stderr
    [deployment] = [d for d in yaml.safe_load_all(result.stdout) if d]
    proxy, web = deployment["spec"]["template"]["spec"]["containers"]
    assert proxy == {"name": "proxy", "image": "nginx", "command": ["nginx"]}  # not an artifact: as it was
    assert web["name"] == "web" and web["image"] == "web:1"  # their args reached them
    assert web["command"] == ["/sync-helper/app-server"]
    assert web["args"][web["args"].index("--") + 1:] == ["/bin/server"]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["downstream-sync.dev/injected"] == "web"


@pytest.mark.parametrize("renderer, said", [
    ("bin/add-container", "your post-renderer bin/add-container exited with status 1"),  # no args: it fails
    ("bin/none", "cannot run your post-renderer bin/none: No such file or directory"),
])
def test_a_failing_post_renderer_of_the_users_stops_helm_saying_so(project, real_tool, renderer, said):
    helm_project(project, f"[--post-renderer, {renderer}]")
    _, result = helm_template_as_skaffold_installs(project, real_tool)
    assert result.returncode != 0
    assert f"downstream-sync: error: {said}" in result.stderr, result.stderr
