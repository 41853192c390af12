"""The Kubernetes transport: find the pod that runs an artifact's image and open
`kubectl exec -i POD -c CONTAINER -- /sync-helper/app-connect` to its helper.

Owns talking to the cluster: the user's kubeconfig and the pod list (through the `kubernetes`
client), and the kubectl command line and its errors. Which pod to use is decided in pods.py.
`command()` resolves the pod again on every call, so a session that reconnects after a redeploy
follows the new pod.

Must not import pygls, lsprotocol, or anything of the terminal; never prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from ..inject.names import injection_status, rules_fingerprint
from .attach import AttachTransport, choose_mode
from .pods import NoPodError, PodChoice, PodNotRunningError, choose_pod, wait_for_pod, where_searched
from .transport import HELPER_ADVICE, TransportError

__all__ = ["KubernetesTransport", "PodChoice", "NoPodError", "PodNotRunningError", "HELPER_PATH"]

HELPER_PATH = "/sync-helper/app-connect"
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_KLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")


# --- kubeconfig and the API -------------------------------------------------------------------


def _load_api(context: str | None, kubeconfig: str | None):
    """A CoreV1Api for the user's kubeconfig (or the in-cluster config), and the namespace of
    the chosen context ("default" when it names none)."""
    from kubernetes import client, config  # imported here: it is slow to import

    cfg = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False)
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
        if context:
            contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
            active = next((c for c in contexts if c.get("name") == context), active)
        namespace = (active or {}).get("context", {}).get("namespace") or "default"
    except config.ConfigException as kube_error:
        if context is None and kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            try:
                config.load_incluster_config(client_configuration=cfg)
            except config.ConfigException as error:
                raise TransportError(f"cannot load the in-cluster Kubernetes config: {error}") from None
            namespace = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() if _SERVICE_ACCOUNT_NAMESPACE.exists() else "default"
        else:
            raise TransportError(f"cannot load the kubeconfig ({_kubeconfig_name(kubeconfig)}): {kube_error}") from None
    except Exception as error:  # an unreadable or malformed file, a failing auth plugin
        raise TransportError(f"cannot load the kubeconfig ({_kubeconfig_name(kubeconfig)}): "
                             f"{type(error).__name__}: {error}") from None
    cfg.retries = 1
    return client.CoreV1Api(client.ApiClient(cfg)), namespace, cfg.host


def _kubeconfig_name(kubeconfig: str | None) -> str:
    return kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"


def _api_message(error) -> str:
    """`403 Forbidden: pods is forbidden: User "dev" cannot list ...` from an ApiException."""
    text = f"{error.status} {error.reason}".strip()
    try:
        detail = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        detail = None
    return f"{text}: {detail}" if detail else text


def _list_pods(api, namespace: str, selector: str | None, host: str, where: str) -> list:
    from kubernetes.client.exceptions import ApiException

    try:
        return api.list_namespaced_pod(namespace, label_selector=selector or None, _request_timeout=15).items
    except ApiException as error:
        advice = {401: ": the context's credentials were not accepted (log in again, or check its user)",
                  403: f": the context's user needs get and list on pods in namespace {namespace}"}.get(error.status, "")
        raise TransportError(f"the Kubernetes API at {host} refused to list pods ({where}): "
                             f"{_api_message(error)}{advice}") from None
    except Exception as error:  # urllib3 connection errors, TLS errors, timeouts
        cause = error
        while getattr(cause, "reason", None) is not None and not isinstance(cause.reason, str):
            cause = cause.reason
        raise TransportError(f"cannot reach the Kubernetes API at {host} ({where}): {cause}. Is the cluster "
                             "running, and is this the right context (kubectl config current-context)?") from None


def kubectl_message(stderr: str) -> str:
    """kubectl's stderr in one line, without its klog lines (`E1126 13:13:11.8 ... memcache.go]`)
    when it also said something for people."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    plain = [line for line in lines if not _KLOG.match(line)]
    return " ".join(plain or lines[-1:])


