"""The kustomize transformers, run by the real tools built by tests/tools/build.sh: the KRM
function (`kustomize build --enable-alpha-plugins --enable-exec`, kustomize runs our executable
with a ResourceList on stdin), and the legacy exec plugin written by `downstream-sync kustomize
install-plugin` (`kustomize build --enable-alpha-plugins` and `kubectl kustomize
--enable-alpha-plugins` with KUSTOMIZE_PLUGIN_HOME). What they give is what the `inject` filter
makes of the same kustomization built without the transformer."""

import json
import os
import subprocess

import pytest
import yaml

from downstream_sync.inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
from injecttools import BIN, CLI

SKAFFOLD = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: src, localDst: src}
      excludes: ["*.tmp"]
  - image: worker
    download:
      manual:
      - {remoteSrc: /data, localDst: data}
"""
RESOURCES = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: registry.test/app:1.0, command: [/bin/app], args: [serve]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
"""
IMAGE_CONFIG = {"Entrypoint": ["/entry.sh"], "Cmd": ["x"], "WorkingDir": "/srv/app"}
KRM_ANNOTATION = """\
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: downstream-sync
        args: [kustomize, function]
"""


def injector(krm: bool, spec: str = "  skaffold: ../skaffold.yaml\n  imageConfig: {app: ../app.json}\n") -> str:
    return (f"apiVersion: downstream-sync.dev/v1\nkind: Injector\nmetadata:\n  name: inject\n"
            f"{KRM_ANNOTATION if krm else ''}spec:\n{spec}")


def project(root, *, krm: bool, spec: str | None = None):
    """skaffold.yaml and app.json at `root`, a kustomization in root/app with the Injector."""
    (root / "skaffold.yaml").write_text(SKAFFOLD)
    (root / "app.json").write_text(json.dumps(IMAGE_CONFIG))
    app = root / "app"
    app.mkdir()
    (app / "resources.yaml").write_text(RESOURCES)
    (app / "inject.yaml").write_text(injector(krm) if spec is None else injector(krm, spec))
    (app / "kustomization.yaml").write_text("resources: [resources.yaml]\ntransformers: [inject.yaml]\n")
    plain = root / "plain"
    plain.mkdir()
    (plain / "resources.yaml").write_text(RESOURCES)
    (plain / "kustomization.yaml").write_text("resources: [resources.yaml]\n")
    return app


def run(argv, root, **env):
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "DOCKER_HOST": f"unix://{root}/no-docker.sock", "DOCKER_CONFIG": str(root / "docker"), **env}
    return subprocess.run(argv, capture_output=True, text=True, cwd=root, env=full, timeout=120)


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def expected(root, kustomize):
    """The kustomization built without the transformer, through the filter's own function."""
    plain = run([kustomize, "build", str(root / "plain")], root)
    assert plain.returncode == 0, plain.stderr
    source = ConfigSource({"app": root / "app.json"}, use_docker=False, use_registry=False)
    request = InjectRequest(rules_from_project(root / "skaffold.yaml"), source, missing="warn")
    return documents(inject_manifests(plain.stdout, request).text)


