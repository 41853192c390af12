"""Attach mode: the helper for a container that was deployed without it.

Owns: the injection annotation and the choice between connect (the pod carries the injected
helper) and attach; copying the standalone binaries into the running container through exec
(streamed on the exec's stdin, `sh` and `cat` there, no `tar`); running `app-server` watch-only
for the length of the session; and removing it all on stop. An exec is any argv prefix that runs
a command in the container with stdin and stdout attached (`kubectl exec -i POD -c C --`,
`docker exec -i C`, `runc exec C`).

The user's app is never touched: the helper lives in its own folder, and every check that can
fail (no shell, another architecture, no writable exec-able folder, a second attach) fails before
anything is copied. Must not import pygls, lsprotocol, or anything of the terminal; never prints.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..inject.names import INJECTED_ANNOTATION, injected_containers
from .transport import TransportError

__all__ = ["INJECTED_ANNOTATION", "AttachError", "Attached", "AttachTransport", "choose_mode", "elf_arch",
           "binaries_dir"]

MODES = ("auto", "connect", "attach")
FOLDER = "downstream-sync-helper"  # made below the first writable, exec-able candidate
CANDIDATES = ("/tmp", "/var/tmp", "/dev/shm", "/run", "$HOME")
NO_SHELL = ("executable file not found", "no such file or directory", "not found in $path")
_ARCH = {62: "amd64", 183: "arm64"}  # ELF e_machine
_UNAME = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
INJECT_HINT = ("deploy it with the helper injected instead (an init container copies app-server and "
               "app-connect into an emptyDir at /sync-helper and the container runs /sync-helper/app-server)")


class AttachError(TransportError):
    """The helper cannot be attached to this container; the message says why and what to do."""


def choose_mode(annotations: Mapping[str, str] | None, container: str, forced: str = "auto") -> str:
    """'connect' when the pod's annotation (inject/names.py) says `container` runs an injected
    helper, 'attach' for any other; `forced` wins."""
    if forced not in MODES:
        raise ValueError(f"helper mode must be one of {', '.join(MODES)}, not {forced!r}")
    if forced != "auto":
        return forced
    return "connect" if container in injected_containers(dict(annotations or {})) else "attach"


def elf_arch(path: Path) -> str:
    """The architecture of an ELF executable (amd64, arm64, or `machine N`)."""
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        raise AttachError(f"{path} is not a Linux executable: build the helper binaries with helper/build.sh")
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return _ARCH.get(machine, f"machine {machine}")


def binaries_dir() -> Path:
    """Where the standalone binaries are: $DOWNSTREAM_SYNC_HELPER_BINARIES, or the build's folder."""
    named = os.environ.get("DOWNSTREAM_SYNC_HELPER_BINARIES")
    if named:
        return Path(named)
    arch = _UNAME.get(os.uname().machine, os.uname().machine)
    return Path(__file__).resolve().parents[3] / ".cache" / "binaries" / f"linux-{arch}"


# The probe: the architecture, /proc, and the first candidate where a folder can be made and a
# file in it executed. The folder is reserved at once (its `reserved` file holds the time); one
# there already, with a live helper or reserved in the last RESERVE seconds, means a second attach.
RESERVE = 300
_PROBE = r"""
echo "arch $(uname -m 2>/dev/null)"
[ -r /proc/self/stat ] && echo proc
now=$(date +%s)
for base in "$@"; do
  case "$base" in '$HOME') base="$HOME";; esac
  [ -n "$base" ] && [ -d "$base" ] || continue
  dir="$base/__FOLDER__"
  if [ -d "$dir" ]; then
    pid=$(cat "$dir/app-server.pid" 2>/dev/null)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "busy $dir $pid"; exit 0; fi
    since=$(cat "$dir/reserved" 2>/dev/null)
    if [ -z "$pid" ] && [ -n "$since" ] && [ $((now - since)) -lt __RESERVE__ ]; then echo "busy $dir starting"; exit 0; fi
    rm -rf "$dir"
  fi
  if ! mkdir -m 700 "$dir" 2>/dev/null; then
    [ -d "$dir" ] && { echo "busy $dir starting"; exit 0; }
    echo "unwritable $base"; continue
  fi
  echo "$now" > "$dir/reserved"
  printf '#!/bin/sh\nexit 0\n' > "$dir/probe" 2>/dev/null && chmod 700 "$dir/probe" 2>/dev/null || {
    echo "unwritable $base"; rm -rf "$dir"; continue; }
  if "$dir/probe" 2>/dev/null; then rm -f "$dir/probe"; mkdir "$dir/tmp"; echo "dir $dir"; exit 0; fi
  echo "noexec $base"; rm -rf "$dir"
done
""".replace("__FOLDER__", FOLDER).replace("__RESERVE__", str(RESERVE))

