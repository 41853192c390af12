"""The programs Skaffold runs for the wrapper: the `kubectl` shim and the Helm post-renderer.

They run here as Skaffold runs them (the scripts write_shims makes, the environment prepare sets),
with the real kubectl behind the shim; where what kubectl receives is the question, a recorder
stands behind it instead (the real kubectl would need a cluster for an apply: the cluster tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from downstream_sync.skaffold.run import prepare
from downstream_sync.skaffold.shims import ENV_KUBECTL, ENV_PYTHON, ENV_WRAPPER_STDERR, built_tags, injects

from .conftest import DEPLOYMENT

# The kubectl command lines of Skaffold v2 (pkg/skaffold/kubectl/cli.go puts --context, --namespace
# and --kubeconfig before the command; deploy/kubectl/cli.go: deploy.kubectl.flags.global and the
# command's own flags after it), and by hand.
SKAFFOLD_APPLIES = [
    ["--context", "kind-dev", "--namespace", "dev", "--kubeconfig", "/k/config", "apply", "-f", "-"],
    ["--context", "kind-dev", "apply", "--v=3", "--server-side", "-f", "-", "--force", "--grace-period=0"],
    ["--context", "kind-dev", "apply", "-f", "-", "--validate=false"],
    ["apply", "--filename=-"], ["apply", "-f=-"], ["apply", "-f-"], ["apply", "--filename", "-"],
    ["-n", "ns", "apply", "-f", "-"], ["-nns", "apply", "-f", "-"], ["--namespace=apply", "apply", "-f", "-"],
    ["--context", "a b $(touch x)", "apply", "-f", "-"], ["create", "-f", "-"], ["replace", "--force", "-f", "-"],
    ["apply", "-f", "/dev/stdin"],
]
PASSED_THROUGH = [
    ["version", "--client", "-ojson"],
    ["--context", "kind-dev", "get", "-f", "-", "--ignore-not-found", "-ojson"],
    ["--context", "kind-dev", "delete", "--ignore-not-found=true", "--wait=false", "-f", "-"],
    ["--context", "kind-dev", "create", "--dry-run=client", "-oyaml", "-f", "k8s/web.yaml"],
    ["apply", "-f", "k8s/web.yaml"], ["--namespace", "apply", "get", "pods"], ["--context", "create", "get", "-f", "-"],
    ["apply", "view-last-applied", "-f", "-"], ["apply", "--", "-f", "-"], ["get", "apply", "-f", "-"],
]


def test_the_commands_that_apply_manifests_from_stdin_are_told_from_the_others():
    for argv in SKAFFOLD_APPLIES:
        assert injects(argv), argv
    for argv in PASSED_THROUGH:
        assert not injects(argv), argv


@pytest.fixture
def shims(project, real_tool, monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(real_tool("kubectl")) + os.pathsep + os.environ["PATH"])
    prepared = prepare(project.skaffold, ["deploy"], image_configs=(f"web={project.root / 'web-config.json'}",),
                       cwd=project.root)
    yield prepared
    prepared.cleanup()


def shim(prepared, name, *args, stdin=""):
    folder = prepared.env["PATH"].split(os.pathsep)[0]
    return subprocess.run([os.path.join(folder, name), *args], input=stdin, env=prepared.env,
                          capture_output=True, text=True, timeout=60)


def test_the_kubectl_shim_is_first_on_skaffolds_path_and_passes_other_commands_through(shims):
    real = shutil.which("kubectl")
    if real is None:
        pytest.fail("kubectl is needed (the shim stands in front of it)")
    assert shims.env[ENV_KUBECTL] == real
    assert shutil.which("kubectl", path=shims.env["PATH"]) != real  # Skaffold finds the shim
    through = shim(shims, "kubectl", "version", "--client")
    direct = subprocess.run([real, "version", "--client"], capture_output=True, text=True, timeout=60)
    assert through.returncode == direct.returncode == 0 and through.stdout == direct.stdout


def recorder(tmp_path):
    """Stands where the real kubectl would: records its argv and stdin, exits with $RECORD_EXIT."""
    path = tmp_path / "recording-kubectl"
    path.write_text(f"#!{sys.executable}\n" + """\
