"""The injected shape end to end on a real runtime: the helper image (an OCI layout from
helper/image.sh, unpacked by umoci) runs as the init container and installs the binaries into a
shared volume; the app's container (busybox, read-only root, noexec /tmp) then runs
`/sync-helper/app-server -- APP` with TMPDIR in that volume, and a real engine session syncs
through `runc exec ... /sync-helper/app-connect`. runc stands in for the kubelet's runtime."""

from __future__ import annotations

import asyncio
import json
import pathlib
import subprocess
import time

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session

from runc_box import WAIT

REPO = pathlib.Path(__file__).resolve().parents[2]
LAYOUT = REPO / ".cache" / "binaries" / "image-linux-amd64"
APP = "i=0; while true; do i=$((i+1)); echo $i > /app/src/count.txt; env > /app/src/env.txt; sleep 1; done"


def _init_container(volume, where) -> None:
    done = subprocess.run(["bash", str(REPO / "helper" / "image.sh"), str(LAYOUT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bundle = where / "init"
    subprocess.run(["umoci", "unpack", "--image", f"{LAYOUT}:0.1.0", str(bundle)], check=True, capture_output=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["root"]["readonly"] = True
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/sync-helper"] + [
        {"destination": "/sync-helper", "type": "bind", "source": str(volume), "options": ["rbind", "rw"]}]
    (bundle / "config.json").write_text(json.dumps(config))
    name = f"ds-init-{bundle.parent.name[-8:]}-{int(time.time() * 1000) % 100000}"
    try:
        done = subprocess.run(["runc", "run", "--bundle", str(bundle), name], capture_output=True, text=True,
                              timeout=WAIT, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run(["runc", "delete", "-f", name], capture_output=True)
    assert done.returncode == 0, done.stderr


async def test_an_injected_app_syncs_and_keeps_its_own_tmpdir(make_box, binaries, tmp_path):
    volume = tmp_path / "sync-helper"
    volume.mkdir()
    _init_container(volume, tmp_path)
    app_folder = tmp_path / "app-src"
    (app_folder).mkdir()
    box = make_box(tmp_noexec=True, volumes={"/sync-helper": volume, "/app/src": app_folder},
                   args=["/sync-helper/app-server", "--targets", "src", "--", "/bin/sh", "-c", APP],
                   env=["TMPDIR=/sync-helper/tmp", "DOWNSTREAM_SYNC_APP_TMPDIR=/tmp"])
    project = tmp_path / "project"
    project.mkdir()
    transport = CommandTransport(box.exec_prefix + ["/sync-helper/app-connect"])
    box.wait_until(lambda: (volume / "app-server.sock").exists(), "the helper's socket")
    session = Session("web", RuleSet.from_download([("src", "out")], [], project), transport, project)
    await session.start()
    try:
        deadline = time.monotonic() + WAIT
        while not ((project / "out" / "count.txt").exists() and (project / "out" / "env.txt").exists()):
            assert time.monotonic() < deadline, "the app's files did not sync"
            await asyncio.sleep(0.05)
    finally:
        await session.stop()
    env = dict(line.split("=", 1) for line in (project / "out" / "env.txt").read_text().splitlines() if "=" in line)
    assert env["TMPDIR"] == "/tmp"
    assert not [k for k in env if k.startswith(("_PYI_", "STATICX_", "DOWNSTREAM_SYNC_"))], env
    assert box.state()["status"] == "running"
