"""The helper image: an OCI layout built by helper/image.sh without a daemon, unpacked by umoci and
run by a real runc as the init container would run it (read-only root, a volume at /sync-helper).
A Kubernetes node cannot be had here: runc stands in for the node's runtime."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from standalone import REPO, WAIT

LAYOUT = REPO / ".cache" / "binaries" / "image-linux-amd64"


@pytest.fixture(scope="module")
def image(binaries):
    done = subprocess.run(["bash", str(REPO / "helper" / "image.sh"), str(LAYOUT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return f"{LAYOUT}:0.1.0"


def _bundle(image: str, where, volume) -> None:
    subprocess.run(["umoci", "unpack", "--image", image, str(where)], check=True, capture_output=True)
    config = json.loads((where / "config.json").read_text())
    config["process"]["terminal"] = False
    config["root"]["readonly"] = True
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/sync-helper"] + [
        {"destination": "/sync-helper", "type": "bind", "source": str(volume), "options": ["rbind", "rw"]}]
    (where / "config.json").write_text(json.dumps(config))


def _run(bundle) -> subprocess.CompletedProcess:
    name = f"ds-image-{uuid.uuid4().hex[:8]}"
    try:
        return subprocess.run(["runc", "run", "--bundle", str(bundle), name], capture_output=True, text=True,
                              timeout=WAIT, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run(["runc", "delete", "-f", name], capture_output=True)


def test_the_image_holds_the_binaries_only_and_says_its_platform(image):
    index = json.loads((LAYOUT / "index.json").read_text())
    manifest = json.loads((LAYOUT / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    config = json.loads((LAYOUT / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_text())
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["Entrypoint"] == ["/app-server"]
    assert config["config"]["Cmd"] == ["--install", "/sync-helper"]
    assert "TMPDIR=/sync-helper" in config["config"]["Env"]


def test_the_default_command_installs_into_the_volume_on_a_read_only_root(image, tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    _bundle(image, tmp_path / "bundle", volume)
    assert sorted(os.listdir(tmp_path / "bundle" / "rootfs")) == ["app-connect", "app-server", "sync-helper"]
    done = _run(tmp_path / "bundle")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(volume)) == ["app-connect", "app-server", "tmp"]
    assert (volume / "app-server").read_bytes() == (tmp_path / "bundle" / "rootfs" / "app-server").read_bytes()


def test_a_full_volume_fails_the_init_container_clearly(image, tmp_path):
    """64 MiB holds the binary's extracted bundle (TMPDIR is the volume) but not both copies: refused
    before anything is copied, naming the size to give."""
    volume = tmp_path / "volume"
    volume.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(volume)], check=True)
    try:
        _bundle(image, tmp_path / "bundle", volume)
        done = _run(tmp_path / "bundle")
        assert done.returncode == 1
        assert "cannot install into /sync-helper: the volume is too small" in done.stderr, done.stderr
        assert "MiB or more (the emptyDir's sizeLimit)" in done.stderr
        assert not [n for n in os.listdir(volume) if n.startswith(("app-", "tmp"))]
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=False)