# Copy stdin into "$0", then check its size; a short copy (a full disk) removes what it wrote.
_COPY = r"""cat > "$0.part" && [ "$(wc -c < "$0.part" | tr -d ' ')" = "$1" ] && chmod 755 "$0.part" && mv "$0.part" "$0" \
  || { rm -f "$0.part"; exit 1; }"""

# Run the helper in the background, say "ready" once its socket is there, and hold until stdin
# closes (the session ended, or its exec died): then stop the helper and remove the folder.
_RUN = r"""dir="$0"
echo $$ > "$dir/app-server.pid"
TMPDIR="$dir/tmp" DOWNSTREAM_SYNC_APP_TMPDIR= "$dir/app-server" --socket "$dir/app-server.sock" "$@" &
pid=$!
while [ ! -S "$dir/app-server.sock" ]; do
  kill -0 $pid 2>/dev/null || { wait $pid; echo "exited $?"; rm -rf "$dir"; exit 1; }
  sleep 0.05 2>/dev/null || sleep 1
done
echo ready
cat > /dev/null
kill -TERM $pid 2>/dev/null
wait $pid
rm -rf "$dir"
"""

_CONNECT = r"""TMPDIR="$0/tmp" exec "$0/app-connect" --socket "$0/app-server.sock" """


@dataclass(frozen=True)
class Attached:
    """Where the helper runs in the container."""

    folder: str
    arch: str


