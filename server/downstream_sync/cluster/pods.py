"""Which pod runs an artifact: image names as Skaffold tags them, the deterministic choice of one
running container among V1Pod objects, and the wait for one to run.

Pure logic over the `kubernetes` client's model objects (no API calls), so it is tested without a
cluster. Must not import pygls, lsprotocol, or anything of the terminal; never prints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from .transport import TransportError

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class NoPodError(TransportError):
    """No pod in the searched namespace runs the artifact's image."""


class PodNotRunningError(TransportError):
    """Pods run the image, but none of them is running yet (or any more): `reason` says why,
    `advice` which kubectl command shows more."""

    def __init__(self, reason: str, advice: str = ""):
        super().__init__(f"{reason}. {advice}" if advice else reason)
        self.reason, self.advice = reason, advice

# --- image names ------------------------------------------------------------------------------


def image_repository(image: str) -> str:
    """The repository of an image reference, without tag or digest.

    `node-example:abc123` -> `node-example`; `localhost:5000/x/web@sha256:...` -> `localhost:5000/x/web`.
    """
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name


def image_matches(artifact_image: str, container_image: str) -> bool:
    """Whether a container runs the artifact's image, whatever tag, digest or registry prefix
    Skaffold gave it: the repositories are equal, or one ends with the other at a `/`
    (`node-example` matches `gcr.io/proj/node-example:abc`)."""
    want = image_repository(artifact_image)
    have = image_repository(container_image or "")
    if not want or not have:
        return False
    return want == have or have.endswith("/" + want) or want.endswith("/" + have)


# --- choosing a pod ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PodChoice:
    """The pod and container a transport execs into."""

    namespace: str
    pod: str
    container: str
    image: str
    ready: bool
    candidates: int  # how many (pod, container) pairs ran the image
    annotations: tuple[tuple[str, str], ...] = ()  # the pod's, sorted (attach.choose_mode reads them)

    def describe(self) -> str:
        return f"pod {self.namespace}/{self.pod} (container {self.container})"


@dataclass(frozen=True)
class _Candidate:
    pod: object  # V1Pod
    container: str
    image: str
    running: bool
    ready: bool
    terminating: bool
    created: datetime
    name: str


def _candidates(pods: list, image: str, container: str | None) -> list[_Candidate]:
    found = []
    for pod in pods:
        spec = pod.spec
        if spec is None or not spec.containers:
            continue
        status = pod.status
        statuses = {s.name: s for s in (status.container_statuses or [])} if status else {}
        phase = status.phase if status else None
        meta = pod.metadata
        for c in spec.containers:
            if container is not None and c.name != container:
                continue
            if not image_matches(image, c.image):
                continue
            cs = statuses.get(c.name)
            running = phase == "Running" and cs is not None and cs.state is not None and cs.state.running is not None
            found.append(
                _Candidate(
                    pod=pod,
                    container=c.name,
                    image=c.image,
                    running=running,
                    ready=running and bool(cs.ready),
                    terminating=meta.deletion_timestamp is not None,
                    created=meta.creation_timestamp or _EPOCH,
                    name=meta.name,
                )
            )
    return found


def _rank(c: _Candidate) -> tuple:
    # Running and not being deleted first (a terminating pod goes away soon), then ready,
    # then the newest, then by name.
    return (not c.running, c.terminating, not c.ready, -c.created.timestamp(), c.name, c.container)


def where_searched(namespace: str, context: str | None, selector: str | None) -> str:
    where = f"namespace {namespace!r}"
    where += f", context {context!r}" if context else ", the current context"
    if selector:
        where += f", label selector {selector!r}"
    return where


def not_running_reason(pod, container: str) -> str:
    """Why a pod's container is not running, in a few words: its phase, whether it has a node, and
    the waiting or terminated reason Kubernetes gives (`Pending: ImagePullBackOff: Back-off pulling
    image ...`), with the last exit code of a container that ended."""
    status = pod.status
    phase = (status.phase if status else None) or "Unknown"
    parts = [phase]
    if pod.metadata.deletion_timestamp is not None:
        parts.append("being deleted")
    if phase == "Pending" and pod.spec is not None and not pod.spec.node_name:
        unscheduled = next((c for c in (status.conditions or []) if c.type == "PodScheduled" and c.status == "False"),
                           None) if status else None
        detail = f" ({unscheduled.reason}: {unscheduled.message})" if unscheduled and unscheduled.message else ""
        parts.append("not scheduled to a node yet" + detail)
    if status and status.reason:
        parts.append(status.reason + (f" ({status.message})" if status.message else ""))
    cs = _container_status(pod, container)
    if cs is not None and cs.state is not None:
        state = cs.state.waiting or cs.state.terminated
        if state is not None and state.reason:
            parts.append(state.reason + (f": {state.message}" if state.message else ""))
        ended = cs.state.terminated or (cs.last_state.terminated if cs.last_state else None)
        if ended is not None and ended.exit_code is not None:
            parts[-1] += f" (last exit code {ended.exit_code})"
    return ": ".join(parts)


