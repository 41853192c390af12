"""Fixtures for the `downstream-sync` command's tests: a real app-server serving a "container"
folder on a unix socket, and a project whose skaffold.yaml downloads from it."""

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from clitools import BIN, SKAFFOLD, Helper, wait_for


@pytest.fixture
def container(tmp_path):
    """The container's working directory, with files the project's rules download."""
    root = tmp_path / "container"
    (root / "out" / "sub").mkdir(parents=True)
    (root / "out" / "a.txt").write_text("alpha\n")
    (root / "out" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (root / "out" / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "out" / "sub" / "run.sh").chmod(0o755)
    (root / "out" / "debug.log").write_text("excluded\n")
    return root


@pytest.fixture
def start_helper():
    """Starts real app-servers (each wrapping a long sleep) on sockets in one short folder;
    stops them all at the end."""
    runtime = Path(tempfile.mkdtemp(prefix="ds-cli-"))
    started: list[subprocess.Popen] = []

    def start(container: Path, name: str = "s", targets: str = "out") -> Helper:
        sock = runtime / f"{name}.sock"
        proc = subprocess.Popen(
            [str(BIN / "app-server"), "--socket", str(sock), "--targets", targets, "--",
             sys.executable, "-c", "import time; time.sleep(3600)"],
            cwd=container, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        started.append(proc)
        wait_for(lambda: sock.exists() or proc.poll() is not None, "the app-server's socket")
        if proc.poll() is not None:
            pytest.fail(f"app-server exited: {proc.stderr.read().decode(errors='replace')}")
        return Helper(container, sock, proc)

    start.runtime = runtime
    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def helper(container, start_helper):
    """A real app-server watching `out` in the container folder."""
    return start_helper(container)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "skaffold.yaml").write_text(SKAFFOLD)
    return root
