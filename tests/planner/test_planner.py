"""The one planner: real skaffold.yaml files on disk in, checked session plans (or one clear error) out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from downstream_sync.cluster.kubernetes import KubernetesTransport
from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.planner import Hooks, PlanError, SyncOptions, plan_sessions

TWO = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - remoteSrc: out
        localDst: web/out
      excludes: ["*.log"]
  - image: api
    download:
      manual:
      - remoteSrc: /srv/gen
        localDst: api/gen
  - image: plain
profiles:
- name: nodl
  patches:
  - op: remove
    path: /build/artifacts/0/download
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "skaffold.yaml"
    path.write_text(TWO)
    return path


def test_every_artifact_with_rules_gets_a_plan(config: Path):
    plan = plan_sessions(SyncOptions(config))
    assert [(p.name, p.image) for p in plan.sessions] == [("web", "web"), ("api", "api")]
    web = plan.sessions[0]
    assert web.root == config.parent.resolve()
    assert web.rules.local_path("out/a.txt") == config.parent.resolve() / "web/out/a.txt"
    assert web.rules.local_path("out/x.log") is None  # the artifact's excludes
    assert isinstance(web.transport, KubernetesTransport)


def test_kubernetes_options_reach_the_transport(config: Path):
    seen: list[tuple[str, str]] = []
    opts = SyncOptions(config, artifacts=("api",), namespace="ns", kube_context="kind", selector="app=api",
                       container="main", pod_timeout=5)
    [plan] = plan_sessions(opts, Hooks(on_wait=lambda image, message: seen.append((image, message)))).sessions
    t = plan.transport
    assert (t.image, t.namespace, t.context, t.selector, t.container, t.wait_timeout) == (
        "api", "ns", "kind", "app=api", "main", 5)
    t.on_wait("no pod yet")
    assert seen == [("api", "no pod yet")]
    assert t.helper_mode == "auto"
    [forced] = plan_sessions(SyncOptions(config, artifacts=("api",), helper_mode="attach")).sessions
    assert forced.transport.helper_mode == "attach"


def test_connect_command_gets_the_image_in_every_word(config: Path):
    opts = SyncOptions(config, connect_command=("env", "IMG={image}", "echo", "{image}:{image}"))
    plans = plan_sessions(opts).sessions
    assert all(isinstance(p.transport, CommandTransport) for p in plans)
    assert [p.transport.argv for p in plans] == [["env", "IMG=web", "echo", "web:web"],
                                                ["env", "IMG=api", "echo", "api:api"]]


def test_a_missing_connect_program_is_refused_before_any_session(config: Path):
    with pytest.raises(PlanError, match="'no-such-bridge-xyz' not found") as e:
        plan_sessions(SyncOptions(config, connect_command=("no-such-bridge-xyz", "{image}")))
    assert e.value.config is False


def test_a_shell_string_is_not_a_connect_command(config: Path):
    with pytest.raises(PlanError, match="list of words"):
        plan_sessions(SyncOptions(config, connect_command="sh -c 'touch x'"))  # type: ignore[arg-type]


def test_unknown_artifact_names_the_known_ones(config: Path):
    with pytest.raises(PlanError) as e:
        plan_sessions(SyncOptions(config, artifacts=("wbe",)))
    assert "no artifact 'wbe'" in str(e.value) and "api, plain, web" in str(e.value)


def test_an_artifact_without_rules_and_a_profile_that_removes_them(config: Path):
    with pytest.raises(PlanError, match="artifact plain in .* has no download stanza"):
        plan_sessions(SyncOptions(config, artifacts=("plain",)))
    plan = plan_sessions(SyncOptions(config, profiles=("nodl",)))
    assert [p.image for p in plan.sessions] == ["api"]
    with pytest.raises(PlanError, match="with profiles nodl"):
        plan_sessions(SyncOptions(config, profiles=("nodl",), artifacts=("web",)))


def test_a_bad_later_artifact_fails_the_whole_plan(tmp_path: Path):
    """No plan for artifact 1 while artifact 2 is invalid: a face never starts half of them."""
    (tmp_path / "skaffold.yaml").write_text(TWO.replace("localDst: api/gen", "localDst: ../outside"))
    with pytest.raises(PlanError) as e:
        plan_sessions(SyncOptions(tmp_path / "skaffold.yaml"))
    assert e.value.config and e.value.diagnostics
    assert "has 1 error" in str(e.value)
    assert "skaffold.yaml:" in e.value.with_details() and "outside" in e.value.with_details()


def test_unsaved_editor_text_replaces_the_file(config: Path):
    text = TWO.replace("localDst: web/out", "localDst: elsewhere")
    [web, _] = plan_sessions(SyncOptions(config, text=text)).sessions
    assert web.rules.local_path("out/a.txt") == config.parent.resolve() / "elsewhere/a.txt"


def test_a_session_name_needs_one_artifact(config: Path):
    with pytest.raises(PlanError, match="names one session"):
        plan_sessions(SyncOptions(config, name="mine"))
    [plan] = plan_sessions(SyncOptions(config, name="mine", artifacts=("web",))).sessions
    assert (plan.name, plan.image) == ("mine", "web")


@pytest.mark.parametrize("opts, message", [
    (dict(policy="yolo"), "policy must be"),
    (dict(pod_timeout=-1), "0 or more seconds"),
    (dict(connect_command=()), "empty"),
    (dict(helper_mode="inject"), "helper mode must be one of auto, connect, attach"),
    (dict(kubeconfig=Path("/nonexistent/kubeconfig")), "the kubeconfig /nonexistent/kubeconfig does not exist"),
])
def test_bad_options(config: Path, opts, message):
    with pytest.raises(PlanError, match=message) as e:
        plan_sessions(SyncOptions(config, **opts))
    assert e.value.config is False


def test_the_config_files_are_never_targets(config: Path):
    """The rules know the project's own files (skaffold.yaml and what it requires)."""
    config.write_text("apiVersion: skaffold/v4beta9\nkind: Config\nbuild:\n  artifacts:\n  - image: web\n"
                      "    download:\n      manual:\n      - {remoteSrc: out, localDst: .}\n")
    [web] = plan_sessions(SyncOptions(config)).sessions
    assert web.rules.refusal("skaffold.yaml") is not None
    assert web.rules.refusal("other.yaml") is None


def test_the_kubeconfig_reaches_the_transport(config: Path, tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    plans = plan_sessions(SyncOptions(config, kubeconfig=kubeconfig, kube_context="dev")).sessions
    for plan in plans:
        plan.transport.kubectl = sys.executable  # any program: only its arguments are looked at
        args = plan.transport.kubectl_args("ns")
        assert args[1:] == ["--kubeconfig", str(kubeconfig), "--context", "dev", "--namespace", "ns"]


def test_a_missing_config_says_so(tmp_path: Path):
    with pytest.raises(PlanError, match="no such file"):
        plan_sessions(SyncOptions(tmp_path / "nope.yaml"))


def test_plans_make_sessions_with_their_policy(config: Path):
    [plan] = plan_sessions(SyncOptions(config, artifacts=("web",), policy="remote-wins")).sessions
    session = plan.session(owner="a test")
    assert (session.name, session.policy, session.project_root) == ("web", "remote-wins", config.parent.resolve())


def test_the_planner_imports_no_face(config: Path):
    code = (
        "import sys\n"
        "from downstream_sync.planner import SyncOptions, plan_sessions\n"
        f"plan_sessions(SyncOptions({str(config)!r}))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol')"
        " or m.startswith(('downstream_sync.lsp', 'downstream_sync.cli', 'downstream_sync.terminal')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
