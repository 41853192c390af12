"""Helpers for the `downstream-sync` command's tests: run the real console script, wait for a
condition with a bound."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CLI = str(BIN / "downstream-sync")

SKAFFOLD = """\
apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
  - image: web
    context: .
    download:
      manual:
      - remoteSrc: out
        localDst: local/out
      excludes:
      - "**/*.log"
"""


def wait_for(predicate, what: str, timeout: float = 20.0):
    """Poll until predicate() is true; fail with `what` when it never is (a bound, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class Helper:
    container: Path
    socket: Path
    process: subprocess.Popen

    @property
    def connect_command(self) -> str:
        return f"{BIN / 'app-connect'} --socket {self.socket}"

    @property
    def connect_argv(self) -> list[str]:
        """The same command as an argv, as the language server takes it."""
        return [str(BIN / "app-connect"), "--socket", str(self.socket)]


def run(*args, cwd=None, env=None, timeout=60):
    """Run the real console script to the end."""
    return subprocess.run([CLI, *args], cwd=cwd, env={**os.environ, "NO_COLOR": "1", **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
