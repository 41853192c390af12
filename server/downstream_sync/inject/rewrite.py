"""Rewriting one pod template so that chosen containers run the helper: the pure part of injection.

For each container given rules: the `emptyDir` volume and the init container that installs the
helper into it, the mount at /sync-helper, `command: [/sync-helper/app-server]`, `args` with
`--workdir`, `--targets`, `--excludes` and the original command after `--` (Kubernetes' rules:
`command` replaces ENTRYPOINT, `args` replace CMD, the image config fills in the rest), `TMPDIR` on
the volume for the helper with the app's own handed back to it (the container's env, else the
image's ENV; a warning when neither can be known), and the pod's annotations. A
container injected before gets its original command back from its args, so injecting twice
changes nothing. Values are plain dicts and lists from YAML; nothing here reads a file or the
network (the image config comes through a callable). Must not import pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .imageconfig import ImageConfig, ImageConfigError
from .names import (APP_SERVER, APP_TMPDIR, FINGERPRINT_ANNOTATION, HELPER_TMPDIR, INIT_CONTAINER_NAME, INJECTED_ANNOTATION,
                    INSTALL_COMMAND, MOUNT_PATH, VOLUME_NAME, format_fingerprints, injected_containers,
                    parse_fingerprints)

__all__ = ["ContainerRules", "RewriteError", "rewrite_pod", "original_command", "helper_args"]


class RewriteError(Exception):
    """A container that cannot be injected; `container` names it (None: the pod itself)."""

    def __init__(self, message: str, container: str | None = None):
        super().__init__(message)
        self.container = container


@dataclass(frozen=True)
class ContainerRules:
    """What the helper of one container watches: normalized remoteSrc values and exclude globs."""

    artifact: str
    targets: tuple[str, ...]
    excludes: tuple[str, ...]
    fingerprint: str


def _escape(word: str) -> str:
    """A literal word for `args`, where Kubernetes expands $(VAR) (and reads $$ as a literal $)."""
    return word.replace("$(", "$$(")


def _words(container: dict, key: str) -> list[str] | None:
    value = container.get(key)
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(w, (str, int, float)) and not isinstance(w, bool)
                                              for w in value):
        raise RewriteError(f"{key} must be a list of strings", container.get("name"))
    return [str(w) for w in value]


def original_command(container: dict, config: Callable[[], ImageConfig]) -> list[str]:
    """The argv the container runs, as words for `args`: its `command` (else the image's ENTRYPOINT)
    followed by its `args` (else, only without `command`, the image's CMD)."""
    command, args = _words(container, "command"), _words(container, "args")
    if command:
        return command + (args or [])
    image = config()
    entrypoint = [_escape(w) for w in image.entrypoint or []]
    rest = args if args else [_escape(w) for w in image.cmd or []]
    argv = entrypoint + rest
    if not argv:
        raise RewriteError(f"neither the manifest nor the image config ({image.source}) gives a command "
                           f"(no command, args, ENTRYPOINT or CMD)", container.get("name"))
    return argv


def _flag(name: str, value: str) -> list[str]:
    return [f"{name}={value}"] if value.startswith("-") else [name, value]


def helper_args(rules: ContainerRules, workdir: str | None, argv: list[str]) -> list[str]:
    """app-server's args: the rules, then `--` and the original command."""
    out: list[str] = []
    if workdir is not None:
        out += _flag("--workdir", _escape(workdir))
    for target in rules.targets:
        if "," in target or target != target.strip():
            raise RewriteError(f"remoteSrc {target!r} cannot be passed to the helper: --targets separates "
                               f"folders with commas and trims spaces; rename the folder")
    out += _flag("--targets", _escape(",".join(rules.targets)))
    plain = [x for x in rules.excludes if "," not in x and x == x.strip()]
    whole = [x for x in rules.excludes if x not in plain]  # a comma ({a,b}) or edge spaces: one flag each
    if plain:
        out += _flag("--excludes", _escape(",".join(plain)))
    for pattern in whole:
        out += [f"--exclude={_escape(pattern)}"]
    return out + ["--", *argv]


def _parse_injected(args: list[str], name: str) -> tuple[str | None, list[str]]:
    """(workdir, original argv) from the args of a container injected before."""
    if "--" not in args:
        raise RewriteError(f"already runs {APP_SERVER} with args this tool did not write (no '--' before the "
                           f"original command); remove that wrapper or this container's rules", name)
    at = args.index("--")
    workdir, i = None, 0
    flags = args[:at]
    while i < len(flags):
        flag, eq, value = flags[i].partition("=")
        if flag not in ("--workdir", "--targets", "--excludes", "--exclude"):
            raise RewriteError(f"already runs {APP_SERVER} with a flag this tool does not write ({flags[i]!r})", name)
        if not eq:
            i += 1
            value = flags[i] if i < len(flags) else ""
        if flag == "--workdir":
            workdir = value
        i += 1
    return workdir, args[at + 1:]


def _set_env(container: dict, app_tmpdir: dict | None) -> None:
    """TMPDIR on the helper's volume, and the app's own TMPDIR (an env entry, or "") under APP_TMPDIR."""
    env = container.get("env")
    if env is None:
        env = container["env"] = []
    if not isinstance(env, list):
        raise RewriteError("env must be a list", container.get("name"))
    names = [e.get("name") if isinstance(e, dict) else None for e in env]
    if APP_TMPDIR in names:  # injected before: the app's own is kept there already
        return
    ours = {"name": "TMPDIR", "value": HELPER_TMPDIR}
    if "TMPDIR" in names:
        at = names.index("TMPDIR")
        own = {k: v for k, v in env[at].items() if k != "name"}
        env[at:at + 1] = [{"name": APP_TMPDIR, **own}, ours]
    else:
        env += [{"name": APP_TMPDIR, **(app_tmpdir or {"value": ""})}, ours]


def _env_names(container: dict) -> set:
    env = container.get("env")
    return {e.get("name") for e in env if isinstance(e, dict)} if isinstance(env, list) else set()


def _inject_container(container: dict, rules: ContainerRules, config: Callable[[], ImageConfig],
                      warn: Callable[[str], None]) -> None:
    name = container.get("name")
    command = _words(container, "command") or []
    mounts = container.get("volumeMounts") or []
    if not isinstance(mounts, list):
        raise RewriteError("volumeMounts must be a list", name)
    for m in mounts:
        if isinstance(m, dict) and str(m.get("mountPath") or "").rstrip("/") == MOUNT_PATH and m.get("name") != VOLUME_NAME:
            raise RewriteError(f"already mounts volume {m.get('name')!r} at {MOUNT_PATH}, where the helper goes",
                               name)
    fetched: list[ImageConfig] = []

    def image_config() -> ImageConfig:
        if not fetched:
            fetched.append(config())
        return fetched[0]

    if command[:1] == [APP_SERVER]:
        workdir, argv = _parse_injected(_words(container, "args") or [], name)
        if not argv:
            raise RewriteError(f"runs {APP_SERVER} without an original command after '--'", name)
    else:
        if command and command[0].startswith(MOUNT_PATH + "/"):
            raise RewriteError(f"already runs another entrypoint wrapper ({command[0]}) from {MOUNT_PATH}", name)
        argv = original_command(container, image_config)
        workdir = None
    if isinstance(container.get("workingDir"), str) and container["workingDir"]:
        workdir = container["workingDir"]
    elif workdir is None and (fetched or any(not t.startswith("/") for t in rules.targets)):
        workdir = image_config().working_dir or "/"
    app_tmpdir = None
    if not _env_names(container) & {"TMPDIR", APP_TMPDIR}:  # the image's ENV decides the app's TMPDIR
        if not fetched:
            try:
                image_config()
            except ImageConfigError as error:
                warn(f"the app's own TMPDIR is unknown, so it runs without one ({error}); to keep it, "
                     f"set TMPDIR in the container's env or pass --image-config")
        if fetched and "TMPDIR" in fetched[0].env:
            app_tmpdir = {"value": fetched[0].env["TMPDIR"]}
    try:
        args = helper_args(rules, workdir, argv)
    except RewriteError as error:
        raise RewriteError(str(error), name) from None
    _set_env(container, app_tmpdir)
    container["command"] = [APP_SERVER]
    container["args"] = args
    if not any(isinstance(m, dict) and m.get("name") == VOLUME_NAME for m in mounts):
        mounts.append({"name": VOLUME_NAME, "mountPath": MOUNT_PATH})
    container["volumeMounts"] = mounts


def _ensure_pod_parts(spec: dict, helper_image: str) -> None:
    volumes = spec.get("volumes")
    if volumes is None:
        volumes = spec["volumes"] = []
    if not isinstance(volumes, list):
        raise RewriteError("volumes must be a list")
    same = [v for v in volumes if isinstance(v, dict) and v.get("name") == VOLUME_NAME]
    if same and set(same[0]) - {"name"} != {"emptyDir"}:
        raise RewriteError(f"the pod has a volume named {VOLUME_NAME} that is not an emptyDir")
    if not same:
        volumes.append({"name": VOLUME_NAME, "emptyDir": {}})
    inits = spec.get("initContainers")
    if inits is None:
        inits = spec["initContainers"] = []
    if not isinstance(inits, list):
        raise RewriteError("initContainers must be a list")
    install = {"name": INIT_CONTAINER_NAME, "image": helper_image, "command": list(INSTALL_COMMAND),
               "volumeMounts": [{"name": VOLUME_NAME, "mountPath": MOUNT_PATH}]}
    for i, c in enumerate(inits):
        if isinstance(c, dict) and c.get("name") == INIT_CONTAINER_NAME:
            inits[i] = install
            return
    inits.insert(0, install)


def rewrite_pod(template: dict, spec: dict, chosen: dict[int, ContainerRules],
                config_for: Callable[[str], ImageConfig], helper_image: str,
                warn: Callable[[str, str], None] = lambda container, message: None) -> list[str]:
    """Inject the containers of `spec` at the indexes in `chosen` (in place; the caller passes a copy)
    and annotate `template` (the object whose `metadata` is the pod's). Returns their names."""
    containers = spec["containers"]
    names = []
    for index, rules in chosen.items():
        container = containers[index]
        image = container["image"]
        label = container.get("name") or f"#{index + 1}"
        try:
            _inject_container(container, rules, lambda image=image: config_for(image),
                              lambda message, label=label: warn(label, message))
        except ImageConfigError as error:
            raise RewriteError(str(error), label) from None
        names.append(container.get("name") or f"#{index + 1}")
    _ensure_pod_parts(spec, helper_image)
    metadata = template.get("metadata")
    if metadata is None:
        metadata = template["metadata"] = {}
    if not isinstance(metadata, dict):
        raise RewriteError("metadata must be a mapping")
    annotations = metadata.get("annotations")
    if annotations is None:
        annotations = metadata["annotations"] = {}
    if not isinstance(annotations, dict):
        raise RewriteError("metadata.annotations must be a mapping")
    running = {c.get("name") for c in containers if isinstance(c, dict) and (c.get("command") or [None])[0] == APP_SERVER}
    injected = [n for n in injected_containers(annotations) if n in running and n not in names] + names
    prints = {n: fp for n, fp in parse_fingerprints(annotations.get(FINGERPRINT_ANNOTATION)).items() if n in injected}
    prints.update({name: rules.fingerprint for name, rules in zip(names, chosen.values())})
    annotations[INJECTED_ANNOTATION] = ",".join(sorted(set(injected)))
    annotations[FINGERPRINT_ANNOTATION] = format_fingerprints(prints)
    return names
