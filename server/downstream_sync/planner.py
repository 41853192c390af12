"""The one planner: the options a face fills in, turned into checked session plans.

Every face (the CLI, the language server, the editor through it, a Skaffold wrapper) fills in one
`SyncOptions` and calls `plan_sessions` (the injector, inject/, calls `plan_rules`, the same
reading of the config without transports); none builds rules, transports or sessions itself. The
planner loads the project (config/), refuses it on errors, picks the artifacts, and builds every
artifact's rules (sync/rules.py) and transport (cluster/) before it returns, so no session starts
while a later artifact is still invalid. Problems raise `PlanError`, whose message says what and
where. Hooks for a face (a pod being waited for, a pod chosen) are plain callables.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from .config import Diagnostic, Project, Severity, format_diagnostic, load_project
from .sync.decide import Policy
from .sync.rules import RuleError, RuleSet

__all__ = ["SyncOptions", "Hooks", "SessionPlan", "Plan", "PlanError", "plan_sessions", "plan_rules", "IMAGE_FIELD"]

IMAGE_FIELD = "{image}"  # replaced by the artifact's image in every word of a connect command
_POLICIES = ("safe", "remote-wins")
_HELPER_MODES = ("auto", "connect", "attach")


class PlanError(Exception):
    """The options or the project cannot give sessions; `config` is True when the project is at fault.
    `diagnostics` are the project's problems behind it, for a face that shows them one per line."""

    def __init__(self, message: str, *, config: bool = True, diagnostics: tuple[Diagnostic, ...] = ()):
        super().__init__(message)
        self.config = config
        self.diagnostics = diagnostics

    def with_details(self, limit: int = 3) -> str:
        """The message with the first errors behind it, for a face that shows one line."""
        errors = [d for d in self.diagnostics if d.severity == Severity.ERROR]
        if not errors:
            return str(self)
        more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
        return f"{self}: " + "; ".join(format_diagnostic(d) for d in errors[:limit]) + more


@dataclass(frozen=True)
class SyncOptions:
    """What a user can choose for a sync, whichever face they use.

    `artifacts` empty means every artifact with download rules. `connect_command` is an argv run
    for every connection instead of `kubectl exec` (each `{image}` replaced by the artifact's image).
    `helper_mode` forces connecting or attaching (cluster/attach.py). `name` renames the single session (editors that key sessions by their own names).
    `kubeconfig` is the kubeconfig file to use instead of KUBECONFIG or ~/.kube/config.
    `text` is an editor's unsaved content of the config file."""

    config_path: Path
    profiles: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    namespace: str | None = None
    kube_context: str | None = None
    kubeconfig: Path | None = None
    selector: str | None = None
    container: str | None = None
    connect_command: tuple[str, ...] | None = None
    policy: Policy = "safe"
    pod_timeout: float = 60.0
    helper_mode: str = "auto"  # "connect" to an injected helper, "attach" one, or "auto": by the pod's annotation
    name: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Hooks:
    """A face's view of a Kubernetes transport's progress, each told the artifact's image first:
    `on_wait(image, message)` while no pod is ready, `on_choice(image, choice, previous)` when a
    pod is chosen (see cluster/kubernetes.py). Both optional."""

    on_wait: Callable[[str, str], None] | None = None
    on_choice: Callable[..., None] | None = None


@dataclass
class SessionPlan:
    """One artifact's session-to-be; `session()` makes it."""

    name: str
    image: str
    rules: RuleSet
    transport: object  # cluster.transport.Transport
    root: Path         # the folder of the artifact's skaffold.yaml: what localDst is relative to
    policy: Policy

    def session(self, owner: str, every_skip: bool = False):
        """The session; `owner` names the face that runs it (a second session is refused naming it);
        `every_skip`: it reports each file a reconcile skips, for a face that shows them."""
        from .sync.session import Session

        return Session(self.name, self.rules, self.transport, self.root, policy=self.policy, owner=owner,
                       every_skip=every_skip)


@dataclass
class Plan:
    project: Project
    sessions: list[SessionPlan]
    notes: list[Diagnostic] = field(default_factory=list)  # warnings a face may show


