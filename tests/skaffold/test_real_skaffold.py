"""`downstream-sync skaffold` with the real Skaffold v2 (built by tests/tools/build.sh).

No cluster here: `render --offline`, `diagnose`, and `dev` up to a build that fails or is
interrupted. A `dev` that deploys (the sessions starting on the deploy's event, following the new
pods, the kubectl shim on a real apply, the Helm post-renderer on a real install, and the rebuild
loop with and without its fix) needs a Kubernetes API server and a node: the cluster tests do it.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import yaml

from downstream_sync.config.strip import strip_download

from .conftest import DEPLOYMENT, skaffold_yaml

RENDER = ["render", "--offline", "--digest-source=tag"]


def run(argv, project, cwd=None, timeout=120):
    return subprocess.run(argv, cwd=cwd or project.root, env=project.env, capture_output=True, text=True,
                          timeout=timeout)


def stock(project, *args, config=None):
    """Stock Skaffold on the user's config (or on `config`, a file beside it)."""
    argv = [project.skaffold, *args] + (["--filename", str(config)] if config else [])
    return run(argv, project)


def stripped_copy(project):
    """The config without download stanzas, beside the original: what stock Skaffold accepts."""
    copy = project.root / "stripped.yaml"
    copy.write_text(strip_download(project.config.read_text())[0])
    return copy


def web_container(documents):
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    return deployment, deployment["spec"]["template"]["spec"]["containers"][0]


def test_render_through_the_wrapper_is_injected_where_stock_skaffold_refuses_the_config(project):
    refused = stock(project, *RENDER)
    assert refused.returncode != 0
    assert "field download not found" in refused.stdout + refused.stderr

    result = run(project.wrapper(*RENDER), project)
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    deployment, container = web_container(documents)
    assert deployment["spec"]["template"]["metadata"]["annotations"]["downstream-sync.dev/injected"] == "web"
    assert container["image"] == "web:latest"  # as Skaffold rendered it
    assert container["command"] == ["/sync-helper/app-server"]
    args = container["args"]
    assert args[args.index("--targets") + 1] == "out" and args[args.index("--excludes") + 1] == "*.tmp"
    assert args[args.index("--") + 1:] == ["/bin/server", "--port", "8080"]
    configmap = next(d for d in documents if d["kind"] == "ConfigMap")
    assert configmap == list(yaml.safe_load_all(DEPLOYMENT))[1]


