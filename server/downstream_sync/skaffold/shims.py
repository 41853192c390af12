"""The programs Skaffold runs on the wrapper's behalf, which inject the helper into what it deploys.

- `kubectl`, first on Skaffold's PATH: Skaffold's kubectl deployer (raw YAML, kustomize, and Helm
  charts rendered by `manifests.helm`) applies with `kubectl ... apply -f -`, the manifests on stdin.
  Skaffold runs kubectl many times (version, get, create --dry-run, apply, delete), so the shim is
  a shell script: a command with `apply`, `create` or `replace` among its words comes here
  (`injects` then reads it exactly), any other is the real kubectl at once, by `exec`. The
  manifests of an apply are injected and the real kubectl is exec'd on them (from a memory file
  on its stdin), so its exit code, output and signals are its own.
- `post-render`, Helm's post-renderer: Skaffold's Helm deployer runs a `--post-renderer` given in
  `deploy.helm.flags` inside its own `skaffold filter` (Helm takes one post-renderer); the copy of
  the config names this one (copy.py). Where the user's flags had a post-renderer of their own,
  `post-render-N` runs theirs first (with its args, from the config's folder) and injects its
  output (`PostRenderers`). The filter runs it before it puts the built tags into the
  manifests, so their images are still as the chart wrote them: an image's config is looked up
  under the tag Skaffold built, read from the `--build-artifacts` file the filter's command line
  (SKAFFOLD_CMDLINE, in the environment it inherits) names (`built_tags`). The filter neither shows
  its stderr nor looks at its exit code (a failure would install an empty release), so on an error
  it also writes the message to the wrapper's stderr (ENV_WRAPPER_STDERR) and prints a line that is
  no YAML, which fails the filter and so the install.

The scripts are fixed text: what they run comes from the environment the wrapper sets (ENV_*), so
no path is ever quoted into a script. They read the project the same way, and inject through the
one core function (inject.inject_manifests), accepting manifests that hold only some of the
artifacts (Skaffold applies only what changed). `write_shims` makes them; `main` is what they run.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["write_shims", "PostRenderers", "injects", "image_configs_env", "image_configs_from_env", "main",
           "ENV_CONFIG", "ENV_PROFILES", "ENV_KUBECTL", "ENV_PYTHON",
           "ENV_IMAGE_CONFIGS", "ENV_HELPER_IMAGE", "ENV_POST_RENDERERS", "ENV_WRAPPER_STDERR", "INJECTING_COMMANDS",
           "built_tags"]

ENV_CONFIG = "DOWNSTREAM_SYNC_SKAFFOLD_CONFIG"        # the user's skaffold.yaml, absolute
ENV_PROFILES = "DOWNSTREAM_SYNC_SKAFFOLD_PROFILES"    # comma-separated
ENV_KUBECTL = "DOWNSTREAM_SYNC_REAL_KUBECTL"          # the kubectl the shim stands in front of
ENV_PYTHON = "DOWNSTREAM_SYNC_PYTHON"                 # the Python the shims run (this package's)
ENV_IMAGE_CONFIGS = "DOWNSTREAM_SYNC_IMAGE_CONFIGS"   # JSON: {IMAGE: FILE} (a name may hold any character)
ENV_HELPER_IMAGE = "DOWNSTREAM_SYNC_HELPER_IMAGE"
ENV_POST_RENDERERS = "DOWNSTREAM_SYNC_POST_RENDERERS"  # JSON: the user's post-renderers, argv lists, by N
ENV_WRAPPER_STDERR = "DOWNSTREAM_SYNC_WRAPPER_STDERR"  # where the wrapper's stderr is open (/proc/PID/fd/2)

# The kubectl commands whose manifests may need the helper: the words the shell shim looks for.
INJECTING_COMMANDS = ("apply", "create", "replace")

# Python run with -c: the current folder (the user's project) is taken off sys.path before the
# import, so nothing there named like this package is imported instead.
_RUN = ('import sys; sys.path[:1] == [""] and sys.path.pop(0); '
        'from downstream_sync.skaffold.shims import main; sys.exit(main(sys.argv[1:]))')

_KUBECTL = f"""#!/bin/sh
# downstream-sync skaffold: the kubectl first on Skaffold's PATH. A command with one of
# {", ".join(INJECTING_COMMANDS)} among its words may apply manifests: the injector reads it (and execs the
# real kubectl). Any other command is the real kubectl's, at once.
if [ -z "${{{ENV_KUBECTL}:-}}" ] || [ -z "${{{ENV_PYTHON}:-}}" ]; then
  echo "downstream-sync: error: this kubectl is the one downstream-sync skaffold puts in front of the real one;" >&2
  echo "it runs with {ENV_KUBECTL} and {ENV_PYTHON} set" >&2
  exit 127
