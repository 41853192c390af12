"""Errors of reaching the helper, through the real console script: one line, no traceback,
non-zero exit.

There is no Kubernetes API server on these machines: the kubeconfig points at a loopback port
where nothing listens, so the errors are the real ones of the `kubernetes` client and kubectl.
"""

import sys
from pathlib import Path

from clitools import run

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}
contexts:
- name: dev
  context: {cluster: nowhere, user: me, namespace: team-a}
current-context: dev
users:
- name: me
  user: {token: not-a-real-token}
"""


def one_error_line(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("downstream-sync: error: ")
    return lines[0]


def test_unreachable_cluster(project, tmp_path):
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    env = {"KUBECONFIG": str(tmp_path / "kubeconfig"), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    for command in ("pull", "start"):
        line = one_error_line(run(command, "-f", str(project / "skaffold.yaml"), env=env))
        assert "cannot reach the Kubernetes API at https://127.0.0.1:9 (namespace 'team-a', the current context)" in line


def test_kubectl_missing(project, tmp_path):
    env = {"PATH": str(tmp_path)}  # no kubectl there
    line = one_error_line(run("pull", "-f", str(project / "skaffold.yaml"), env=env))
    assert "kubectl not found" in line and "--connect-command" in line


def test_connect_command_not_found(project):
    line = one_error_line(run("pull", "-f", str(project / "skaffold.yaml"),
                              "--connect-command", "no-such-bridge --to {image}"))
    assert line == "downstream-sync: error: connect command: 'no-such-bridge' not found (not an executable file, nor on PATH)"


def test_no_helper_behind_the_connect_command(project, tmp_path):
    """app-connect finds no app-server socket: pull gives up after its retries, in one line that
    carries app-connect's own words."""
    command = f"{Path(sys.executable).parent / 'app-connect'} --socket {tmp_path / 'nothing.sock'}"
    line = one_error_line(run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", command))
    assert "cannot reach the helper" in line and "nothing.sock" in line