def exec_failure(choice: PodChoice, helper_path: str, returncode: int, stderr: str) -> TransportError:
    """The error for a `kubectl exec` into `choice` that failed: a missing helper says how to
    inject it; anything else gives kubectl's own words."""
    said = kubectl_message(stderr)
    if "exec format error" in said.lower():
        return TransportError(
            f"the helper at {helper_path} in {choice.describe()} is built for another architecture than the "
            "node's: use the helper image (or helper/build.sh's binaries) of the node's architecture, "
            f"linux/amd64 or linux/arm64. kubectl said: {said}"
        )
    if "forbidden" in said.lower() and "pods/exec" in said:
        return TransportError(
            f"the context's user may not exec into {choice.describe()}: it needs create on pods/exec in namespace "
            f"{choice.namespace} (an RBAC Role and RoleBinding; kubectl auth can-i create pods/exec -n "
            f"{choice.namespace} checks it). kubectl said: {said}"
        )
    missing = ("no such file or directory", "executable file not found", "not found in $path")
    if any(m in said.lower() for m in missing):
        return TransportError(
            f"{choice.describe()} has no helper at {helper_path}: deploy it with the helper injected "
            "(an init container copies app-server and app-connect into an emptyDir mounted at /sync-helper, "
            f"and the container's command runs /sync-helper/app-server). kubectl said: {said}"
        )
    return TransportError(f"kubectl exec into {choice.describe()} failed (exit {returncode}): {said or 'no output'}")


# --- the transport ----------------------------------------------------------------------------