fi
for word do
  case $word in
    {"|".join(INJECTING_COMMANDS)}) exec "${ENV_PYTHON}" -c '{_RUN}' kubectl "$@" ;;
  esac
done
exec "${ENV_KUBECTL}" "$@"
"""

_POST_RENDER = f"""#!/bin/sh
# downstream-sync skaffold: Helm's post-renderer, named in the copy of the config Skaffold reads.
if [ -z "${{{ENV_PYTHON}:-}}" ]; then
  echo "downstream-sync: error: this post-renderer is run by downstream-sync skaffold, which sets {ENV_PYTHON}" >&2
  exit 127
fi
exec "${ENV_PYTHON}" -c '{_RUN}' post-render @CHAIN@ "$@"
"""

# kubectl's global flags that take a value (`kubectl options`); written `--flag value` they are two
# words. Any other flag is one word (a flag kubectl does not know fails in kubectl itself).
_VALUE_FLAGS = frozenset({
    "--as", "--as-group", "--as-uid", "--cache-dir", "--certificate-authority", "--client-certificate",
    "--client-key", "--cluster", "--context", "--kubeconfig", "--kuberc", "-n", "--namespace", "--password",
    "--profile", "--profile-output", "--request-timeout", "-s", "--server", "--tls-server-name", "--token",
    "--user", "--username", "-v", "--v", "--vmodule", "--log-flush-frequency"})
_STDIN = ("-", "/dev/stdin")
# `kubectl apply` subcommands that do not apply the manifests they read.
_APPLY_SUBCOMMANDS = ("edit-last-applied", "set-last-applied", "view-last-applied")


def write_shims(folder: Path) -> dict[str, Path]:
    """The shim programs in `folder` (a private temporary folder); returns their paths by name.
    They run `$DOWNSTREAM_SYNC_PYTHON` (set it to sys.executable) and `$DOWNSTREAM_SYNC_REAL_KUBECTL`."""
    paths = {}
    for name, text in (("kubectl", _KUBECTL), ("post-render", _POST_RENDER.replace(" @CHAIN@", ""))):
        path = folder / name
        path.write_text(text)
        path.chmod(0o700)
        paths[name] = path
    return paths


class PostRenderers:
    """copy.py's `renderer(chain)`: our post-renderer for a flags list, `post-render` alone, or
    `post-render-N` running the user's chain N first. `env()` is what ENV_POST_RENDERERS holds."""

    def __init__(self, folder: Path, plain: Path):
        self.folder, self.plain = folder, plain
        self.chains: list[tuple[str, ...]] = []

    def __call__(self, chain: tuple[str, ...]) -> str:
        if not chain:
            return str(self.plain)
        if chain not in self.chains:
            self.chains.append(chain)
            n = len(self.chains) - 1
            path = self.folder / f"post-render-{n}"
            path.write_text(_POST_RENDER.replace("@CHAIN@", str(n)))
            path.chmod(0o700)
        return str(self.folder / f"post-render-{self.chains.index(chain)}")

    def env(self) -> str:
        return json.dumps([list(chain) for chain in self.chains])


def image_configs_env(configs: dict[str, Path]) -> str:
    """ENV_IMAGE_CONFIGS for --image-config IMAGE=FILE values (FILE absolute)."""
    return json.dumps({image: str(path) for image, path in configs.items()})


def image_configs_from_env(text: str) -> dict[str, Path]:
    return {image: Path(path) for image, path in json.loads(text or "{}").items()}