async def _run(argv: Sequence[str], stdin_file: Path | None = None, timeout: float = 120.0) -> tuple[int, str, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin_file else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        raise AttachError(f"cannot run {argv[0]!r}: {e.strerror or e}") from None

    async def feed() -> None:
        if stdin_file is None:
            return
        try:
            with open(stdin_file, "rb") as f:
                while chunk := f.read(1 << 20):
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            proc.stdin.close()

    try:
        _, (out, err) = await asyncio.wait_for(asyncio.gather(feed(), proc.communicate()), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AttachError(f"{shlex.join(argv[:6])} ... did not finish within {timeout:.0f} s") from None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


class AttachTransport:
    """A transport that first attaches the helper to the container `exec_prefix` reaches.

    `command()` attaches on its first call (probe, copy, run) and then returns, for every
    connection, the exec of the copied app-connect. `aclose()` ends the helper and removes its folder.
    `targets` and `excludes` are the session's (remoteSrc folders, as app-server takes them); a
    Session sets them through `set_targets`.
    """

    def __init__(self, exec_prefix: Sequence[str], where: str, targets: Sequence[str] = (), excludes: Sequence[str] = (),
                 binaries: Path | None = None, ready_timeout: float = 60.0):
        if not exec_prefix:
            raise AttachError("attach needs a command that runs commands in the container")
        self.exec_prefix = list(exec_prefix)
        self.where = where
        self.targets = list(targets)
        self.excludes = list(excludes)
        self.binaries = binaries or binaries_dir()
        self.ready_timeout = ready_timeout
        self.attached: Attached | None = None
        self._helper: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def set_targets(self, targets: Sequence[str], excludes: Sequence[str]) -> None:
        """What the helper watches: a Session gives its remoteSrc folders and excludes."""
        self.targets, self.excludes = list(targets), list(excludes)

    def describe(self) -> str:
        return f"{self.where} (helper attached)" if self.attached else f"{self.where} (attaching the helper)"

    def sh(self, script: str, *args: str) -> list[str]:
        """`sh -c SCRIPT ARGS...` in the container: the first of ARGS is the script's $0."""
        return self.exec_prefix + ["sh", "-c", script, *args]

    async def command(self) -> list[str]:
        async with self._lock:
            if self.attached is None or (self._helper is not None and self._helper.returncode is not None):
                await self.attach()
        return self.sh(_CONNECT, self.attached.folder)

    # the steps --------------------------------------------------------------------------------

    def _local_binaries(self) -> tuple[Path, Path, str]:
        server, connect = self.binaries / "app-server", self.binaries / "app-connect"
        for p in (server, connect):
            if not p.is_file():
                raise AttachError(f"the standalone helper binaries are not built ({p} is missing): "
                                  "run helper/build.sh, or set DOWNSTREAM_SYNC_HELPER_BINARIES to their folder")
        return server, connect, elf_arch(server)

    async def probe(self) -> Attached:
        """Check the container and reserve the helper's folder there; AttachError when it cannot host it."""
        _, _, local_arch = self._local_binaries()
        code, out, err = await _run(self.sh(_PROBE, "probe", *CANDIDATES), timeout=60)
        said = " ".join(err.split())
        if code != 0 and any(m in said.lower() for m in NO_SHELL) or code in (126, 127) and not out:
            raise AttachError(f"{self.where} has no shell (sh), so the helper cannot be copied into it: "
                              f"{INJECT_HINT}. The exec said: {said or f'exit {code}'}")
        if code != 0:
            raise AttachError(f"exec into {self.where} failed (exit {code}): {said or 'no output'}")
        lines = out.splitlines()
        facts = {line.split(" ", 1)[0]: line.split(" ", 1)[1] if " " in line else "" for line in lines}
        if "busy" in facts:  # the other session's folder stays as it is
            folder, pid = facts["busy"].rsplit(" ", 1)
            who = "being attached now" if pid == "starting" else f"process {pid}"
            raise AttachError(f"another session has attached a helper to {self.where} already ({folder}, "
                              f"{who}): stop that session first; one attach per container at a time")
        problem = self._problem(facts, lines, local_arch)
        if problem:
            if "dir" in facts:
                await self._remove(Attached(folder=facts["dir"].strip(), arch=""))
            raise AttachError(problem)
        uname = facts["arch"].strip()
        return Attached(folder=facts["dir"].strip(), arch=_UNAME.get(uname, uname))

    def _problem(self, facts: dict[str, str], lines: list[str], local_arch: str) -> str | None:
        """Why the probed container cannot host the helper, or None."""
        uname = facts.get("arch", "").strip()
        arch = _UNAME.get(uname, uname or "unknown")
        if arch != local_arch:
            return (f"{self.where} runs linux/{arch} ({uname or 'uname -m said nothing'}); the helper binaries in "
                    f"{self.binaries} are linux/{local_arch}: build them for linux/{arch} (helper/build.sh on a "
                    f"linux/{arch} machine) and point DOWNSTREAM_SYNC_HELPER_BINARIES there")
        if "proc" not in facts:
            return f"{self.where} has no /proc, which the helper needs to start: mount /proc there, or {INJECT_HINT}"
        if "dir" not in facts:
            tried = [line for line in lines if line.startswith(("unwritable", "noexec"))]
            return (f"{self.where} has no folder the helper can be copied into and run from "
                    f"({'; '.join(tried) or 'none of ' + ', '.join(CANDIDATES) + ' exists'}): a read-only root "
                    f"and noexec mounts leave nowhere; mount a writable volume without noexec (an emptyDir at "
                    f"/tmp), or {INJECT_HINT}")
        return None

    async def copy(self, attached: Attached) -> None:
        server, connect, _ = self._local_binaries()
        for path in (server, connect):
            target = f"{attached.folder}/{path.name}"
            code, _, err = await _run(self.sh(_COPY, target, str(path.stat().st_size)), stdin_file=path)
            if code != 0:
                said = " ".join(err.split())
                await self._remove(attached)
                full = " (the folder is full)" if "space" in said.lower() else ""
                raise AttachError(f"cannot copy {path.name} into {attached.folder} in {self.where}{full}: "
                                  f"{said or f'exit {code}'}; nothing was left there")

    async def attach(self) -> Attached:
        attached = await self.probe()
        await self.copy(attached)
        args = ["--targets", ",".join(self.targets)]
        if self.excludes:
            args += ["--excludes", ",".join(self.excludes)]
        self._helper = await asyncio.create_subprocess_exec(
            *self.sh(_RUN, attached.folder, *args), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            line = await asyncio.wait_for(self._helper.stdout.readline(), self.ready_timeout)
        except asyncio.TimeoutError:
            line = b""
        if line.strip() != b"ready":
            err = b""
            if self._helper.returncode is None:
                self._helper.kill()
            try:
                err = await asyncio.wait_for(self._helper.stderr.read(), 5)
            except asyncio.TimeoutError:
                pass
            await self._helper.wait()
            self._helper = None
            await self._remove(attached)
            said = " ".join(err.decode(errors="replace").split()) or line.decode(errors="replace").strip()
            raise AttachError(f"the helper copied into {attached.folder} in {self.where} did not start: "
                              f"{said or 'no output'}")
        self.attached = attached
        return attached

    async def _remove(self, attached: Attached) -> None:
        try:
            await _run(self.sh('rm -rf "$0"', attached.folder), timeout=30)
        except AttachError:
            pass

    async def aclose(self) -> None:
        """Stop the attached helper and remove its folder; safe to call more than once."""
        helper, self._helper = self._helper, None
        attached, self.attached = self.attached, None
        if helper is None:
            return
        if helper.returncode is None:
            helper.stdin.close()  # the script stops the helper and removes its folder
            try:
                await asyncio.wait_for(helper.wait(), 15)
            except asyncio.TimeoutError:
                helper.kill()
                await helper.wait()
                if attached is not None:
                    await self._remove(attached)
