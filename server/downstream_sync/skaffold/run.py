"""The Skaffold process: prepared (`prepare`), then run (`run`) with its exit code passed through.

`prepare` reads the user's arguments (args.py), checks the project (no errors, and at least one
artifact with a download stanza), and builds what Skaffold is run with: the config copy (copy.py) on
stdin with `--filename -`, or, when the config deploys or renders with Helm, in the file
`.skaffold.downstream-sync-PID.yaml` beside the config, named by `--filename` (Skaffold's `skaffold
filter`, Helm's post-renderer, reads the config again from that name; its stdin is Helm's
manifests), written here after removing dead wrappers' leftovers; the config's folder as working
directory (what relative paths in it mean; path flags of the user's are made absolute first), and,
for commands that deploy, the shims first on PATH (shims.py) and the event API on a free loopback port.

`run` starts Skaffold in its own process group and forwards SIGINT and SIGTERM to it (so one Ctrl+C
reaches it once, as it would without the wrapper), reads `/v2/events` while it runs and hands the
moments (events.py) to a callback, and returns Skaffold's exit code (128 + N when a signal N ended
it). The copy's file is removed as soon as Skaffold has ended (still under the forwarding handlers),
and again by `Prepared.cleanup`. `skaffold render` to stdout is injected on the way out;
`render --output FILE` in the file.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import args as sargs
from .copy import CopyError, config_copy, names_helm, remove_leftovers, write_copy_file
from .events import DeployWatch, parse_line
from .shims import (ENV_CONFIG, ENV_HELPER_IMAGE, ENV_IMAGE_CONFIGS, ENV_KUBECTL, ENV_POST_RENDERERS, ENV_PROFILES,
                    ENV_PYTHON, ENV_WRAPPER_STDERR, PostRenderers, image_configs_env, image_configs_from_env,
                    write_shims)

__all__ = ["WrapperError", "Prepared", "prepare", "run", "find_skaffold"]

# Flags whose value is a path the user means relative to where they are, not to the config's folder.
_PATH_FLAGS = ("--output", "-o", "--build-artifacts", "-a", "--file-output", "--event-log-file", "--last-log-file",
               "--cache-file", "--kubeconfig")


class WrapperError(Exception):
    """Skaffold cannot be run as asked; `config` is True when the project is at fault."""

    def __init__(self, message: str, config: bool = False):
        super().__init__(message)
        self.config = config


def find_skaffold(given: str | None) -> str:
    """The skaffold to run: `given` (a path or a name on PATH), else `skaffold` on PATH."""
    name = given or os.environ.get("DOWNSTREAM_SYNC_SKAFFOLD") or "skaffold"
    found = shutil.which(name)
    if found is None:
        where = "--skaffold" if given else "PATH"
        raise WrapperError(f"skaffold not found ({name!r} via {where}): install Skaffold v2, or name it with "
                           "--skaffold PATH")
    return os.path.abspath(found)  # Skaffold runs in the config's folder: a relative path is from here


@dataclass
class Prepared:
    skaffold: str
    argv: list[str]                 # what Skaffold is run with, after its own path
    cwd: Path
    env: dict[str, str]
    stdin_text: str | None          # the config copy; None: Skaffold reads its config itself
    parsed: sargs.SkaffoldArgs
    config: Path | None             # the user's skaffold.yaml
    rpc_port: int | None = None
    inject_stdout: bool = False     # render to stdout: inject on the way out
    output_file: Path | None = None  # render --output: inject in the file
    temp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    copy_file: Path | None = None   # the copy beside the config (Helm), removed at the end

    def remove_copy_file(self) -> None:
        if self.copy_file is not None:
            try:
                self.copy_file.unlink(missing_ok=True)
            except OSError:
                pass
            self.copy_file = None

    def cleanup(self) -> None:
        self.remove_copy_file()
        if self.temp is not None:
            self.temp.cleanup()
            self.temp = None


def _check_temp_folder(folder: str) -> None:
    """The shims' folder goes first on Skaffold's PATH, which ':' splits, and into the config copy,
    which is UTF-8: a temporary folder that cannot be either is refused, saying what to do."""
    from ..sync.events import printable

    try:
        folder.encode("utf-8")
    except UnicodeEncodeError:
        raise WrapperError(f"the temporary folder {printable(folder)} is not a UTF-8 name, which the config copy "
                           "must name: set TMPDIR to a folder that is") from None
    if os.pathsep in folder:
        raise WrapperError(f"the temporary folder {printable(folder)} has a {os.pathsep!r}, which would split "
                           "the PATH the kubectl shim goes first on: set TMPDIR to a folder without one")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _absolute_paths(argv: list[str], base: Path) -> list[str]:
    out = list(argv)
    for i, word in enumerate(out):
        for flag in _PATH_FLAGS:
            if word == flag and i + 1 < len(out) and out[i + 1] and out[i + 1] != "-":
                out[i + 1] = str(base / out[i + 1])
            elif word.startswith(flag + "=") and len(word) > len(flag) + 1:
                out[i] = f"{flag}={base / word[len(flag) + 1:]}"
    return out


def prepare(skaffold: str, user_argv: list[str], *, image_configs: tuple[str, ...] = (),
            helper_image: str | None = None, cwd: Path | None = None) -> Prepared:
    """Everything Skaffold is run with; raises WrapperError (nothing started, nothing left written).
    The caller calls `cleanup` on what it returns (the shims, the copy's file)."""
    from ..config import Severity, find_config, format_diagnostic, load_project

    from ..inject import parse_image_config_flag

    here = Path(cwd or os.getcwd())
    for value in image_configs:
        try:
            parse_image_config_flag(value)
        except ValueError as error:
            raise WrapperError(f"--image-config {error}", config=False) from None
    try:
        parsed = sargs.parse(user_argv)
    except ValueError as error:
        raise WrapperError(f"skaffold arguments: {error}", config=False) from None
    env = dict(os.environ)
    if parsed.help or parsed.command not in sargs.CONFIG_COMMANDS:
        return Prepared(skaffold, list(user_argv), here, env, None, parsed, None)
    if parsed.filename == "-":
        raise WrapperError("--filename -: the wrapper gives Skaffold its copy of the config itself; name the file")
    if parsed.filename is not None and "://" in parsed.filename:
        raise WrapperError(f"--filename {parsed.filename}: name a local file (the wrapper reads its download stanzas)")
    config = find_config(here / (parsed.filename or "."))
    if not config.is_file():
        raise WrapperError(f"{config}: no such file (name the skaffold.yaml with -f)", config=True)
    project = load_project(config, profiles=parsed.profiles, command=parsed.command)
    errors = [d for d in project.diagnostics if d.severity == Severity.ERROR]
    if errors:
        raise WrapperError(f"{config} has {len(errors)} error(s); fix them first: "
                           + "; ".join(format_diagnostic(d) for d in errors[:3]), config=True)
    if not any(a.download is not None and a.download.mappings for a in project.artifacts):
        raise WrapperError(f"{config}: no artifact has a download stanza; run skaffold itself, or add "
                           "build.artifacts[].download", config=True)
    _check_temp_folder(tempfile.gettempdir())
    temp = tempfile.TemporaryDirectory(prefix="downstream-sync-skaffold-")  # the shims; every command's
    try:                                                                    # copy names the post-renderer
        shims = write_shims(Path(temp.name))
        renderers = PostRenderers(Path(temp.name), shims["post-render"])
        text = config_copy(config, [f for f in project.files if f != config], renderers)
        copy_file = None
        if names_helm(text):  # `skaffold filter` reads the config again: a file, not stdin
            folder = Path(os.path.abspath(config.parent))
            remove_leftovers(folder)
            copy_file = write_copy_file(folder, text)
    except CopyError as error:
        temp.cleanup()
        raise WrapperError(str(error), config=True) from None
    argv = _absolute_paths(parsed.with_config(str(copy_file) if copy_file else "-"), here)
    prepared = Prepared(skaffold, argv, config.parent, env, None if copy_file else text, parsed, config,
                        temp=temp, copy_file=copy_file)
    try:
        _finish(prepared, parsed, here, image_configs, helper_image, renderers)
    except BaseException:
        prepared.cleanup()
        raise
    return prepared


def _finish(prepared: Prepared, parsed: sargs.SkaffoldArgs, here: Path, image_configs: tuple[str, ...],
            helper_image: str | None, renderers: PostRenderers) -> None:
    env, temp, argv = prepared.env, prepared.temp, prepared.argv
    config = prepared.config
    deploys = parsed.command in sargs.DEPLOY_COMMANDS
    env[ENV_CONFIG] = str(config)
    env[ENV_PYTHON] = sys.executable
    env[ENV_POST_RENDERERS] = renderers.env()
    env[ENV_PROFILES] = ",".join(parsed.profiles)
    env[ENV_IMAGE_CONFIGS] = image_configs_env({image: here / file for image, file in
                                                (v.partition("=")[::2] for v in image_configs)})
    if helper_image:
        env[ENV_HELPER_IMAGE] = helper_image
    if os.path.exists(f"/proc/{os.getpid()}/fd/2"):  # the post-renderer's stderr is not shown by skaffold filter
        env[ENV_WRAPPER_STDERR] = f"/proc/{os.getpid()}/fd/2"
    if deploys:
        kubectl = shutil.which("kubectl", path=env.get("PATH"))
        if kubectl is not None:
            env[ENV_KUBECTL] = kubectl
            env["PATH"] = temp.name + os.pathsep + env.get("PATH", "")
        prepared.rpc_port = parsed.rpc_http_port or _free_port()
        if parsed.rpc_http_port is None:
            prepared.argv += ["--rpc-http-port", str(prepared.rpc_port)]
            if parsed.command in sargs.SESSION_COMMANDS:
                prepared.argv.append("--wait-for-connection")  # so no event is missed: Skaffold waits for us
    if parsed.command == "render":
        if parsed.has_output:
            out = next((argv[i + 1] for i, w in enumerate(argv[:-1]) if w in ("-o", "--output")), None) or \
                next((w.split("=", 1)[1] for w in argv if w.startswith(("-o=", "--output="))), None)
            prepared.output_file = Path(out) if out else None
        else:
            prepared.inject_stdout = True


def _read_events(port: int, deliver: Callable[[dict], None], done: threading.Event) -> None:
    """Reads /v2/events until Skaffold ends; connects again while the server is not up yet."""
    url = f"http://127.0.0.1:{port}/v2/events"
    while not done.is_set():
        try:
            with urllib.request.urlopen(url, timeout=None) as response:
                for line in response:
                    event = parse_line(line)
                    if event is not None:
                        deliver(event)
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            pass
        done.wait(0.2)


def _inject_text(text: str, prepared: Prepared, source: str) -> str:
    from ..inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
    from ..inject.names import DEFAULT_HELPER_IMAGE

    configs = ConfigSource(image_configs_from_env(prepared.env.get(ENV_IMAGE_CONFIGS, "")))
    request = InjectRequest(rules_from_project(prepared.config, prepared.parsed.profiles), configs,
                            prepared.env.get(ENV_HELPER_IMAGE) or DEFAULT_HELPER_IMAGE, source=source)
    return inject_manifests(text, request).text


async def run(prepared: Prepared, on_moment: Callable[[object], None] | None = None,
              stdout=None) -> int:
    """Runs Skaffold to its end; returns its exit code. `stdout` (a binary stream) gets what it prints
    on stdout, injected for `render`. Raises WrapperError when its rendered output cannot be injected."""
    loop = asyncio.get_running_loop()
    pipe_out = prepared.inject_stdout
    process = await asyncio.create_subprocess_exec(
        prepared.skaffold, *prepared.argv, cwd=prepared.cwd, env=prepared.env,
        stdin=asyncio.subprocess.PIPE if prepared.stdin_text is not None else None,
        stdout=asyncio.subprocess.PIPE if pipe_out else None, start_new_session=True)

    def forward(sig: signal.Signals) -> None:
        # To Skaffold alone, as a stock Skaffold gets it: it cancels its builds and deploys itself
        # (its children hearing the signal too would race that and end the build differently).
        if process.returncode is None:
            try:
                os.kill(process.pid, sig)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, forward, sig)
    done = threading.Event()
    reader = None
    watch = DeployWatch()
    if prepared.rpc_port is not None:  # read even without a callback: with --wait-for-connection Skaffold waits
        def deliver(event: dict) -> None:
            for moment in watch.feed(event):
                if on_moment is not None:
                    loop.call_soon_threadsafe(on_moment, moment)

        reader = threading.Thread(target=_read_events, args=(prepared.rpc_port, deliver, done), daemon=True)
        reader.start()
    try:
        if prepared.stdin_text is not None:
            try:
                process.stdin.write(prepared.stdin_text.encode("utf-8"))
                await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
            process.stdin.close()
        output = await process.stdout.read() if pipe_out else b""
        code = await process.wait()
    finally:
        done.set()
        if process.returncode is not None:  # else it still reads the file; the caller's cleanup removes it
            prepared.remove_copy_file()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if code < 0:
        code = 128 - code
    if code == 0 and pipe_out:
        output = _inject_text(output.decode("utf-8"), prepared, "the manifests skaffold render printed").encode()
    elif code == 0 and prepared.output_file is not None and prepared.output_file.is_file():
        text = prepared.output_file.read_text(encoding="utf-8")
        prepared.output_file.write_text(_inject_text(text, prepared, str(prepared.output_file)), encoding="utf-8")
    if output and stdout is not None:
        stdout.write(output)
        stdout.flush()
    return code
