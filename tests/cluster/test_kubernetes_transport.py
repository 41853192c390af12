"""The Kubernetes transport's command line and its errors, with the real `kubectl` binary and
the real `kubernetes` client.

There is no Kubernetes API server on these machines: the kubeconfig points at a loopback port
where nothing listens (127.0.0.1:9), so the errors are the ones kubectl and the client really
give when a cluster cannot be reached.
"""

import sys
from pathlib import Path

import pytest

from downstream_sync.cluster.kubernetes import KubernetesTransport, PodChoice, exec_failure
from downstream_sync.cluster.transport import Transport, TransportError

KUBECTL = str(Path(sys.executable).parent / "kubectl")

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:9
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: nowhere, user: me, namespace: team-a}
- name: plain
  context: {cluster: nowhere, user: me}
current-context: plain
users:
- name: me
  user: {token: not-a-real-token}
"""


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


def choice():
    return PodChoice(namespace="team-a", pod="web-7d9c", container="web", image="node-example:abc",
                     ready=True, candidates=1)


def test_is_a_transport_and_describes_itself():
    t = KubernetesTransport("node-example", "team-a", "dev", None)
    assert isinstance(t, Transport)
    assert t.describe() == "image node-example in team-a (context dev)"
    t.choice = choice()
    assert t.describe() == "pod team-a/web-7d9c (container web)"


def test_exec_argv_attaches_stdin_without_a_tty(kubeconfig):
    t = KubernetesTransport("node-example", None, "dev", None, kubectl=KUBECTL, kubeconfig=kubeconfig)
    assert t.exec_argv(choice()) == [
        KUBECTL, "--kubeconfig", kubeconfig, "--context", "dev", "--namespace", "team-a",
        "exec", "-i", "web-7d9c", "-c", "web", "--", "/sync-helper/app-connect",
    ]
    plain = KubernetesTransport("node-example", None, None, None, helper_path="/opt/h/app-connect", kubectl=KUBECTL)
    argv = plain.exec_argv(choice())
    assert "--context" not in argv and "-t" not in argv and "--tty" not in argv
    assert argv[-3:] == ["web", "--", "/opt/h/app-connect"]


async def test_kubectl_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no kubectl anywhere
    t = KubernetesTransport("node-example", None, None, None)
    with pytest.raises(TransportError) as caught:
        await t.command()
    assert str(caught.value) == ("kubectl not found ('kubectl' is not on PATH): install kubectl, "
                                 "or use --connect-command to reach the helper another way")


async def test_kubectl_failing_gives_its_stderr(kubeconfig):
    t = KubernetesTransport("node-example", None, "dev", None, kubectl=KUBECTL, kubeconfig=kubeconfig)
    with pytest.raises(TransportError) as caught:
        await t.check_helper(choice())
    message = str(caught.value)
    assert message.startswith("kubectl exec into pod team-a/web-7d9c (container web) failed (exit 1): ")
    assert "127.0.0.1:9" in message and "refused" in message
    assert "\n" not in message


async def test_unreachable_api_server_names_the_server_and_what_was_searched(kubeconfig):
    t = KubernetesTransport("node-example", None, "dev", "app=web", kubectl=KUBECTL, kubeconfig=kubeconfig)
    with pytest.raises(TransportError) as caught:
        await t.command()
    message = str(caught.value)
    assert message.startswith("cannot reach the Kubernetes API at https://127.0.0.1:9 ")
    # the namespace comes from the context when --namespace is not given
    assert "namespace 'team-a', context 'dev', label selector 'app=web'" in message
    assert "refused" in message.lower() and "\n" not in message

    other = KubernetesTransport("node-example", "web-ns", None, None, kubectl=KUBECTL, kubeconfig=kubeconfig)
    with pytest.raises(TransportError, match="namespace 'web-ns', the current context"):
        await other.command()


async def test_context_without_namespace_searches_default(kubeconfig):
    t = KubernetesTransport("node-example", None, "plain", None, kubectl=KUBECTL, kubeconfig=kubeconfig)
    with pytest.raises(TransportError, match="namespace 'default', context 'plain'"):
        await t.command()


async def test_bad_kubeconfig_or_unknown_context(tmp_path, kubeconfig, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = str(tmp_path / "no-such-kubeconfig")
    t = KubernetesTransport("node-example", None, None, None, kubectl=KUBECTL, kubeconfig=missing)
    with pytest.raises(TransportError, match=f"cannot load the kubeconfig \\({missing}\\)"):
        await t.command()
    t = KubernetesTransport("node-example", None, "staging", None, kubectl=KUBECTL, kubeconfig=kubeconfig)
    with pytest.raises(TransportError, match="cannot load the kubeconfig .*staging"):
        await t.command()


def test_a_container_without_the_helper_says_how_to_inject_it():
    """kubectl's words when the file is missing, as a container runtime reports them (no cluster here
    to produce them: the text is the one containerd gives through `kubectl exec`)."""
    stderr = (
        'error: Internal error occurred: Internal error occurred: error executing command in container: '
        'failed to exec in container: failed to start exec "4f1c": OCI runtime exec failed: exec failed: '
        'unable to start container process: exec: "/sync-helper/app-connect": stat /sync-helper/app-connect: '
        'no such file or directory: unknown\n'
    )
    error = exec_failure(choice(), "/sync-helper/app-connect", 1, stderr)
    message = str(error)
    assert message.startswith("pod team-a/web-7d9c (container web) has no helper at /sync-helper/app-connect: "
                              "deploy it with the helper injected (an init container copies app-server and "
                              "app-connect into an emptyDir mounted at /sync-helper")
    assert "kubectl said: error: Internal error occurred" in message and "\n" not in message


def test_other_exec_failures_keep_kubectl_words_without_its_log_lines():
    stderr = ('E1126 13:13:11.829629 6096 memcache.go:381] "Unhandled Error" err="couldn\'t get resource list"\n'
              'error: unable to upgrade connection: container not found ("web")\n')
    message = str(exec_failure(choice(), "/sync-helper/app-connect", 1, stderr))
    assert message == ('kubectl exec into pod team-a/web-7d9c (container web) failed (exit 1): '
                       'error: unable to upgrade connection: container not found ("web")')


def test_exec_refused_by_rbac_names_the_permission():
    stderr = ('Error from server (Forbidden): pods "web-7d9c" is forbidden: User "dev" cannot create resource '
              '"pods/exec" in API group "" in the namespace "team-a"\n')
    message = str(exec_failure(choice(), "/sync-helper/app-connect", 1, stderr))
    assert message.startswith("the context's user may not exec into pod team-a/web-7d9c (container web): it needs "
                              "create on pods/exec in namespace team-a")
    assert message.endswith('kubectl said: ' + stderr.strip())


async def test_a_malformed_kubeconfig_is_named(tmp_path):
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nclusters: [\n")
    t = KubernetesTransport("node-example", None, None, None, kubectl=KUBECTL, kubeconfig=str(broken))
    with pytest.raises(TransportError) as caught:
        await t.command()
    assert str(caught.value).startswith(f"cannot load the kubeconfig ({broken}): ")


def test_an_api_refusal_keeps_the_servers_message():
    from kubernetes.client.exceptions import ApiException

    from downstream_sync.cluster.kubernetes import _api_message

    error = ApiException(status=403, reason="Forbidden")
    error.body = '{"kind": "Status", "message": "pods is forbidden: User \\"dev\\" cannot list resource \\"pods\\""}'
    assert _api_message(error) == '403 Forbidden: pods is forbidden: User "dev" cannot list resource "pods"'
    error.body = None
    assert _api_message(error) == "403 Forbidden"
