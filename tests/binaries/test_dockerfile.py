"""helper/Dockerfile.scratch and helper/Dockerfile built by a real `docker build` (BuildKit) on a
Docker daemon of the test's own (dockerd.py), and their default command run as an init container
runs it: `app-server --install /sync-helper` into a volume, leaving both binaries there.

No image can be pulled here, so the multi-stage build's Debian 12 stage starts from a base made of
this machine's own Debian packages (`docker import`, dockerd.debian_base) instead of
debian:bookworm-slim; its `helper/build.sh` still installs PyInstaller and staticx from PyPI, so
that build runs with the host's network (`--network host`: the daemon has no bridge).
"""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from dockerd import Daemon, debian_base
from standalone import REPO


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    running = Daemon(tmp_path_factory.mktemp("dockerd"))
    yield running
    running.stop()


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installs_both(daemon: Daemon, image: str, volume) -> None:
    volume.mkdir()
    done = daemon.docker("run", "--rm", "--network", "none", "-v", f"{volume}:/sync-helper", image)
    said = done.stdout + done.stderr  # without a terminal, docker run gives both on stdout
    assert "installed /sync-helper/app-server" in said and "installed /sync-helper/app-connect" in said
    for name in ("app-server", "app-connect"):
        mode = os.stat(volume / name).st_mode
        assert stat.S_ISREG(mode) and mode & 0o111, f"{name} is not an executable file"
    assert (volume / "tmp").is_dir()  # where the standalone binaries unpack (TMPDIR of the injected helper)


def test_the_scratch_image_from_the_built_binaries_installs_them(daemon, binaries, tmp_path):
    daemon.docker("build", "-f", "helper/Dockerfile.scratch", "-t", "downstream-sync-helper:scratch", ".", cwd=REPO)
    config = daemon.docker("image", "inspect", "downstream-sync-helper:scratch", "--format",
                           "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{len .RootFS.Layers}}").stdout.split()
    assert config == ['["/app-server"]', '["--install","/sync-helper"]', "2"]  # FROM scratch: COPY and WORKDIR only
    installs_both(daemon, "downstream-sync-helper:scratch", tmp_path / "volume")
    for name in ("app-server", "app-connect"):
        assert _digest(tmp_path / "volume" / name) == _digest(binaries / name)
    version = daemon.docker("run", "--rm", "--network", "none", "downstream-sync-helper:scratch", "--version")
    assert version.stdout.strip() == "app-server 0.1.0"


@pytest.mark.timeout(1500)  # the build inside runs PyInstaller and staticx (its own bound: 1200 s)
def test_the_multi_stage_image_builds_the_binaries_from_source(daemon, tmp_path):
    base = debian_base(daemon, "downstream-sync-build-base:local", tmp_path / "base")
    daemon.docker("build", "--network", "host", "--build-arg", f"BUILD_BASE={base}", "-f", "helper/Dockerfile",
                  "-t", "downstream-sync-helper:source", ".", cwd=REPO, timeout=1200)
    installs_both(daemon, "downstream-sync-helper:source", tmp_path / "volume")
    for name in ("app-server", "app-connect"):
        version = daemon.docker("run", "--rm", "--network", "none", "--entrypoint", f"/{name}",
                                "downstream-sync-helper:source", "--version")
        assert version.stdout.strip() == f"{name} 0.1.0"