def _command(argv: list[str]) -> tuple[str | None, list[str]]:
    """kubectl's command word and the words after it (global flags before it skipped)."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return None, []
        if not word.startswith("-") or word == "-":
            return word, argv[i + 1:]
        i += 2 if word in _VALUE_FLAGS else 1
    return None, []


def injects(argv: list[str]) -> bool:
    """Whether a kubectl command line applies, creates or replaces manifests read from stdin."""
    command, rest = _command(argv)
    if command not in INJECTING_COMMANDS:
        return False
    positional = [w for w in rest if not w.startswith("-")]
    if command == "apply" and positional[:1] and positional[0] in _APPLY_SUBCOMMANDS:
        return False
    for i, word in enumerate(rest):
        if word == "--":
            break
        if word in ("-f", "--filename") and i + 1 < len(rest) and rest[i + 1] in _STDIN:
            return True
        for flag in ("--filename=", "-f=", "-f"):
            if word.startswith(flag) and word[len(flag):] in _STDIN:
                return True
    return False


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
    from ..inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
    from ..inject.names import DEFAULT_HELPER_IMAGE

    env = os.environ
    profiles = tuple(p for p in env.get(ENV_PROFILES, "").split(",") if p)
    configs = ConfigSource(image_configs_from_env(env.get(ENV_IMAGE_CONFIGS, "")))
    if built:
        configs = _as_built(built, configs.get)
    request = InjectRequest(rules_from_project(env[ENV_CONFIG], profiles), configs,
                            env.get(ENV_HELPER_IMAGE) or DEFAULT_HELPER_IMAGE, source=source, missing="ignore")
    result = inject_manifests(text, request)
    for warning in result.warnings:
        print(f"downstream-sync: warning: {warning}", file=sys.stderr)
    return result.text


def _failed(role: str, message: str) -> None:
    """Say an error; from the post-renderer, also on the wrapper's stderr, and as a line that is no
    YAML, so that `skaffold filter` (which shows no stderr and ignores exit codes) fails the install."""
    print(message, file=sys.stderr)
    if role == "post-render":
        _tell_wrapper(message)
        sys.stdout.write(f"{message}: [the post-renderer failed]\n")
        sys.stdout.flush()


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


def _exec_on(real: str, args: list[str], data: bytes) -> None:
    """Exec the real kubectl with `data` as its stdin (a memory file: no size limit, no writer left)."""
    try:
        fd = os.memfd_create("downstream-sync-manifests")
    except (AttributeError, OSError):
        fd = os.dup(tempfile.TemporaryFile().fileno())
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    os.execv(real, [real, *args])


class _UsersFailed(Exception):
    """The user's own post-renderer failed; the message says how."""


def _run_users(n: int, data: bytes) -> tuple[bytes, str]:
    """The user's post-renderer N run on Helm's output (from this folder, the config's, as Skaffold
    runs it; its stderr is theirs): its output, and what to call it in messages."""
    from ..sync.events import printable

    chain = json.loads(os.environ[ENV_POST_RENDERERS])[n]
    name = printable(" ".join(chain))
    try:
        done = subprocess.run(chain, input=data, stdout=subprocess.PIPE)
    except OSError as error:
        raise _UsersFailed(f"cannot run your post-renderer {name}: {error.strerror or error} (a relative path "
                           "is from the skaffold.yaml's folder, a bare name from PATH)") from None
    if done.returncode != 0:
        how = f"was ended by signal {-done.returncode}" if done.returncode < 0 else \
            f"exited with status {done.returncode}"
        raise _UsersFailed(f"your post-renderer {name} {how}; nothing was installed")
    return done.stdout, f"the manifests your post-renderer {name} printed"


def main(argv: list[str]) -> int:
    from ..inject import InjectError, ImageConfigError

    role, args = argv[0], argv[1:]
    try:
        if role == "kubectl":
            real = os.environ[ENV_KUBECTL]
            if not injects(args):
                os.execv(real, [real, *args])
            text = _inject(_read_stdin(), "the manifests Skaffold applies")
            _exec_on(real, args, text.encode("utf-8"))
        if role == "post-render":
            data, source = sys.stdin.buffer.read(), "the manifests Helm rendered"
            if args:
                data, source = _run_users(int(args[0]), data)
            text = _inject(data.decode("utf-8"), source, built_tags(os.environ.get("SKAFFOLD_CMDLINE")))
            sys.stdout.buffer.write(text.encode("utf-8"))
            return 0
    except KeyError as error:
        what = error.args[0] if error.args else ""
        if isinstance(what, str) and what.startswith("DOWNSTREAM_SYNC_"):  # run outside the wrapper
            _failed(role, f"downstream-sync: error: {what} is not set: this program is run by downstream-sync "
                          "skaffold, which sets it")
        else:
            _failed(role, f"downstream-sync: error: {error}")
        return 1
    except (InjectError, ImageConfigError, _UsersFailed, ValueError, UnicodeDecodeError) as error:
        _failed(role, f"downstream-sync: error: {error}")
        return 1
    except OSError as error:  # the real kubectl could not be run, or a file not read
        if role == "post-render":
            _failed(role, f"downstream-sync: error: {error}")
            return 1
        print(f"downstream-sync: error: cannot run {error.filename or 'kubectl'}: {error.strerror or error}",
              file=sys.stderr)
        return 127
    print(f"downstream-sync: error: unknown shim {role!r}", file=sys.stderr)
    return 2