class KubernetesTransport:
    """Execs into the pod that runs `image` and relays stdio to its helper through app-connect.

    Every `command()` lists the pods again (so a replaced pod is followed), waits up to
    `wait_timeout` seconds for one to run, and the first time it meets a pod checks that
    kubectl can exec into it and that the helper is there.

    `helper_mode` "auto" connects to a pod whose helper was injected (the pod's
    attach.INJECTED_ANNOTATION) and attaches one to any other (attach.py: copied in through
    kubectl exec, watching the targets a Session gives `set_targets`, removed by `aclose()`);
    "connect" or "attach" forces either.
    """

    def __init__(
        self,
        image: str,
        namespace: str | None,
        context: str | None,
        selector: str | None,
        container: str | None = None,
        helper_path: str = HELPER_PATH,
        *,
        kubeconfig: str | None = None,
        kubectl: str | None = None,
        wait_timeout: float = 60.0,
        poll_interval: float = 1.0,
        on_wait: Callable[[str], None] | None = None,
        on_choice: Callable[[PodChoice, PodChoice | None], None] | None = None,
        helper_mode: str = "auto",
    ):
        choose_mode(None, "", helper_mode)  # a ValueError now for a mode that does not exist
        self.image = image
        self.namespace = namespace
        self.context = context
        self.selector = selector
        self.container = container
        self.helper_path = helper_path
        self.kubeconfig = kubeconfig
        self.kubectl = kubectl
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.on_wait = on_wait  # told what it waits for, each time that changes (the CLI prints it)
        self.on_choice = on_choice  # told (new, previous) when the chosen pod changes, e.g. after a redeploy
        self.choice: PodChoice | None = None
        self._checked: set[tuple[str, str, str]] = set()
        self.helper_mode = helper_mode
        self.targets: list[str] = []
        self.excludes: list[str] = []
        self.attach: AttachTransport | None = None
        self._attached_to: tuple[str, str, str] | None = None
        self.on_warning: Callable[[str], None] | None = None  # told when a pod runs other rules (Session sets it)
        self._warned: set[tuple[str, str, str]] = set()
        self._replacement = False  # the chosen pod took the place of another one (its helper may be starting)

    @property
    def advice(self) -> str:
        """What to do when the helper does not answer: it depends on how it came into the pod."""
        if self.attach is not None:
            return ("the helper attached for this session does not answer: check that the container still "
                    "runs (kubectl describe pod)")
        if self._replacement:
            return ("the helper of this pod, which replaced the previous one, may still be starting (this is "
                    f"retried); if it never answers, {HELPER_ADVICE}")
        return HELPER_ADVICE

    def describe(self) -> str:
        if self.choice is not None:
            return self.choice.describe()
        ns = self.namespace or "the context's namespace"
        return f"image {self.image} in {ns}" + (f" (context {self.context})" if self.context else "")

    # kubectl ----------------------------------------------------------------------------------

    def kubectl_path(self) -> str:
        """The kubectl binary to run; TransportError when there is none."""
        name = self.kubectl or "kubectl"
        found = shutil.which(name)
        if found is None:
            raise TransportError(
                f"kubectl not found ({name!r} is not on PATH): install kubectl, "
                "or use --connect-command to reach the helper another way"
            )
        return found

    def kubectl_args(self, namespace: str) -> list[str]:
        args = [self.kubectl_path()]
        if self.kubeconfig:
            args += ["--kubeconfig", self.kubeconfig]
        if self.context:
            args += ["--context", self.context]
        return args + ["--namespace", namespace]

    def exec_argv(self, choice: PodChoice) -> list[str]:
        """`kubectl exec -i POD -c CONTAINER -- HELPER`: stdin attached, no TTY (bytes stay bytes)."""
        return self.kubectl_args(choice.namespace) + [
            "exec", "-i", choice.pod, "-c", choice.container, "--", self.helper_path,
        ]

    async def check_helper(self, choice: PodChoice, timeout: float = 30.0) -> None:
        """Run `HELPER --help` in the container: proves kubectl can exec there and the helper exists.

        Raises TransportError with kubectl's own words when it fails."""
        argv = self.kubectl_args(choice.namespace) + [
            "exec", choice.pod, "-c", choice.container, "--", self.helper_path, "--help",
        ]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise TransportError(f"kubectl exec into {choice.describe()} did not answer within {timeout:.0f} s") from None
        if proc.returncode == 0:
            return
        raise exec_failure(choice, self.helper_path, proc.returncode, err.decode(errors="replace"))

    # pods -------------------------------------------------------------------------------------

    async def resolve(self) -> PodChoice:
        """List the pods and choose one, waiting up to wait_timeout for one to run."""
        api, default_ns, host = await asyncio.to_thread(_load_api, self.context, self.kubeconfig)
        namespace = self.namespace or default_ns
        where = where_searched(namespace, self.context, self.selector)

        async def list_pods() -> list:
            return await asyncio.to_thread(_list_pods, api, namespace, self.selector, host, where)

        def choose(pods: list) -> PodChoice:
            return choose_pod(pods, self.image, namespace=namespace, context=self.context,
                              selector=self.selector, container=self.container)

        return await wait_for_pod(list_pods, choose, timeout=self.wait_timeout, poll_interval=self.poll_interval,
                                  on_wait=self.on_wait)

    def adopt(self, choice: PodChoice) -> None:
        """Make `choice` the current pod; tell on_choice when it is another pod than before."""
        previous, self.choice = self.choice, choice
        moved = previous is None or (previous.pod, previous.container) != (choice.pod, choice.container)
        if moved:
            self._replacement = previous is not None
        if moved and self.on_choice is not None:
            self.on_choice(choice, previous)

    async def command(self) -> list[str]:
        self.kubectl_path()  # fail fast, before talking to the cluster
        choice = await self.resolve()
        self.adopt(choice)
        key = (choice.namespace, choice.pod, choice.container)
        if choose_mode(dict(choice.annotations), choice.container, self.helper_mode) == "attach":
            return await self._attached(choice, key)
        self._check_fingerprint(choice, key)
        if key not in self._checked:
            await self.check_helper(choice)
            self._checked.add(key)
        return self.exec_argv(choice)

    def _check_fingerprint(self, choice: PodChoice, key: tuple[str, str, str]) -> None:
        """Warn (once a pod) when the pod's helper was injected from other download rules than these:
        it watches what those rules said until the artifact is deployed again."""
        if not self.targets or key in self._warned or self.on_warning is None:
            return
        fingerprint = rules_fingerprint(self.targets, self.excludes)
        if injection_status(dict(choice.annotations), choice.container, fingerprint) == "other":
            self._warned.add(key)
            self.on_warning(f"{choice.describe()} was injected from other download rules than the ones in the "
                            f"config now (targets or excludes changed): its helper watches the old ones; deploy "
                            f"the artifact again (skaffold run, or kubectl apply of the injected manifests)")

    def set_targets(self, targets: list[str], excludes: list[str]) -> None:
        """What an attached helper watches (the session's remoteSrc folders and excludes)."""
        self.targets, self.excludes = list(targets), list(excludes)

    async def _attached(self, choice: PodChoice, key: tuple[str, str, str]) -> list[str]:
        """The app-connect of the helper attached to `choice`; attached anew after a redeploy."""
        if not self.targets:
            raise TransportError(f"attaching a helper to {choice.describe()} needs the folders to watch: "
                                 "run this transport in a sync session")
        if self._attached_to != key:
            await self.aclose()
            prefix = self.kubectl_args(choice.namespace) + ["exec", "-i", choice.pod, "-c", choice.container, "--"]
            self.attach = AttachTransport(prefix, choice.describe(), self.targets, self.excludes)
            self._attached_to = key
        return await self.attach.command()

    async def aclose(self) -> None:
        """End an attached helper (nothing to do for an injected one)."""
        attach, self.attach, self._attached_to = self.attach, None, None
        if attach is not None:
            await attach.aclose()