def plan_rules(options: SyncOptions) -> tuple[Project, list[tuple[object, RuleSet]]]:
    """The project and, for each artifact to sync, its rules: the one reading of a config that
    sessions and the injector (inject/) share. Checks only what rules need; raises PlanError."""
    path = Path(options.config_path)
    if options.text is None and not path.exists():
        raise PlanError(f"{path}: no such file (name the skaffold.yaml to sync for)")
    project = load_project(path, profiles=options.profiles, text=options.text)
    errors = [d for d in project.diagnostics if d.severity == Severity.ERROR]
    if errors:
        shown = tuple(d for d in project.diagnostics if d.severity <= Severity.WARNING)
        raise PlanError(f"{project.path} has {len(errors)} error{'s' if len(errors) != 1 else ''}; fix "
                        f"{'it' if len(errors) == 1 else 'them'} and try again", diagnostics=shown)
    chosen = []
    for artifact in _choose_artifacts(project, options):
        try:
            rules = RuleSet.from_download([(m.remote_src, m.local_dst) for m in artifact.download.mappings],
                                          list(artifact.download.excludes or []), Path(artifact.root),
                                          project.files)
        except RuleError as error:
            raise PlanError(f"{project.path}: artifact {artifact.image}: {error}") from None
        chosen.append((artifact, rules))
    return project, chosen


def plan_sessions(options: SyncOptions, hooks: Hooks | None = None) -> Plan:
    """Check everything and return one plan per artifact to sync; raises PlanError."""
    _check_options(options)
    project, chosen = plan_rules(options)
    if options.name and len(chosen) > 1:
        raise PlanError(f"a session name ({options.name!r}) names one session, but {len(chosen)} artifacts "
                        f"have download rules: choose one artifact", config=False)
    plans = [SessionPlan(options.name or artifact.image, artifact.image, rules,
                         _transport(artifact.image, rules, options, hooks or Hooks()), Path(artifact.root),
                         options.policy)
             for artifact, rules in chosen]
    notes = [d for d in project.diagnostics if d.severity == Severity.WARNING]
    return Plan(project, plans, notes)


def _check_options(options: SyncOptions) -> None:
    if options.policy not in _POLICIES:
        raise PlanError(f"the policy must be 'safe' or 'remote-wins', not {options.policy!r}", config=False)
    if options.helper_mode not in _HELPER_MODES:
        raise PlanError(f"the helper mode must be one of {', '.join(_HELPER_MODES)}, not {options.helper_mode!r}",
                        config=False)
    if not 0 <= options.pod_timeout < float("inf"):
        raise PlanError(f"the pod timeout must be 0 or more seconds, not {options.pod_timeout!r}", config=False)
    command = options.connect_command
    if command is not None:
        if isinstance(command, str) or not all(isinstance(word, str) for word in command):
            raise PlanError("the connect command must be a list of words (an argv), not a shell string",
                            config=False)
        if not command or not command[0]:
            raise PlanError("the connect command is empty", config=False)
    if options.kubeconfig is not None and not Path(options.kubeconfig).is_file():
        raise PlanError(f"the kubeconfig {options.kubeconfig} does not exist or is not a file", config=False)


def _choose_artifacts(project: Project, options: SyncOptions) -> list:
    known = [a.image for a in project.artifacts]
    for image in options.artifacts:
        if image not in known:
            raise PlanError(f"no artifact {image!r} in {project.path} (artifacts: {', '.join(sorted(set(known))) or 'none'})")
    with_rules = [a for a in project.artifacts if a.download is not None and a.download.mappings]
    if options.artifacts:
        with_rules = [a for a in with_rules if a.image in options.artifacts]
    if not with_rules:
        profiles = f" with profiles {', '.join(options.profiles)}" if options.profiles else ""
        what = (f"artifact {', '.join(options.artifacts)} in {project.path} has no download stanza{profiles}"
                if options.artifacts else f"no artifact in {project.path} has a download stanza to sync{profiles}")
        raise PlanError(f"{what}: add build.artifacts[].download.manual with remoteSrc and localDst")
    return with_rules


def _transport(image: str, rules: RuleSet, options: SyncOptions, hooks: Hooks):
    if options.connect_command is not None:
        from .cluster.transport import CommandTransport

        argv = [word.replace(IMAGE_FIELD, image) for word in options.connect_command]
        if shutil.which(argv[0]) is None:
            raise PlanError(f"connect command: {argv[0]!r} not found (not an executable file, nor on PATH)",
                            config=False)
        return CommandTransport(argv)
    from .cluster.kubernetes import KubernetesTransport

    on_wait = partial(hooks.on_wait, image) if hooks.on_wait else None
    on_choice = partial(hooks.on_choice, image) if hooks.on_choice else None
    transport = KubernetesTransport(image, options.namespace, options.kube_context, options.selector,
                                    options.container, wait_timeout=options.pod_timeout, on_wait=on_wait,
                                    on_choice=on_choice, helper_mode=options.helper_mode,
                                    kubeconfig=str(options.kubeconfig) if options.kubeconfig else None)
    transport.set_targets(rules.targets, rules.excludes)  # what an attached helper watches
    return transport
