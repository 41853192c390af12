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
