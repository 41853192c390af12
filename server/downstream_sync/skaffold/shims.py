"""The programs Skaffold runs on the wrapper's behalf, which inject the helper into what it deploys.

- `kubectl`, first on Skaffold's PATH: Skaffold's kubectl deployer (raw YAML, kustomize, and Helm
  charts rendered by `manifests.helm`) applies with `kubectl ... apply -f -`, the manifests on stdin.
  The shim injects into those and runs the real kubectl with them; every other kubectl command
  goes to the real kubectl unchanged (exec, same arguments).
- `post-render`, Helm's post-renderer: Skaffold's Helm deployer runs a `--post-renderer` given in
  `deploy.helm.flags` inside its own `skaffold filter` (Helm takes one post-renderer); the copy of
  the config names this one (copy.py). The filter runs it before it puts the built tags into the
  manifests, so their images are still as the chart wrote them: an image's config is looked up
  under the tag Skaffold built, read from the `--build-artifacts` file the filter's command line
  (SKAFFOLD_CMDLINE, in the environment it inherits) names (`built_tags`). The filter neither shows
  its stderr nor looks at its exit code (a failure would install an empty release), so on an error
  it also writes the message to the wrapper's stderr (ENV_WRAPPER_STDERR) and prints a line that is
  no YAML, which fails the filter and so the install.

Both read the project through the environment the wrapper sets (ENV_*), and inject through the one
core function (inject.inject_manifests), accepting manifests that hold only some of the artifacts
(Skaffold applies only what changed). `write_shims` makes them; `main` is what they run.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

__all__ = ["write_shims", "is_apply_from_stdin", "built_tags", "main", "ENV_CONFIG", "ENV_PROFILES", "ENV_KUBECTL",
           "ENV_IMAGE_CONFIGS", "ENV_HELPER_IMAGE", "ENV_WRAPPER_STDERR"]

ENV_CONFIG = "DOWNSTREAM_SYNC_SKAFFOLD_CONFIG"        # the user's skaffold.yaml, absolute
ENV_PROFILES = "DOWNSTREAM_SYNC_SKAFFOLD_PROFILES"    # comma-separated
ENV_KUBECTL = "DOWNSTREAM_SYNC_REAL_KUBECTL"          # the kubectl the shim stands in front of
ENV_IMAGE_CONFIGS = "DOWNSTREAM_SYNC_IMAGE_CONFIGS"   # IMAGE=FILE, one a line
ENV_HELPER_IMAGE = "DOWNSTREAM_SYNC_HELPER_IMAGE"
ENV_WRAPPER_STDERR = "DOWNSTREAM_SYNC_WRAPPER_STDERR"  # where the wrapper's stderr is open (/proc/PID/fd/2)


def write_shims(folder: Path, python: str = sys.executable) -> dict[str, Path]:
    """The shim programs in `folder` (a private temporary folder); returns their paths by name."""
    paths = {}
    for name, role in (("kubectl", "kubectl"), ("post-render", "post-render")):
        path = folder / name
        path.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} -m downstream_sync.skaffold.shims {role} "$@"\n')
        path.chmod(0o700)
        paths[name] = path
    return paths


def is_apply_from_stdin(argv: list[str]) -> bool:
    """Whether a kubectl command line is an `apply` of manifests read from stdin."""
    if "apply" not in argv:
        return False
    rest = argv[argv.index("apply") + 1:]
    return any(w in ("-f", "--filename") and i + 1 < len(rest) and rest[i + 1] == "-" for i, w in enumerate(rest)) \
        or "--filename=-" in rest or "-f=-" in rest


def built_tags(cmdline: str | None) -> dict[str, str]:
    """The tags Skaffold built, by artifact image: from the `--build-artifacts` file named in a
    `skaffold filter` command line (`{"builds": [{"imageName": ..., "tag": ...}]}`); {} without one."""
    words = shlex.split(cmdline or "")
    path = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--build-artifacts", "-a")), None) or \
        next((w.split("=", 1)[1] for w in words if w.startswith("--build-artifacts=")), None)
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        builds = json.load(f).get("builds") or []
    return {b["imageName"]: b["tag"] for b in builds if isinstance(b, dict) and b.get("imageName") and b.get("tag")}


def _as_built(built: dict[str, str], lookup):
    """`lookup` for an image as a chart wrote it (no digest): under the tag built for its artifact."""
    from ..cluster.pods import image_repository

    def config_for(image: str):
        if "@" not in image:
            tag = next((t for name, t in built.items() if image_repository(name) == image_repository(image)), None)
            if tag is not None:
                return lookup(tag)
        return lookup(image)

    return config_for


def _inject(text: str, source: str, built: dict[str, str] | None = None) -> str:
    from ..inject import ConfigSource, InjectRequest, inject_manifests, parse_image_config_flag, rules_from_project
    from ..inject.names import DEFAULT_HELPER_IMAGE

    env = os.environ
    profiles = tuple(p for p in env.get(ENV_PROFILES, "").split(",") if p)
    configs = ConfigSource(dict(parse_image_config_flag(v) for v in env.get(ENV_IMAGE_CONFIGS, "").splitlines() if v))
    if built:
        configs = _as_built(built, configs.get)
    request = InjectRequest(rules_from_project(env[ENV_CONFIG], profiles), configs,
                            env.get(ENV_HELPER_IMAGE) or DEFAULT_HELPER_IMAGE, source=source, missing="ignore")
    result = inject_manifests(text, request)
    for warning in result.warnings:
        print(f"downstream-sync: warning: {warning}", file=sys.stderr)
    return result.text


def _tell_wrapper(message: str) -> None:
    where = os.environ.get(ENV_WRAPPER_STDERR)
    if not where:
        return
    try:
        with open(where, "a", encoding="utf-8") as f:
            f.write(message + "\n")
    except OSError:
        pass


def _read_stdin() -> str:
    return sys.stdin.buffer.read().decode("utf-8")


def main(argv: list[str]) -> int:
    from ..inject import InjectError, ImageConfigError

    role, args = argv[0], argv[1:]
    try:
        if role == "kubectl":
            real = os.environ[ENV_KUBECTL]
            if not is_apply_from_stdin(args):
                os.execv(real, [real, *args])
            text = _inject(_read_stdin(), "the manifests Skaffold applies")
            return subprocess.run([real, *args], input=text.encode("utf-8")).returncode
        if role == "post-render":
            text = _inject(_read_stdin(), "the manifests Helm rendered", built_tags(os.environ.get("SKAFFOLD_CMDLINE")))
            sys.stdout.buffer.write(text.encode("utf-8"))
            return 0
    except (InjectError, ImageConfigError, ValueError, UnicodeDecodeError, KeyError, OSError) as error:
        message = f"downstream-sync: error: {error}"
        print(message, file=sys.stderr)
        if role == "post-render":
            _tell_wrapper(message)
            sys.stdout.write(f"{message}: [the post-renderer failed]\n")  # no YAML: `skaffold filter` fails
            sys.stdout.flush()
        return 1
    print(f"downstream-sync: error: unknown shim {role!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
