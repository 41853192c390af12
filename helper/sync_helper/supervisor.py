"""The user's command as app-server's child: start it, forward signals, reap orphans, report its status.

The child inherits stdio, environment (less the standalone bundle's own variables, see frozen.py)
and working directory. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1
and SIGUSR2 are forwarded to it. The helper reaps every child that ends (it is a child subreaper on
Linux, and PID 1 in a container), so orphans never stay zombies. The status is the child's exit code,
or 128+N when it died of signal N.
Must not import grpc or watchdog.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from .frozen import app_environment

__all__ = ["Child", "CommandError", "FORWARDED", "exit_status", "become_subreaper"]

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class CommandError(Exception):
    """The command could not be started; the message reads like a shell's."""


def exit_status(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux), so they are reaped here even when this is not PID 1."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


class Child:
    """The user's command, started with `start` and awaited with `wait`."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.argv = argv
        self.env = env  # None: this process's environment
        self.pid: int | None = None
        self._done: asyncio.Future[int] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        try:
            proc = subprocess.Popen(self.argv, env=app_environment(self.env))
        except FileNotFoundError:
            reason = "No such file or directory" if "/" in self.argv[0] else "command not found"
            raise CommandError(f"{self.argv[0]}: {reason}") from None
        except PermissionError:
            raise CommandError(f"{self.argv[0]}: Permission denied") from None
        except OSError as e:
            raise CommandError(f"{self.argv[0]}: {e.strerror or e}") from None
        proc.returncode = 0  # reaped below, never by Popen
        self.pid = proc.pid
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        for sig in FORWARDED:
            loop.add_signal_handler(sig, self._forward, sig)
        self._reap()

    def _forward(self, sig: int) -> None:
        if self.pid is not None and not self._done.done():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid and not self._done.done():
                self._done.set_result(exit_status(status))

    async def wait(self) -> int:
        assert self._done is not None
        return await self._done