def test_render_to_a_file_from_another_folder_injects_the_file(project, tmp_path):
    out = tmp_path / "rendered.yaml"
    result = run(project.wrapper(*RENDER, "-f", "project/skaffold.yaml", "-o", "rendered.yaml"), project,
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, container = web_container(list(yaml.safe_load_all(out.read_text())))
    assert container["command"] == ["/sync-helper/app-server"]


def test_diagnose_runs_on_the_copy(project):
    refused = stock(project, "diagnose")
    assert refused.returncode != 0 and "field download not found" in refused.stdout + refused.stderr
    result = run(project.wrapper("diagnose"), project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Number of artifacts: 1" in result.stdout
    assert "download" not in result.stdout


def test_helm_deploys_get_the_post_renderer_and_skaffold_takes_the_copy(project):
    helm = "helm:\n  releases:\n  - name: web\n    chartPath: chart\n  flags:\n    install: [--atomic]"
    project.write(skaffold_yaml(deploy=helm).replace("manifests:\n  rawYaml:\n  - k8s/*.yaml\n", ""))
    result = run(project.wrapper("diagnose", "--yaml-only"), project)
    assert result.returncode == 0, result.stdout + result.stderr
    effective = yaml.safe_load(result.stdout)
    flags = effective["deploy"]["helm"]["flags"]
    assert flags["install"][0] == "--atomic"
    for name in ("install", "upgrade"):
        assert flags[name][-2] == "--post-renderer" and flags[name][-1].endswith("/post-render")
    assert copies(project) == []  # the copy Skaffold read, beside the config, is gone


def test_a_failing_skaffold_exits_with_its_own_code(project):
    (project.root / "k8s" / "web.yaml").write_text("kind: [unclosed\n")
    expected = stock(project, *RENDER, config=stripped_copy(project))
    assert expected.returncode != 0
    result = run(project.wrapper(*RENDER), project)
    assert result.returncode == expected.returncode, result.stderr
    assert "Traceback" not in result.stderr


def test_a_relative_skaffold_path_is_from_where_the_wrapper_runs(project, tmp_path):
    import os

    relative = os.path.relpath(project.skaffold, tmp_path)
    argv = project.wrapper(*RENDER, "-f", str(project.config))
    argv[argv.index("--skaffold") + 1] = relative
    result = run(argv, project, cwd=tmp_path)  # Skaffold itself runs in the config's folder
    assert result.returncode == 0, result.stderr
    _, container = web_container(list(yaml.safe_load_all(result.stdout)))
    assert container["command"] == ["/sync-helper/app-server"]


def test_commands_that_read_no_config_pass_through(project):
    result = run(project.wrapper("version"), project)
    assert result.returncode == 0 and result.stdout.strip() == "v2.16.1"


def test_dev_reads_the_event_stream_and_says_the_first_iteration_failed(project):
    """The real /v2/events stream of a dev whose build fails (a custom build that exits 3)."""
    project.write(skaffold_yaml(build="custom:\n  buildCommand: exit 3"))
    expected = stock(project, "dev", config=stripped_copy(project))
    result = run(project.wrapper("dev"), project)
    assert result.returncode == expected.returncode != 0
    assert "skaffold iteration 1 failed (build [web] failed" in result.stdout
    assert "no deploy is up yet, nothing is synced" in result.stdout


def _dev_until_building(argv, project):
    process = subprocess.Popen(argv, cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Building [web]"):
            return process, seen
    process.wait(timeout=30)
    pytest.fail("skaffold never started the build:\n" + "".join(seen))


def _build_sleeps(project):
    """The custom build's sleep, found by the marker file it writes (its pid)."""
    marker = project.root / "build.pid"
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text().strip():
        if time.monotonic() > deadline:
            pytest.fail("the build command never ran")
        time.sleep(0.05)
    return int(marker.read_text())


def wait_gone(pid: int) -> None:
    """Wait (bounded) until `pid` has ended: gone, or a zombie its new parent has yet to reap."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    pytest.fail(f"the build command (pid {pid}) still runs")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_reaches_skaffold_once_and_its_exit_code_comes_back(project, sig):
    """Ctrl+C (SIGINT) or SIGTERM to the wrapper during a build: Skaffold cancels the build (its
    command is gone) and the wrapper exits as stock Skaffold does in the same place."""
    import os

    project.write(skaffold_yaml(build="custom:\n  buildCommand: echo $$ > ../build.pid; exec sleep 60"))
    codes = {}
    for who, argv in (("stock", [project.skaffold, "dev", "--filename", str(stripped_copy(project))]),
                      ("wrapper", project.wrapper("dev"))):
        (project.root / "build.pid").unlink(missing_ok=True)
        process, seen = _dev_until_building(argv, project)
        build = _build_sleeps(project)
        os.kill(process.pid, sig)
        rest = process.communicate(timeout=60)[0]
        codes[who] = process.returncode
        wait_gone(build)
        assert "was canceled" in "".join(seen) + rest, who
    assert codes["wrapper"] == codes["stock"]


def test_refusals_name_what_to_do(project):
    result = run(project.wrapper("render", "-f", "-"), project)
    assert result.returncode == 2 and "name the file" in result.stderr
    (project.root / "base").mkdir()
    (project.root / "base" / "skaffold.yaml").write_text(skaffold_yaml())
    project.write(project.config.read_text() + "requires:\n- path: base\n")
    result = run(project.wrapper(*RENDER), project)
    assert result.returncode == 2 and "base/skaffold.yaml: a config that skaffold.yaml requires" in result.stderr
    project.write("apiVersion: skaffold/v4beta13\nkind: Config\n")
    result = run(project.wrapper(*RENDER), project)
    assert result.returncode == 2 and "no artifact has a download stanza" in result.stderr


# --- Helm: the copy in a file beside the config while Skaffold runs --------------------------------

HELM = "helm:\n  releases:\n  - name: web\n    chartPath: chart"


def helm_config(project, real_tool, build):
    """A Helm deploy (the real helm first on PATH: Skaffold checks its version before the build)."""
    import os

    project.env["PATH"] = os.path.dirname(real_tool("helm")) + os.pathsep + project.env["PATH"]
    project.write(skaffold_yaml(build=build, deploy=HELM).replace("manifests:\n  rawYaml:\n  - k8s/*.yaml\n", ""))


def copies(project):
    return sorted(p.name for p in project.root.iterdir() if p.name.startswith(".skaffold.downstream-sync-"))


def test_a_helm_dev_reads_the_copy_from_a_file_beside_the_config_removed_when_skaffold_ends(project, real_tool):
    """The build command (run in the context, app/) lists the config's folder while Skaffold runs."""
    helm_config(project, real_tool, "custom:\n  buildCommand: ls -a .. > ../seen.txt; exit 3")
    result = run(project.wrapper("dev"), project)
    assert result.returncode != 0 and "skaffold iteration 1 failed (build [web] failed" in result.stdout, \
        result.stdout + result.stderr
    seen = [n for n in (project.root / "seen.txt").read_text().split() if n.startswith(".skaffold.downstream-sync-")]
    assert len(seen) == 1 and seen[0].endswith(".yaml"), seen
    assert copies(project) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_helm_dev_ends_skaffold_and_the_copy_goes(project, real_tool, sig):
    import os

    helm_config(project, real_tool, "custom:\n  buildCommand: echo $$ > ../build.pid; exec sleep 60")
    process, seen = _dev_until_building(project.wrapper("dev"), project)
    build = _build_sleeps(project)
    assert copies(project) == [f".skaffold.downstream-sync-{process.pid}.yaml"]
    os.kill(process.pid, sig)
    rest = process.communicate(timeout=60)[0]
    wait_gone(build)
    assert "was canceled" in "".join(seen) + rest
    assert copies(project) == []


def test_a_failing_post_renderer_fails_the_real_skaffold_filter(project, real_tool, tmp_path):
    """The real `skaffold filter`, as Helm runs it, with our post-renderer failing (manifests it
    cannot read): the filter fails (else Helm would install an empty release) and the wrapper's
    stderr (here a file) gets the message."""
    import os

    from downstream_sync.skaffold.run import prepare
    from downstream_sync.skaffold.shims import ENV_WRAPPER_STDERR

    helm_config(project, real_tool, "docker: {}")
    prepared = prepare(project.skaffold, ["deploy"], cwd=project.root)
    try:
        told = tmp_path / "wrapper-stderr"
        env = {**project.env, **prepared.env, ENV_WRAPPER_STDERR: str(told),
               "PATH": project.env["PATH"] + os.pathsep + prepared.env["PATH"],
               "SKAFFOLD_FILENAME": str(prepared.copy_file),
               "SKAFFOLD_CMDLINE": f"filter --kube-context remote --post-renderer {prepared.temp.name}/post-render"}
        done = subprocess.run([project.skaffold], input="kind: [unclosed\n", env=env, cwd=project.root,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and done.stdout.strip() == "", done
        assert told.read_text().startswith("downstream-sync: error: the manifests Helm rendered")
    finally:
        prepared.cleanup()