def not_running_advice(pod, container: str, context: str | None = None) -> str:
    """The kubectl command that shows more: the container's logs once it has run (the previous
    run's after a restart), else the pod's events; for a pod the scheduler could place on no
    node, what in its spec to check first."""
    where = f"-n {pod.metadata.namespace or 'default'}" + (f" --context {context}" if context else "")
    cs = _container_status(pod, container)
    ended = cs is not None and ((cs.state is not None and cs.state.terminated is not None)
                                or (cs.last_state is not None and cs.last_state.terminated is not None))
    if ended:
        previous = " --previous" if cs.restart_count else ""
        return f"Its output: kubectl logs {where} {pod.metadata.name} -c {container}{previous}"
    see = f"To see why: kubectl describe pod {where} {pod.metadata.name}"
    if _unschedulable(pod):
        return ("No node fits it: check its nodeSelector, affinity, tolerations and resource requests against "
                f"the nodes (kubectl get nodes --show-labels{' --context ' + context if context else ''}). {see}")
    return see


def _unschedulable(pod) -> bool:
    """Whether the scheduler found no node for the pod (its PodScheduled condition says Unschedulable)."""
    status = pod.status
    if status is None or (pod.spec is not None and pod.spec.node_name):
        return False
    return any(c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
               for c in status.conditions or [])


def _container_status(pod, container: str):
    status = pod.status
    return next((cs for cs in (status.container_statuses or []) if cs.name == container), None) if status else None


def choose_pod(
    pods: list,
    image: str,
    *,
    namespace: str,
    context: str | None = None,
    selector: str | None = None,
    container: str | None = None,
) -> PodChoice:
    """Choose one running container that runs `image` among `pods` (V1Pod objects).

    Preference: running and not being deleted, then ready, then the newest creationTimestamp, then the pod's name; the same pods always give the same choice.
    Raises NoPodError when no container runs the image, PodNotRunningError when none runs yet.
    """
    found = _candidates(pods, image, container)
    if not found:
        what = f"image {image!r}" + (f" in a container named {container!r}" if container else "")
        seen = sorted({image_repository(c.image) for p in pods for c in ((p.spec.containers if p.spec else None) or [])})
        hint = f"; the {len(pods)} pod(s) there run: {', '.join(seen)}" if seen else "; there are no pods there"
        raise NoPodError(
            f"no pod runs {what} ({where_searched(namespace, context, selector)}){hint}. "
            "Is the app deployed (skaffold dev) and are --namespace/--context right?"
        )
    best = min(found, key=_rank)
    if not best.running:
        raise PodNotRunningError(
            f"pod {namespace}/{best.name} (container {best.container}) is not running: "
            f"{not_running_reason(best.pod, best.container)}",
            not_running_advice(best.pod, best.container, context),
        )
    return PodChoice(
        namespace=namespace,
        pod=best.name,
        container=best.container,
        image=best.image,
        ready=best.ready,
        candidates=len(found),
        annotations=tuple(sorted((getattr(best.pod.metadata, "annotations", None) or {}).items())),
    )


# --- waiting --------------------------------------------------------------------------------


async def wait_for_pod(
    list_pods: Callable[[], Awaitable[list]],
    choose: Callable[[list], PodChoice],
    *,
    timeout: float,
    poll_interval: float = 1.0,
    on_wait: Callable[[str], None] | None = None,
) -> PodChoice:
    """Poll `list_pods` until `choose` finds a running pod, for up to `timeout` seconds.

    `on_wait` hears what it waits for whenever that changes; the last NoPodError or
    PodNotRunningError is raised, saying how long it waited, when the time is up."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        pods = await list_pods()
        try:
            return choose(pods)
        except NoPodError as error:
            reason, advice = str(error), None
        except PodNotRunningError as error:
            reason, advice = error.reason, error.advice
        if time.monotonic() + poll_interval > deadline:
            waited = f"{reason} (waited {timeout:.0f} s)"
            raise (NoPodError(waited) if advice is None else PodNotRunningError(waited, advice)) from None
        if on_wait is not None and reason != last:
            on_wait(f"waiting up to {timeout:.0f} s: {reason}")
        last = reason
        await asyncio.sleep(poll_interval)