def check_injected(out):
    deployment = next(d for d in documents(out) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["downstream-sync.dev/injected"] == "app"
    (app,) = pod["spec"]["containers"]
    assert app["command"] == ["/sync-helper/app-server"]
    assert app["args"] == ["--workdir", "/srv/app", "--targets", "src", "--excludes", "*.tmp", "--",
                           "/bin/app", "serve"]


# --- the KRM function -----------------------------------------------------------------------


def test_the_krm_function_run_by_kustomize_injects_the_helper(tmp_path, real_tool):
    kustomize = real_tool("kustomize")
    app = project(tmp_path, krm=True)
    done = run([kustomize, "build", "--enable-alpha-plugins", "--enable-exec", str(app)], tmp_path)
    assert done.returncode == 0, done.stderr
    check_injected(done.stdout)
    assert documents(done.stdout) == expected(tmp_path, kustomize)


def test_the_krm_function_reports_warnings_in_results_and_errors_with_a_non_zero_exit(tmp_path):
    """The function alone, given a ResourceList as kustomize sends one: the artifact this
    kustomization does not run is a warning result; a broken Injector is an error result."""
    app = project(tmp_path, krm=True)
    items = documents(RESOURCES)
    config = yaml.safe_load((app / "inject.yaml").read_text())
    resource_list = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items,
                     "functionConfig": config}
    done = subprocess.run([CLI, "kustomize", "function"], input=RESOURCES, capture_output=True, text=True, cwd=app,
                          timeout=60)
    assert done.returncode == 1
    assert yaml.safe_load(done.stdout)["results"] == [{
        "message": "stdin: expected a KRM ResourceList (kind: ResourceList with items and functionConfig)",
        "severity": "error"}]
    done = subprocess.run([CLI, "kustomize", "function"], input=yaml.safe_dump(resource_list), capture_output=True,
                          text=True, cwd=app, timeout=60,
                          env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert done.returncode == 0, done.stderr
    out = yaml.safe_load(done.stdout)
    assert out["kind"] == "ResourceList" and out["functionConfig"] == config
    check_injected(yaml.safe_dump_all(out["items"]))
    (result,) = out["results"]
    assert result["severity"] == "warning"
    assert "no container runs artifact worker (images found: registry.test/app:1.0)" in result["message"]

    config["spec"]["skaffold"] = "../missing.yaml"
    done = subprocess.run([CLI, "kustomize", "function"], input=yaml.safe_dump(resource_list), capture_output=True,
                          text=True, cwd=app, timeout=60)
    assert done.returncode == 1
    out = yaml.safe_load(done.stdout)
    assert out["items"] == items  # unchanged
    (result,) = out["results"]
    assert result["severity"] == "error"
    assert result["message"] == f"{app / '../missing.yaml'}: no such file (name the skaffold.yaml to sync for)"
    assert result["message"] in done.stderr


def test_a_failing_krm_function_makes_kustomize_fail_with_our_message(tmp_path, real_tool):
    kustomize = real_tool("kustomize")
    app = project(tmp_path, krm=True, spec="  skaffold: ../skaffold.yaml\n  imageconfig: {app: ../app.json}\n")
    done = run([kustomize, "build", "--enable-alpha-plugins", "--enable-exec", str(app)], tmp_path)
    assert done.returncode != 0
    assert done.stdout == ""
    assert ("downstream-sync: error: functionConfig: unknown field spec.imageconfig "
            "(known: skaffold, profiles, helperImage, imageConfig)") in done.stderr


# --- the legacy exec plugin -----------------------------------------------------------------


def install_plugin(root):
    done = run([CLI, "kustomize", "install-plugin", str(root / "plugins")], root)
    assert done.returncode == 0, done.stderr
    plugin = root / "plugins" / "downstream-sync.dev" / "v1" / "injector" / "Injector"
    assert os.access(plugin, os.X_OK)
    return root / "plugins"


@pytest.mark.parametrize("tool", ["kustomize", "kubectl"])
def test_the_legacy_exec_plugin_run_by_kustomize_and_kubectl_injects_the_helper(tmp_path, real_tool, tool):
    path = real_tool(tool)
    app = project(tmp_path, krm=False)
    home = install_plugin(tmp_path)
    argv = [path, "build", str(app)] if tool == "kustomize" else [path, "kustomize", str(app)]
    done = run([*argv, "--enable-alpha-plugins"], tmp_path, KUSTOMIZE_PLUGIN_HOME=str(home))
    assert done.returncode == 0, done.stderr
    check_injected(done.stdout)
    assert documents(done.stdout) == expected(tmp_path, real_tool("kustomize"))


def test_a_failing_legacy_plugin_makes_kustomize_fail_with_our_message(tmp_path, real_tool):
    kustomize = real_tool("kustomize")
    app = project(tmp_path, krm=False, spec="  skaffold: ../skaffold.yaml\n  imageConfig: {app: ../gone.json}\n")
    home = install_plugin(tmp_path)
    done = run([kustomize, "build", "--enable-alpha-plugins", str(app)], tmp_path, KUSTOMIZE_PLUGIN_HOME=str(home))
    assert done.returncode != 0
    assert done.stdout == ""
    assert (f"downstream-sync: error: the Injector config 'inject': spec.imageConfig {app / '../gone.json'}: "
            "No such file or directory") in done.stderr


def test_without_the_plugin_installed_kustomize_says_it_is_missing(tmp_path, real_tool):
    """The plugin files are what makes the Injector kind known: without them kustomize refuses."""
    kustomize = real_tool("kustomize")
    app = project(tmp_path, krm=False)
    (tmp_path / "empty").mkdir()
    done = run([kustomize, "build", "--enable-alpha-plugins", str(app)], tmp_path,
               KUSTOMIZE_PLUGIN_HOME=str(tmp_path / "empty"))
    assert done.returncode != 0
    assert "downstream-sync.dev/v1/injector/Injector" in done.stderr


def test_the_plugin_in_kustomize_s_default_folder_needs_no_plugin_home(tmp_path, real_tool):
    """kustomize looks in $XDG_CONFIG_HOME/kustomize/plugin (~/.config/kustomize/plugin) by default."""
    kustomize = real_tool("kustomize")
    app = project(tmp_path, krm=False)
    done = run([CLI, "kustomize", "install-plugin", str(tmp_path / "config" / "kustomize" / "plugin")], tmp_path)
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k != "KUSTOMIZE_PLUGIN_HOME"}
    done = subprocess.run([kustomize, "build", "--enable-alpha-plugins", str(app)], capture_output=True, text=True,
                          timeout=120, env={**env, "XDG_CONFIG_HOME": str(tmp_path / "config"),
                                            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    check_injected(done.stdout)


def test_the_legacy_plugin_under_hostile_names_runs_only_our_code(tmp_path, real_tool):
    """Project and plugin home under a name with quotes, `$(...)`, a newline and a byte that is not
    UTF-8; a package named like ours in the kustomization's folder, where kustomize runs the plugin:
    the helper is injected, nothing else runs, and install-plugin prints each path on one line."""
    hostile = os.fsdecode(b"a b'c\"$(touch PWNED)`touch PWNED`\nnl\xff")
    root = tmp_path / hostile
    root.mkdir()
    app = project(root, krm=False)
    (app / "downstream_sync").mkdir()
    (app / "downstream_sync" / "__init__.py").write_text(f"open({str(tmp_path / 'SHADOWED')!r}, 'w').close()\n")
    home = root / "plugins"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DOCKER_HOST": "unix:///nonexistent",
           "KUSTOMIZE_PLUGIN_HOME": str(home)}
    done = subprocess.run([CLI, "kustomize", "install-plugin", str(home)], capture_output=True, cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b"\n") == 2 and b"\\udcff" in done.stdout, done.stdout
    done = subprocess.run([real_tool("kustomize"), "build", "--enable-alpha-plugins", str(app)], capture_output=True,
                          cwd=root, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    check_injected(done.stdout.decode())
    assert not [n for _, dirs, files in os.walk(tmp_path) for n in dirs + files if n in ("PWNED", "SHADOWED")]
