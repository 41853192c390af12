"""The state folder `<project>/.downstream-sync`: opened without following a symlink.

The ledger, the session locks and the session records keep their files only in a real folder
inside the project. The
folder, each folder in it and each file in it is opened by descriptor with O_NOFOLLOW; a symlink
at any of them is refused with a StateFolderError that names it, so that a link cannot steer the
state (a truncated lock file, a database) outside the project.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["STATE_DIR_NAME", "StateFolderError", "open_folder", "open_file", "refuse_link"]

STATE_DIR_NAME = ".downstream-sync"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class StateFolderError(Exception):
    """A symlink (or a file) where the state folder or a file in it should be."""


def _refusal(path: Path) -> StateFolderError:
    return StateFolderError(f"{path} is a symbolic link; downstream sync keeps its state only in a real "
                            f"folder inside the project: remove the link")


def open_folder(state_dir: Path, *parts: str, create: bool = True) -> int:
    """A descriptor of state_dir/parts..., made if missing (unless not `create`: FileNotFoundError);
    raises StateFolderError when one of them is a symlink or not a folder, OSError when it cannot
    be made."""
    state_dir = Path(state_dir)
    if create:
        os.makedirs(state_dir.parent, exist_ok=True)
    fd = os.open(state_dir.parent, _DIR_FLAGS)
    try:
        path = state_dir.parent
        for name in (state_dir.name, *parts):
            path = path / name
            if create:
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                next_fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise _refusal(path) from e
                    raise StateFolderError(f"{path} is not a folder; downstream sync keeps its state in "
                                           f"that folder: move the file away") from e
                raise
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_file(dir_fd: int, name: str, flags: int, where: Path, mode: int = 0o644) -> int:
    """os.open of `name` in the folder `dir_fd` (that is `where`) without following a symlink."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refusal(where / name) from e
        raise


def refuse_link(dir_fd: int, name: str, where: Path) -> None:
    """Raise StateFolderError when `name` in the folder `dir_fd` (that is `where`) is a symlink,
    for a file opened by path (sqlite opens its database and its -wal and -shm by name)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise _refusal(where / name)
