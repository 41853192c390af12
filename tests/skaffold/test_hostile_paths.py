"""The wrapper, its shims and the post-renderer chain under hostile names: a project folder and a
kubeconfig whose names hold spaces, quotes, `$(...)`, backquotes, a newline, a byte that is not
UTF-8, and a word that looks like a flag; a package named like ours in the project folder (the shims
run from it); arguments that look like flags. Nothing may run (no PWNED, no SHADOWED file), nothing
may be misparsed: the real Skaffold renders, the shim hands kubectl the same words, the real Helm
runs the user's post-renderer with its arguments as written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from downstream_sync.skaffold.run import WrapperError, prepare
from downstream_sync.skaffold.shims import ENV_KUBECTL

from .conftest import CLI, skaffold_yaml

HOSTILE = os.fsdecode(b"a b'c\"$(touch PWNED)`touch PWNED`;x\nnl\xff -f")
UTF8_HOSTILE = "my renderer $(touch PWNED) `touch PWNED`'\"; -f"


def no_traces(top):
    found = [os.path.join(d, n) for d, dirs, files in os.walk(top) for n in dirs + files
             if n in ("PWNED", "SHADOWED")]
    assert not found, found


@pytest.fixture
def hostile(project, tmp_path):
    """The project moved to a hostile folder, a hostile kubeconfig, and a package named like ours
    in the project that leaves a SHADOWED file when it is imported."""
    root = tmp_path / HOSTILE
    shutil.move(project.root, root)
    project.root = root
    kubeconfig = tmp_path / (HOSTILE + ".kubeconfig")
    shutil.move(tmp_path / "kubeconfig", kubeconfig)
    project.env["KUBECONFIG"] = str(kubeconfig)
    shadow = root / "downstream_sync"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(f"open({str(tmp_path / 'SHADOWED')!r}, 'w').close()\n")
    (shadow / "skaffold").mkdir()
    (shadow / "skaffold" / "__init__.py").write_text("")
    (shadow / "skaffold" / "shims.py").write_text("def main(argv): return 0\n")
    configs = tmp_path / ("configs " + HOSTILE)
    configs.mkdir()
    shutil.move(root / "web-config.json", configs / "web-config.json")
    project.image_config = configs / "web-config.json"
    yield project
    no_traces(tmp_path)


def test_render_of_a_hostile_project_from_elsewhere_is_injected(hostile, tmp_path):
    argv = [CLI, "skaffold", "--skaffold", hostile.skaffold, "--image-config", f"web={hostile.image_config}",
            "render", "--offline", "--digest-source=tag", "-f", str(hostile.config)]
    result = subprocess.run(argv, cwd=tmp_path, env=hostile.env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    deployment = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/sync-helper/app-server"]
    assert container["args"][container["args"].index("--") + 1:] == ["/bin/server", "--port", "8080"]


def test_the_kubectl_shim_hands_kubectl_hostile_words_as_they_were(hostile, tmp_path, real_tool, monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(real_tool("kubectl")) + os.pathsep + os.environ["PATH"])
    kubeconfig = hostile.env["KUBECONFIG"]
    prepared = prepare(hostile.skaffold, ["deploy", "--kubeconfig", kubeconfig],
                       image_configs=(f"web={hostile.image_config}",), cwd=hostile.root)
    try:
        recorder = tmp_path / "recording kubectl"
        recorder.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(tmp_path / 'record')!r}, 'w').write("
                            "json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read()}))\n")
        recorder.chmod(0o755)
        prepared.env[ENV_KUBECTL] = str(recorder)
        shim = os.path.join(prepared.env["PATH"].split(os.pathsep)[0], "kubectl")
        for argv, injected in ((["--context", HOSTILE, "--namespace", "-f", "--kubeconfig", kubeconfig, "apply",
                                 "-f", "-", "--selector", "$(touch PWNED)"], True),
                               (["--namespace", "apply", "--kubeconfig", kubeconfig, "get", "-f", "-", HOSTILE],
                                False)):
            done = subprocess.run([shim, *argv], input=open(hostile.root / "k8s" / "web.yaml", "rb").read(),
                                  cwd=prepared.cwd, env=prepared.env, capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr
            seen = json.loads((tmp_path / "record").read_text())
            assert seen["argv"] == argv
            container = next(yaml.safe_load_all(seen["stdin"]))["spec"]["template"]["spec"]["containers"][0]
            assert (container["command"] == ["/sync-helper/app-server"]) is injected
    finally:
        prepared.cleanup()


RECORDING_RENDERER = f"""#!{sys.executable}
import json, sys
open(sys.argv[0] + ".argv", "w").write(json.dumps(sys.argv[1:]))
sys.stdout.write(sys.stdin.read())
"""
CHART = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web, command: [/bin/server]}]
"""


def test_a_hostile_post_renderer_of_the_users_gets_its_flag_like_args_as_written(hostile, real_tool):
    chart = hostile.root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "templates" / "web.yaml").write_text(CHART)
    (hostile.root / "bin").mkdir()
    renderer = hostile.root / "bin" / UTF8_HOSTILE
    renderer.write_text(RECORDING_RENDERER)
    renderer.chmod(0o755)
    args = ["-f", "--help", "$(touch PWNED)", "--post-renderer", "a\nb"]
    install = ["--post-renderer", f"bin/{UTF8_HOSTILE}"] + [w for a in args for w in ("--post-renderer-args", a)]
    helm = {"helm": {"releases": [{"name": "web", "chartPath": "chart"}], "flags": {"install": install}}}
    hostile.write(skaffold_yaml(deploy=yaml.safe_dump(helm)).replace("manifests:\n  rawYaml:\n  - k8s/*.yaml\n", ""))
    prepared = prepare(hostile.skaffold, ["deploy"], image_configs=(f"web={hostile.image_config}",), cwd=hostile.root)
    try:
        flags = yaml.safe_load(prepared.copy_file.read_text())["deploy"]["helm"]["flags"]["install"]
        env = {**prepared.env, "XDG_CACHE_HOME": str(hostile.root / ".cache"),
               "XDG_CONFIG_HOME": str(hostile.root / ".config"), "XDG_DATA_HOME": str(hostile.root / ".data")}
        done = subprocess.run([real_tool("helm"), "template", "web", "chart", *flags], cwd=prepared.cwd, env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        prepared.cleanup()
    assert done.returncode == 0, done.stderr
    assert json.loads((hostile.root / "bin" / (UTF8_HOSTILE + ".argv")).read_text()) == args
    [deployment] = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["command"] == ["/sync-helper/app-server"]


@pytest.mark.parametrize("folder, said", [("with:colon", "has a ':'"), (os.fsdecode(b"bad\xff"), "not a UTF-8 name")])
def test_a_temporary_folder_the_shims_cannot_live_in_is_refused_saying_what_to_do(project, tmp_path, monkeypatch,
                                                                                 folder, said):
    (tmp_path / folder).mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / folder))
    with pytest.raises(WrapperError, match=f"{said}.*set TMPDIR"):
        prepare(project.skaffold, ["deploy"], cwd=project.root)


def test_status_of_a_hostile_project_prints_one_line(hostile):
    done = subprocess.run([CLI, "status", "-f", str(hostile.config)], env=hostile.env, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b"\n") == 1 and b"\\n" in done.stdout and b"\\udcff" in done.stdout, done.stdout
