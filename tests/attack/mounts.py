"""File systems unlike the usual Linux ones, made fresh for a test and mounted at a folder:

- `exfat`, `vfat`: an image (mkfs.exfat, mkfs.vfat) on a loop device, mounted by the kernel's driver
  when it has one, else by the FUSE one (exfat-fuse, fusefat). Case-insensitive, no symlinks, no
  hard links, no renameat2 flags (RENAME_EXCHANGE, RENAME_NOREPLACE: EINVAL).
- `ext4-casefold`: an ext4 image made with `-O casefold` on a loop device, its root folder made
  case-insensitive with `chattr +F`. Only where the kernel has CONFIG_UNICODE.
- `bindfs`: a FUSE view of a plain folder that, as NFS, has hard links but no renameat2 flags.

Mounting needs root (and the tools, which scripts/test.sh installs): skipped with the reason
otherwise, but never in CI (CI=true), which runs as root with them. A kernel without casefold
support is no tool: that one is skipped everywhere, saying so.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import time

import pytest

KINDS = ("exfat", "vfat", "ext4-casefold", "bindfs")
CASE_INSENSITIVE = ("exfat", "vfat", "ext4-casefold")
_TOOLS = {"exfat": ["mkfs.exfat", "losetup"], "vfat": ["mkfs.vfat", "losetup"],
          "ext4-casefold": ["mkfs.ext4", "losetup", "chattr"], "bindfs": ["bindfs", "fusermount3"]}
_FUSE = {"exfat": "mount.exfat-fuse", "vfat": "fusefat"}


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; CI runs as root with the packages of scripts/test.sh")
    pytest.skip(what)


def _kernel_has(fs: str) -> bool:
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == fs for line in f if line.strip())


def _run(*argv: str) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")


@contextlib.contextmanager
def mounted(kind: str, where: pathlib.Path, size_mb: int = 96):
    """A fresh `kind` file system (see KINDS) mounted at `where`, unmounted and detached after."""
    if os.geteuid() != 0:
        _missing(f"mounting {kind} needs root")
    tools = list(_TOOLS[kind])
    if kind in _FUSE and not _kernel_has(kind):
        tools.append(_FUSE[kind])
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        _missing(f"mounting {kind} needs {', '.join(absent)}")
    where.mkdir(parents=True, exist_ok=True)
    if kind == "bindfs":
        below = where.with_name(where.name + ".below")
        below.mkdir()
        _run("bindfs", "--no-allow-other", str(below), str(where))
        try:
            yield where
        finally:
            _unmount(where, fuse=True)
        return
    image = where.with_name(where.name + ".img")
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    if kind == "exfat":
        _run("mkfs.exfat", str(image))
    elif kind == "vfat":
        _run("mkfs.vfat", str(image))
    else:
        _run("mkfs.ext4", "-q", "-O", "casefold", "-E", "encoding=utf8", str(image))
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True).stdout.strip()
    fuse = False
    try:
        if kind == "ext4-casefold":
            done = subprocess.run(["mount", "-t", "ext4", loop, str(where)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip("this kernel cannot mount a casefold ext4 (built without CONFIG_UNICODE)")
            os.mkdir(where / "ci")
            _run("chattr", "+F", str(where / "ci"))
        elif _kernel_has(kind):
            _run("mount", "-t", kind, loop, str(where))
        else:
            fuse = True
            _run(*([_FUSE[kind], "-o", "rw+", loop, str(where)] if kind == "vfat" else [_FUSE[kind], loop, str(where)]))
        try:
            yield where / "ci" if kind == "ext4-casefold" else where
        finally:
            _unmount(where, fuse)
    finally:
        subprocess.run(["losetup", "-d", loop], capture_output=True)
        image.unlink()


def _unmount(where: pathlib.Path, fuse: bool) -> None:
    for _ in range(50):  # a FUSE daemon may still hold a file a moment after its last user closed it
        done = subprocess.run(["fusermount3", "-u", str(where)] if fuse else ["umount", str(where)],
                              capture_output=True)
        if done.returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(where)], capture_output=True)
