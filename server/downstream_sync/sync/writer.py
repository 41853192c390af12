"""Safe local paths and atomic writes.

Every write goes to a temporary file `.<name>.dstmp-<random>` in the destination folder, is
checked against the expected MD5, gets its mode, and is renamed over the destination; nothing
half-written is ever visible under the real name. There is no fsync per file: `kill -9` of this
process cannot tear data already in the page cache, and a power loss may at worst leave an empty
or old file, never a mix. Stale temporary files are removed when a session starts.

Folders below a rule's localDst are walked with O_NOFOLLOW directory descriptors: a symlink (or a
file) where a folder should be refuses the write, so a container cannot steer a write outside
localDst. Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat as stat_mod
from pathlib import Path

__all__ = ["WriteError", "RefusedPath", "DiskFull", "AtomicFile", "remove_file", "move_file",
           "lstat", "md5_file", "clean_stale_temps", "TEMP_MARK", "CONFLICT_SUFFIX", "BACKUP_SUFFIX",
           "same_file_state"]

TEMP_MARK = ".dstmp-"
CONFLICT_SUFFIX = ".downstream-conflict"
BACKUP_SUFFIX = ".downstream-local"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)

_umask = os.umask(0)
os.umask(_umask)


class WriteError(Exception):
    """A local write, delete or rename failed; the message names the file and the cause."""


class RefusedPath(WriteError):
    """The destination would leave localDst (a symlink or a file on the way)."""


class DiskFull(WriteError):
    """No space left on the device holding the destination."""


def _explain(e: OSError, what: str, where: str) -> WriteError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"cannot write {what}: no space left on device in {where}; free some space, "
                        f"the previous version of the file is kept")
    if e.errno in (errno.EACCES, errno.EPERM):
        return WriteError(f"cannot write {what}: permission denied in {where}; make the folder "
                          f"writable for this user (e.g. chmod u+w)")
    if e.errno == errno.EROFS:
        return WriteError(f"cannot write {what}: {where} is on a read-only file system")
    return WriteError(f"cannot write {what} in {where}: {e.strerror or e}")


def _open_dir(local_dir: Path, parts: list[str], create: bool, what: str) -> int | None:
    """A descriptor of local_dir/parts..., never following a symlink below local_dir."""
    try:
        try:
            fd = os.open(local_dir, _DIR_FLAGS)
        except FileNotFoundError:
            if not create:
                return None
            os.makedirs(local_dir, exist_ok=True)
            fd = os.open(local_dir, _DIR_FLAGS)
    except OSError as e:
        raise _explain(e, what, str(local_dir)) from e
    depth = 0
    try:
        for depth, name in enumerate(parts, 1):
            try:
                nfd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    here = os.path.join(local_dir, *parts[:depth])
                    raise RefusedPath(f"refused to write {what}: {here} is a symlink or not a folder, "
                                      f"and writes never leave {local_dir}") from e
                raise
            os.close(fd)
            fd = nfd
        return fd
    except WriteError:
        os.close(fd)
        raise
    except OSError as e:
        os.close(fd)
        raise _explain(e, what, os.path.join(local_dir, *parts[:depth])) from e


def _split(rel: str) -> tuple[list[str], str]:
    parts = rel.split("/")
    return parts[:-1], parts[-1]


def lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None


def same_file_state(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (a.st_size, a.st_mtime_ns, a.st_ino) == (b.st_size, b.st_mtime_ns, b.st_ino)


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb", buffering=0) as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _file_mode(mode: int) -> int:
    """The remote permission bits limited by the umask; the owner can always read and write."""
    bits = (mode & 0o777) if mode else 0o666
    return (bits & ~_umask) | 0o600


def match_exec_bits(local_dir: Path, rel: str, remote_mode: int) -> bool:
    """Give local_dir/rel, whose content already matches the container's, the same exec bits
    (limited by the umask), never through a symlink below local_dir; True when its mode changed."""
    if not remote_mode:
        return False
    folders, name = _split(rel)
    dir_fd = _open_dir(local_dir, folders, False, str(local_dir / rel))
    if dir_fd is None:
        return False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        current = stat_mod.S_IMODE(os.fstat(fd).st_mode)
        wanted = (current & ~0o111) | (remote_mode & 0o111 & ~_umask)
        if wanted == current:
            return False
        os.fchmod(fd, wanted)
        return True
    finally:
        os.close(fd)


class AtomicFile:
    """A file being written under a temporary name in its destination folder.

    `name` is the final file name (default: the last part of `rel`), so a conflict copy can be
    written beside the file with the same machinery."""

    def __init__(self, local_dir: Path, rel: str, mode: int = 0, name: str | None = None):
        self.local_dir = local_dir
        self.rel = rel
        folders, base = _split(rel)
        self.name = name or base
        base_dir = os.fspath(local_dir)
        self.folder = f"{base_dir}/{'/'.join(folders)}" if folders else base_dir
        self.display = f"{self.folder}/{self.name}"
        self.mode = _file_mode(mode)
        self._dir_fd = _open_dir(local_dir, folders, True, self.display)
        self._tmp = f".{self.name[:200]}{TEMP_MARK}{os.urandom(4).hex()}"
        self._md5 = hashlib.md5()
        self.size = 0
        try:
            # Created with its final mode (the umask is already applied to it).
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                               | getattr(os, "O_CLOEXEC", 0), self.mode, dir_fd=self._dir_fd)
        except OSError as e:
            os.close(self._dir_fd)
            raise _explain(e, self.display, self.folder) from e

    def write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as e:
            self.abort()
            raise _explain(e, self.display, self.folder) from e
        self._md5.update(data)
        self.size += len(data)

    def fileno(self) -> int:
        """The temporary file, for a caller that writes and hashes the bytes itself (see adopt)."""
        return self._fd

    def adopt(self, md5, size: int) -> None:
        """Take the hash and size of bytes the caller wrote through fileno() (hashed in parallel)."""
        self._md5, self.size = md5, size

    def _check_md5(self, expected_md5: str | None) -> None:
        digest = self._md5.hexdigest()
        if expected_md5 and digest != expected_md5.lower():
            raise WriteError(f"{self.display}: downloaded bytes have MD5 {digest}, expected "
                             f"{expected_md5}; the file changed during the transfer, kept the old one")

    def verify(self, expected_md5: str | None) -> None:
        """Raise WriteError, dropping the temporary file, when the bytes written are not `expected_md5`."""
        try:
            self._check_md5(expected_md5)
        except WriteError:
            self.abort()
            raise

    def commit(self, expected_md5: str | None, expect_existing: os.stat_result | None | bool = True) -> os.stat_result:
        """Verify, set the mode and rename into place; returns the new file's stat.

        `expect_existing`: True to not check; otherwise the stat (or None for "absent") the
        destination must still have, so a file the user changed meanwhile is not overwritten."""
        try:
            self._check_md5(expected_md5)
            try:
                current = os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                current = None
            if current is not None and not stat_mod.S_ISREG(current.st_mode):
                raise RefusedPath(f"refused to write {self.display}: it exists and is not a regular file")
            if expect_existing is not True and not same_file_state(current, expect_existing):  # type: ignore[arg-type]
                raise LocalChanged(self.display)  # the caller may still commit_as() another name
            if _umask & 0o600:
                os.fchmod(self._fd, self.mode)
            st = os.fstat(self._fd)
            os.replace(self._tmp, self.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        except LocalChanged:
            raise
        except WriteError:
            self.abort()
            raise
        except OSError as e:
            self.abort()
            raise _explain(e, self.display, self.folder) from e
        self._close()
        return st

    def commit_as(self, name: str) -> os.stat_result:
        """Rename the verified temporary file to another name in the same folder (a conflict copy)."""
        try:
            os.fchmod(self._fd, self.mode)
            st = os.fstat(self._fd)
            try:
                current = os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)
                if not stat_mod.S_ISREG(current.st_mode):
                    raise RefusedPath(f"refused to write {name} in {self.folder}: it exists and is not a regular file")
            except FileNotFoundError:
                pass
            os.replace(self._tmp, name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        except WriteError:
            self.abort()
            raise
        except OSError as e:
            self.abort()
            raise _explain(e, f"{self.folder}/{name}", self.folder) from e
        self._close()
        return st

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def abort(self) -> None:
        if self._dir_fd >= 0:
            try:
                os.unlink(self._tmp, dir_fd=self._dir_fd)
            except OSError:
                pass
        self._close()


class LocalChanged(WriteError):
    """The local file changed between the decision and the write."""

    def __init__(self, display: str):
        super().__init__(f"{display} changed locally while it was being synced")


def remove_file(local_dir: Path, rel: str, expect: os.stat_result) -> None:
    """Delete local_dir/rel if it still has the stat `expect`."""
    folders, name = _split(rel)
    display = str(local_dir / rel)
    fd = _open_dir(local_dir, folders, False, display)
    if fd is None:
        return
    try:
        try:
            current = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not same_file_state(current, expect):
            raise LocalChanged(display)
        os.unlink(name, dir_fd=fd)
    except OSError as e:
        raise _explain(e, display, str(local_dir)) from e
    finally:
        os.close(fd)


def move_file(src_dir: Path, src_rel: str, dst_dir: Path, dst_rel: str, expect: os.stat_result,
              dst_name: str | None = None) -> os.stat_result:
    """Rename src to dst (both below their localDst) if src still has the stat `expect`."""
    s_folders, s_name = _split(src_rel)
    d_folders, d_name = _split(dst_rel)
    d_name = dst_name or d_name
    display = str(dst_dir / dst_rel)
    sfd = _open_dir(src_dir, s_folders, False, str(src_dir / src_rel))
    if sfd is None:
        raise LocalChanged(str(src_dir / src_rel))
    try:
        dfd = _open_dir(dst_dir, d_folders, True, display)
        try:
            current = os.stat(s_name, dir_fd=sfd, follow_symlinks=False)
            if not same_file_state(current, expect):
                raise LocalChanged(str(src_dir / src_rel))
            try:
                existing = os.stat(d_name, dir_fd=dfd, follow_symlinks=False)
                if not stat_mod.S_ISREG(existing.st_mode):
                    raise RefusedPath(f"refused to write {display}: it exists and is not a regular file")
            except FileNotFoundError:
                pass
            os.replace(s_name, d_name, src_dir_fd=sfd, dst_dir_fd=dfd)
            return os.stat(d_name, dir_fd=dfd, follow_symlinks=False)
        except OSError as e:
            raise _explain(e, display, str(dst_dir)) from e
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def clean_stale_temps(folder: Path) -> int:
    """Remove this tool's leftover temporary files below folder (not following symlinks)."""
    removed = 0
    stack = [str(folder)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != ".downstream-sync":
                            stack.append(entry.path)
                    elif entry.name.startswith(".") and TEMP_MARK in entry.name:
                        try:
                            os.unlink(entry.path)
                            removed += 1
                        except OSError:
                            pass
        except OSError:
            continue
    return removed
