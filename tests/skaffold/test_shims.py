"""The programs Skaffold runs for the wrapper: the `kubectl` shim and the Helm post-renderer.

They run here as Skaffold runs them (the scripts write_shims makes, the environment prepare sets),
with the real kubectl behind the shim. An apply that reaches a cluster needs one: the cluster tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from downstream_sync.skaffold.run import prepare
from downstream_sync.skaffold.shims import ENV_KUBECTL, ENV_WRAPPER_STDERR, built_tags, is_apply_from_stdin

from .conftest import DEPLOYMENT


def test_the_applies_skaffold_makes_are_recognized():
    # pkg/skaffold/deploy/kubectl/cli.go: kubectl [--context C] [--namespace N] apply [flags] -f - [--force ...]
    assert is_apply_from_stdin(["--context", "kind", "--namespace", "dev", "apply", "-f", "-"])
    assert is_apply_from_stdin(["apply", "--server-side", "-f", "-", "--force", "--grace-period=0"])
    assert is_apply_from_stdin(["apply", "--filename=-"])
    assert not is_apply_from_stdin(["apply", "-f", "k8s/web.yaml"])
    assert not is_apply_from_stdin(["delete", "-f", "-"])
    assert not is_apply_from_stdin(["version", "--client"])


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
