"""The embedded demo: a temporary project whose "container" is a local folder served by a real
`app-server` wrapping a small generator (generator.py), so a live sync runs with no cluster.

Owns setting up and tearing down that project and helper process; the CLI runs the ordinary
`start` code path against it. Must not import pygls, lsprotocol, or the terminal; never prints.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


def _script(name: str) -> str:
    """A console script of this environment (next to its python), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the CLI dies, however it dies.
    (Linux sends it when the *thread* that started the child ends: start it on the main thread.)"""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the CLI's own clean-up still stops it


def helper_bin() -> str:
    """The folder of this environment's app-server and app-connect."""
    return str(Path(_script("app-connect")).parent)


@dataclass
class DemoProject:
    root: Path  # the project folder: skaffold.yaml, and synced/ once files arrive
    container: Path  # the "container's" working directory
    socket: Path
    log: Path  # the app-server's and generator's output
    process: subprocess.Popen | None = None

    @property
    def skaffold(self) -> Path:
        return self.root / "skaffold.yaml"

    @property
    def connect_command(self) -> str:
        """The --connect-command for `start`; app-connect must be on PATH (see helper_bin)."""
        return f"app-connect --socket {self.socket}"

    def start_container(self, targets: list[str], excludes: list[str], timeout: float = 20.0) -> None:
        """Start `app-server --socket S --targets ... -- python generator.py` in the container
        folder and wait until its socket exists."""
        for target in targets:
            (self.container / target).mkdir(parents=True, exist_ok=True)
        argv = [_script("app-server"), "--socket", str(self.socket), "--targets", ",".join(targets)]
        if excludes:
            argv += ["--excludes", ",".join(excludes)]
        argv += ["--", sys.executable, str(HERE / "generator.py")]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                argv, cwd=self.container, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl+C in the terminal goes to the CLI, which stops it in order
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo container's app-server exited ({self.process.returncode}); see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo container's app-server did not open {self.socket}; see {self.log}")
            time.sleep(0.05)

    def stop_container(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def cleanup_runtime(self) -> None:
        """Remove the socket's folder; the project folder is kept for the user to look at."""
        shutil.rmtree(self.socket.parent, ignore_errors=True)


def create_project(parent: Path | None = None) -> DemoProject:
    """A fresh project folder with the demo skaffold.yaml and an empty container folder."""
    root = Path(tempfile.mkdtemp(prefix="downstream-sync-demo-", dir=parent))
    shutil.copyfile(HERE / "skaffold.yaml", root / "skaffold.yaml")
    container = root / "container"
    container.mkdir()
    # Unix socket paths are short (about 100 bytes): keep it in its own short folder.
    runtime = Path(tempfile.mkdtemp(prefix="ds-demo-", dir="/tmp" if os.path.isdir("/tmp") else None))
    return DemoProject(root=root, container=container, socket=runtime / "app-server.sock", log=root / "container.log")
