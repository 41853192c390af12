"""Attach mode against a real runc container (busybox rootfs), `runc exec` as the exec transport
the way `kubectl exec -i` is in a cluster (a Kubernetes control plane cannot be had here), with the
real standalone binaries and a real engine session."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import time

import pytest

from downstream_sync.cluster.attach import FOLDER, INJECTED_ANNOTATION, AttachError, AttachTransport, choose_mode
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session

from runc_box import BUSYBOX, WAIT


async def _eventually(predicate, what: str):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


def _transport(box, binaries, targets=("src",)) -> AttachTransport:
    return AttachTransport(box.exec_prefix, f"runc container {box.name}", list(targets), binaries=binaries)


def _helpers(box) -> list[str]:
    return [p for p in box.processes() if "app-server" in p or "app-connect" in p]


async def test_attach_syncs_files_and_stop_leaves_the_container_as_it_was(make_box, binaries, tmp_path):
    box = make_box(writable_root=True)
    app = box.app_pid()
    project = tmp_path / "project"
    project.mkdir()
    transport = _transport(box, binaries)
    session = Session("web", RuleSet.from_download([("src", "out")], [], project), transport, project)
    await session.start()
    try:
        await _eventually(lambda: transport.attached is not None, "the helper attached")
        assert transport.attached.folder == f"/tmp/{FOLDER}"
        done = box.exec("sh", "-c", "echo generated > /app/src/gen.txt; mkdir -p /app/src/d; echo x > /app/src/d/y")
        assert done.returncode == 0, done.stderr
        await _eventually(lambda: (project / "out" / "d" / "y").exists(), "d/y synced")
        await _eventually(lambda: (project / "out" / "gen.txt").exists(), "gen.txt synced")
        assert (project / "out" / "gen.txt").read_text() == "generated\n"
        assert _helpers(box), "no helper runs in the container"
    finally:
        await session.stop()
    box.wait_until(lambda: not _helpers(box), "the helper to end")
    assert box.exec("ls", "-A", "/tmp").stdout == ""
    assert box.app_pid() == app and box.state()["status"] == "running"
    assert box.processes() == ["/bin/sleep 100000 "]


async def test_a_second_attach_while_one_runs_is_refused(make_box, binaries):
    box = make_box()
    first = _transport(box, binaries)
    try:
        await first.command()
        second = _transport(box, binaries)
        with pytest.raises(AttachError, match="another session has attached a helper") as caught:
            await second.command()
        assert "one attach per container" in str(caught.value)
        assert box.exec("ls", f"/tmp/{FOLDER}").returncode == 0, "the first session's folder was touched"
        assert _helpers(box)
    finally:
        await first.aclose()
    box.wait_until(lambda: not _helpers(box), "the helper to end")


async def test_a_local_side_killed_with_9_leaves_nothing_in_the_container(make_box, binaries):
    """The exec that holds the helper dies (as kubectl does when the engine is killed): its stdin
    closes in the container, and the helper stops and removes its folder by itself. (The exec's
    own process becomes a zombie child of the app's PID 1, as any exec whose client dies does.)"""
    box = make_box()
    transport = _transport(box, binaries)
    await transport.command()
    assert _helpers(box)
    transport._helper.kill()
    await transport._helper.wait()
    box.wait_until(lambda: not _helpers(box), "the helper to end")
    box.wait_until(lambda: box.exec("ls", "-A", "/tmp").stdout == "", "the helper's folder to go")
    assert [p for p in box.processes() if p] == ["/bin/sleep 100000 "]
    await transport.aclose()


async def test_a_container_without_a_shell_says_so_and_points_to_injection(make_box, binaries):
    box = make_box(shell=False)
    with pytest.raises(AttachError) as caught:
        await _transport(box, binaries).command()
    message = str(caught.value)
    assert "has no shell (sh)" in message and "injected" in message
    assert box.processes() == ["/bin/sleep 100000 "]


async def test_a_read_only_root_with_noexec_mounts_is_a_clear_error(make_box, binaries):
    box = make_box(tmp_noexec=True)
    with pytest.raises(AttachError) as caught:
        await _transport(box, binaries).command()
    message = str(caught.value)
    assert "no folder the helper can be copied into and run from" in message
    assert "noexec /tmp" in message and "read-only root" in message
    assert box.exec("ls", "-A", "/tmp").stdout == ""


async def test_a_container_of_another_architecture_is_named(make_box, binaries, tmp_path):
    """An arm64 build cannot be had on this amd64 machine: a copy of the binaries whose ELF header
    says aarch64 stands in for one, attached to an amd64 container."""
    box = make_box()
    arm = tmp_path / "arm64"
    arm.mkdir()
    for name in ("app-server", "app-connect"):
        shutil.copy2(binaries / name, arm / name)
        with open(arm / name, "r+b") as f:
            f.seek(18)
            f.write((183).to_bytes(2, "little"))  # EM_AARCH64
    with pytest.raises(AttachError) as caught:
        await _transport(box, arm).command()
    message = str(caught.value)
    assert "runs linux/amd64 (x86_64)" in message and "are linux/arm64" in message and "helper/build.sh" in message
    assert box.exec("ls", "-A", "/tmp").stdout == ""


async def test_a_full_folder_fails_the_copy_and_leaves_nothing(make_box, binaries):
    box = make_box(tmp_size="12m")
    with pytest.raises(AttachError) as caught:
        await _transport(box, binaries).command()
    message = str(caught.value)
    assert "cannot copy app-server" in message and "the folder is full" in message
    assert box.exec("ls", "-A", "/tmp").stdout == ""
    assert box.processes() == ["/bin/sleep 100000 "]


async def test_a_container_without_proc_is_a_clear_error(binaries, tmp_path):
    """runc itself needs /proc in a container, so a real chroot holding busybox and no /proc
    stands in for one, reached through `chroot ROOT` as the exec."""
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "dev").mkdir()
    os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    transport = AttachTransport([shutil.which("chroot") or "/usr/sbin/chroot", str(root)], f"chroot {root}", ["src"],
                                binaries=binaries)
    with pytest.raises(AttachError, match="has no /proc, which the helper needs"):
        await transport.command()
    assert os.listdir(root / "tmp") == []