import json, os, sys
with open(os.environ["RECORD"], "a") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read()}) + "\\n")
sys.exit(int(os.environ.get("RECORD_EXIT", "0")))
""")
    path.chmod(0o755)
    return path


def test_every_apply_form_is_injected_and_every_other_command_reaches_kubectl_as_it_was(shims, tmp_path):
    record = tmp_path / "record.jsonl"
    shims.env.update({ENV_KUBECTL: str(recorder(tmp_path)), "RECORD": str(record), "RECORD_EXIT": "7"})
    for argv in SKAFFOLD_APPLIES + PASSED_THROUGH:
        record.unlink(missing_ok=True)
        result = shim(shims, "kubectl", *argv, stdin=DEPLOYMENT)
        assert result.returncode == 7, (argv, result.stderr)  # kubectl's own exit code
        [seen] = [json.loads(line) for line in record.read_text().splitlines()]
        assert seen["argv"] == argv
        if argv in SKAFFOLD_APPLIES:
            deployment = next(yaml.safe_load_all(seen["stdin"]))
            assert deployment["spec"]["template"]["spec"]["containers"][0]["command"] == ["/sync-helper/app-server"]
        else:
            assert seen["stdin"] == DEPLOYMENT, argv


def test_only_the_commands_that_inject_start_python(shims):
    """The other commands cost what kubectl costs: with no Python to run, they still work."""
    real = shims.env[ENV_KUBECTL]
    shims.env[ENV_PYTHON] = "/nonexistent/python"
    through = shim(shims, "kubectl", "version", "--client", "-o", "json")
    direct = subprocess.run([real, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60)
    assert through.returncode == direct.returncode == 0 and through.stdout == direct.stdout
    refused = shim(shims, "kubectl", "apply", "-f", "-", stdin=DEPLOYMENT)
    assert refused.returncode == 127 and "/nonexistent/python" in refused.stderr


def test_stdin_stdout_and_exit_codes_pass_through_the_real_kubectl(shims):
    real = shims.env[ENV_KUBECTL]
    for argv, stdin in ((["set", "image", "--local", "-f", "-", "web=web:2", "-o", "yaml"], DEPLOYMENT),
                        (["label", "--local", "-f", "-", "tier=web", "-o", "json"], DEPLOYMENT),
                        (["no-such-command"], ""), (["get", "--no-such-flag"], ""),
                        (["--context", "nowhere", "version", "--client"], "")):
        through = shim(shims, "kubectl", *argv, stdin=stdin)
        direct = subprocess.run([real, *argv], input=stdin, capture_output=True, text=True, timeout=60,
                                env=shims.env)
        assert (through.returncode, through.stdout, through.stderr) == \
            (direct.returncode, direct.stdout, direct.stderr), argv
    assert through.returncode == 0 and direct.returncode == 0


def test_the_kubectl_shim_refuses_manifests_it_cannot_inject_before_kubectl_sees_them(shims):
    result = shim(shims, "kubectl", "apply", "-f", "-", stdin="kind: [unclosed\n")
    assert result.returncode == 1
    assert result.stderr.startswith("downstream-sync: error: the manifests Skaffold applies")


def test_the_post_renderer_injects_and_leaves_other_documents(shims):
    result = shim(shims, "post-render", stdin=DEPLOYMENT)
    assert result.returncode == 0, result.stderr
    deployment, configmap = yaml.safe_load_all(result.stdout)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["command"] == ["/sync-helper/app-server"]
    assert configmap == list(yaml.safe_load_all(DEPLOYMENT))[1]
    # A release without the artifact (Skaffold applies what changed) passes through as it is.
    only_config = DEPLOYMENT.split("---\n")[1]
    result = shim(shims, "post-render", stdin=only_config)
    assert result.returncode == 0 and result.stdout == only_config


def test_the_built_tags_come_from_the_build_artifacts_file_the_filters_command_line_names(tmp_path):
    builds = tmp_path / "builds.json"
    builds.write_text(json.dumps({"builds": [{"imageName": "web", "tag": "web:abc@sha256:" + "1" * 64}]}))
    assert built_tags(f"filter --kube-context k --build-artifacts {builds} --post-renderer /x/post-render") == \
        {"web": "web:abc@sha256:" + "1" * 64}
    assert built_tags(f"filter --build-artifacts={builds}") == {"web": "web:abc@sha256:" + "1" * 64}
    assert built_tags("filter --kube-context k") == {} and built_tags(None) == {}


def test_the_post_renderer_reads_an_image_as_the_chart_wrote_it_under_the_tag_skaffold_built(project, tmp_path):
    """Inside `skaffold filter` the post-renderer runs before the built tags are put in: `image: web`.
    Its config is found only under the built tag here (an --image-config for that exact reference)."""
    tag = "web:abc123@sha256:" + "2" * 64
    prepared = prepare(project.skaffold, ["deploy"], image_configs=(f"{tag}={project.root / 'web-config.json'}",),
                       cwd=project.root)
    try:
        builds = tmp_path / "builds.json"
        builds.write_text(json.dumps({"builds": [{"imageName": "web", "tag": tag}]}))
        prepared.env["SKAFFOLD_CMDLINE"] = f"filter --kube-context k --build-artifacts {builds}"
        result = shim(prepared, "post-render", stdin=DEPLOYMENT)
        assert result.returncode == 0, result.stderr
        deployment = next(yaml.safe_load_all(result.stdout))
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["/sync-helper/app-server"] and container["image"] == "web"  # Skaffold tags it
        args = container["args"]
        assert args[args.index("--workdir") + 1] == "/srv"  # from the built tag's config
        prepared.env["SKAFFOLD_CMDLINE"] = "filter --kube-context k"  # no builds: `web` itself has no config
        result = shim(prepared, "post-render", stdin=DEPLOYMENT)
        assert result.returncode == 1 and "cannot read the config of image web" in result.stderr
    finally:
        prepared.cleanup()


def test_a_failing_post_renderer_tells_the_wrapper_and_prints_no_yaml(shims, tmp_path):
    """`skaffold filter` drops the post-renderer's stderr and exit code: the message goes to the
    wrapper's stderr too, and stdout is no YAML (the filter, and so Helm's install, fail)."""
    wrapper_stderr = tmp_path / "wrapper-stderr"
    shims.env[ENV_WRAPPER_STDERR] = str(wrapper_stderr)
    result = shim(shims, "post-render", stdin="kind: [unclosed\n")
    assert result.returncode == 1
    assert result.stderr.startswith("downstream-sync: error: the manifests Helm rendered")
    assert wrapper_stderr.read_text() == result.stderr
    with pytest.raises(yaml.YAMLError):
        list(yaml.safe_load_all(result.stdout))


def test_prepare_names_its_own_stderr_for_the_post_renderer(shims):
    assert shims.env[ENV_WRAPPER_STDERR] == f"/proc/{os.getpid()}/fd/2"
