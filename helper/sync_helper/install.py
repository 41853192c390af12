"""`app-server --install DIR`: copy app-server and app-connect (the one beside it) into DIR.

The init container's job, done by the binary itself so that the helper image needs no `cp` and
no shell. Each file is written to a temporary name and renamed, so a full or read-only folder
leaves nothing half-copied behind. DIR/tmp is made for the helper's TMPDIR (the extracted
bundle): point the app container's TMPDIR there, with the app's own in DOWNSTREAM_SYNC_APP_TMPDIR.
Standard library only.
"""

from __future__ import annotations

import errno
import os
import sys

from .frozen import is_frozen, program_path

__all__ = ["InstallError", "install", "main"]

NAMES = ("app-server", "app-connect")
MIB = 1 << 20
# What the binaries unpack into DIR/tmp (their TMPDIR) as they start, measured for the linux/amd64
# build: app-server about 56 MiB for as long as it runs, app-connect about 25 MiB a connection.
UNPACK_SERVER = 56 * MIB
UNPACK_CONNECT = 25 * MIB
UNPACK_ROOM = UNPACK_SERVER + 2 * UNPACK_CONNECT  # the helper, and two connections at once


class InstallError(Exception):
    """The helper could not be installed; the message says where and what to do."""


def _sources() -> list[tuple[str, str]]:
    me = program_path()
    here = os.path.dirname(me)
    found = [("app-server", me), ("app-connect", os.path.join(here, "app-connect"))]
    for name, path in found:
        if not os.path.isfile(path):
            raise InstallError(f"cannot install: {path} is missing (app-connect must sit beside app-server)")
    return found


def _explain(e: OSError, where: str) -> str:
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return f"{where} is full ({e.strerror}): give the volume more room (an emptyDir of 160 MiB or more)"
    if e.errno == errno.EROFS:
        return f"{where} is read-only: mount a writable volume there (an emptyDir)"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{where} is not writable by this user ({e.strerror}): mount a volume this user may write"
    if e.errno == errno.ENOENT:
        return f"{where} does not exist: mount a volume there (an emptyDir)"
    return f"{where}: {e.strerror or e}"


def _check_room(folder: str, copied: int) -> None:
    """Refuse a volume too small for the binaries and what they unpack at start, before writing: the
    unpacker's own error, in the app's container, would not say what to do."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return  # the copy says what is wrong
    free = st.f_bavail * st.f_frsize
    need = copied + UNPACK_ROOM
    if free < need:
        total = -(-(need + MIB) // (16 * MIB)) * 16  # rounded up to 16 MiB
        raise InstallError(
            f"cannot install into {folder}: the volume is too small ({free / MIB:.0f} MiB free; the binaries take "
            f"{copied / MIB:.0f} MiB, and at start app-server unpacks about {UNPACK_SERVER // MIB} MiB into "
            f"{os.path.join(folder, 'tmp')}, app-connect about {UNPACK_CONNECT // MIB} MiB a connection): give it "
            f"{total} MiB or more (the emptyDir's sizeLimit)")


def install(folder: str) -> list[str]:
    """Copy both binaries into `folder` (which must exist) and make `folder/tmp`; the paths written."""
    if not is_frozen():
        raise InstallError("--install copies the standalone binaries (helper/build.sh); this app-server runs "
                           "from a Python installation, which cannot be copied into a container")
    if not os.path.isdir(folder):
        raise InstallError(f"cannot install into {folder}: it is not a folder; mount a volume there (an emptyDir)")
    sources = _sources()
    _check_room(folder, sum(os.path.getsize(path) for _, path in sources))
    written = []
    for name, source in sources:
        target = os.path.join(folder, name)
        temp = f"{target}.installing"
        try:
            with open(source, "rb") as src, open(temp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.chmod(temp, 0o755)
            os.replace(temp, target)
        except OSError as e:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise InstallError(f"cannot install {name} into {folder}: {_explain(e, folder)}") from None
        written.append(target)
    tmp = os.path.join(folder, "tmp")
    try:
        os.makedirs(tmp, exist_ok=True)
        os.chmod(tmp, 0o1777)  # the app may run as another user than the init container
    except OSError as e:
        raise InstallError(f"cannot make {tmp}: {_explain(e, folder)}") from None
    return written


def main(folder: str) -> int:
    try:
        for path in install(folder):
            sys.stdout.write(f"app-server: installed {path}\n")
    except InstallError as e:
        sys.stderr.write(f"app-server: {e}\n")
        return 1
    return 0