@pytest.mark.parametrize("annotations, forced, mode", [
    ({INJECTED_ANNOTATION: "web"}, "auto", "connect"),
    ({INJECTED_ANNOTATION: "sidecar, web"}, "auto", "connect"),
    ({INJECTED_ANNOTATION: "sidecar"}, "auto", "attach"),      # another container of the pod
    ({INJECTED_ANNOTATION: ""}, "auto", "attach"),
    ({}, "auto", "attach"),
    (None, "auto", "attach"),
    ({INJECTED_ANNOTATION: "web"}, "attach", "attach"),
    ({}, "connect", "connect"),
])
def test_the_mode_follows_the_injection_annotation_unless_forced(annotations, forced, mode):
    """The annotation the injector writes (inject/names.py) names the injected containers."""
    assert choose_mode(annotations, "web", forced) == mode


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="auto, connect, attach"):
        choose_mode({}, "web", "inject")


async def test_two_attaches_at_once_give_one_helper_and_one_clear_error(make_box, binaries):
    box = make_box()
    first, second = _transport(box, binaries), _transport(box, binaries)
    results = await asyncio.gather(first.command(), second.command(), return_exceptions=True)
    try:
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], AttachError), results
        assert "another session has attached a helper" in str(errors[0])
        assert len([p for p in _helpers(box) if p.startswith("sh -c")]) == 1
    finally:
        await first.aclose()
        await second.aclose()
    box.wait_until(lambda: box.exec("ls", "-A", "/tmp").stdout == "", "the helper's folder to go")
