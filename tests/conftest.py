"""Fixtures shared by every test folder."""

import os
import shutil
import subprocess

import pytest


@pytest.fixture
def bound_by_permissions() -> list[str]:
    """A command prefix under which file permission bits bind: nothing for a normal user; for root,
    setpriv with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from the bounding set."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to test permission errors")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"setpriv cannot drop capabilities here: {probe.stderr.strip()}")
    return prefix


TOOLS_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".tools", "bin")
CLUSTER_BIN = os.path.join(os.path.dirname(TOOLS_BIN), "cluster", "bin")  # tests/cluster/build.sh


@pytest.fixture(scope="session")
def real_tool():
    """Returns the path of a real tool built from Go modules by tests/tools/build.sh (skaffold, ...)
    or tests/cluster/build.sh (kubectl, ...).
    A missing tool fails the test in CI (the build is part of set-up there) and skips it elsewhere."""

    def find(name: str) -> str:
        for folder in (TOOLS_BIN, CLUSTER_BIN):
            path = os.path.join(folder, name)
            if os.access(path, os.X_OK):
                return path
        message = f"{name} is not built: run bash tests/tools/build.sh and bash tests/cluster/build.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    return find
