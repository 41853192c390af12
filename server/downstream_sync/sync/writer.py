"""Safe local paths and atomic writes.

Every write goes to a temporary file `.<name>.dstmp-<random>` in the destination folder, is
checked against the expected MD5, gets its mode, and is renamed over the destination; nothing
half-written is ever visible under the real name. There is no fsync per file: `kill -9` of this
process cannot tear data already in the page cache, and a power loss may at worst leave an empty
or old file, never a mix. Stale temporary files are removed when a session starts.

A finished file is renamed `.<name>.dsswap-<random>` just before it is exchanged with the file in
place (and a file to delete is renamed so first), so what a write or delete displaced is under a
name of its own: a start after a crash removes a swap file only when it holds this tool's last
version of its file (its MD5 in the ledger), else keeps it as a backup (`clean_stale_temps`).

Folders are walked from the project root (resolved once, when the rules are built) down with
O_NOFOLLOW directory descriptors, every time: a symlink (or a file) where a folder should be, at
localDst, above it or below it, refuses the write, so nothing can steer a write outside the project.

A file is replaced or removed only if it is still what this tool expected there, checked on what
the kernel actually swapped out: the new file takes the old one's place with renameat2
RENAME_EXCHANGE (a new file with RENAME_NOREPLACE), a delete first renames the file aside, and what
came out is compared (stat, and MD5 when the stat is no proof, see `stat_proves`). A user's version
found there is put back, or kept as the backup under `remote-wins`; never unlinked, not even when a
step after the exchange fails (it goes back, or stays under its swap name). A backup never replaces
anything: it takes the first free name of NAME.downstream-local, NAME~2.downstream-local, ...

Every name made here (temporary files, conflict copies, backups) fits NAME_MAX bytes: a long name
is cut on a UTF-8 character boundary and tagged with a short hash of the whole name (`fit_name`).
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import platform
import stat as stat_mod
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sync_helper.protocol import md5_file

__all__ = ["WriteError", "RefusedPath", "DiskFull", "AtomicFile", "remove_file", "move_file",
           "lstat", "md5_file", "clean_stale_temps", "TEMP_MARK", "SWAP_MARK", "CONFLICT_SUFFIX", "BACKUP_SUFFIX",
           "stat_proves", "Expected", "fit_name", "conflict_name", "backup_name",
           "now_ns", "RACY_NS", "remove_empty_dir"]

TEMP_MARK = ".dstmp-"
SWAP_MARK = ".dsswap-"
CONFLICT_SUFFIX = ".downstream-conflict"
BACKUP_SUFFIX = ".downstream-local"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
NAME_MAX = 255
_MAX_BACKUPS = 1000
# A stat recorded less than this after the file's mtime proves nothing: a same-size rewrite within
# one timestamp tick (coarse on ramfs and on Linux before 6.13, 2 s on FAT) leaves an identical stat.
RACY_NS = 2_000_000_000
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}
_libc = ctypes.CDLL(None, use_errno=True)

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


def fit_name(name: str, suffix: str = "", prefix: str = "") -> str:
    """prefix + name + suffix within NAME_MAX bytes; a name too long is cut on a character boundary
    and gets "~" and 8 hex digits of the MD5 of the whole name, so cut names stay distinct."""
    raw = os.fsencode(name)
    room = NAME_MAX - len(os.fsencode(prefix)) - len(os.fsencode(suffix))
    if len(raw) <= room:
        return prefix + name + suffix
    tag = b"~" + hashlib.md5(raw).hexdigest()[:8].encode()
    cut = room - len(tag)
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # never split a UTF-8 character
        cut -= 1
    return prefix + os.fsdecode(raw[:cut] + tag) + suffix


def conflict_name(name: str, n: int = 1) -> str:
    """The name of the container's copy of a conflicting file: NAME.downstream-conflict, or
    NAME~N.downstream-conflict (N >= 2) when an earlier copy was edited by the user."""
    return fit_name(name if n < 2 else f"{name}~{n}", CONFLICT_SUFFIX)


def backup_name(name: str, n: int = 1) -> str:
    """The name of a local version kept under remote-wins: NAME.downstream-local, or
    NAME~N.downstream-local (N >= 2) when the earlier names are taken."""
    return fit_name(name if n < 2 else f"{name}~{n}", BACKUP_SUFFIX)


def _temp_name(name: str, mark: str = TEMP_MARK) -> str:
    return fit_name(name, f"{mark}{os.urandom(4).hex()}", prefix=".")


def now_ns() -> int:
    """The wall clock: file timestamps are taken from it (or lag it by at most a tick)."""
    return time.time_ns()


def stat_proves(st: os.stat_result, size: int, mtime_ns: int, ino: int, checked_ns: int) -> bool:
    """Whether st shows the file is unchanged since a look at `checked_ns` found (size, mtime_ns,
    ino): as git's index, a state not older than the look by a timestamp tick proves nothing."""
    return ((st.st_size, st.st_mtime_ns, st.st_ino) == (size, mtime_ns, ino)
            and mtime_ns + RACY_NS <= checked_ns)


@dataclass(frozen=True)
class Expected:
    """What a local file must still be for this tool to replace, move or remove it: its stat when
    it was looked at (`checked_ns`, taken before the look) and its MD5, compared when the stat is
    no proof (the same bytes under a new stat are still what was expected)."""
    st: os.stat_result  # or anything with st_size, st_mtime_ns and st_ino
    md5: str | None
    checked_ns: int

    def holds(self, dir_fd: int, name: str) -> bool:
        """Whether dir_fd/name (a regular file, not followed) is still this file."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat_mod.S_ISREG(st.st_mode):
            return False
        e = self.st
        if stat_proves(st, e.st_size, e.st_mtime_ns, e.st_ino, self.checked_ns):
            return True
        return bool(self.md5) and st.st_size == e.st_size and _md5_at(dir_fd, name) == self.md5


def _md5_at(dir_fd: int, name: str) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    except OSError:
        return None
    h = hashlib.md5()
    try:
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)
    finally:
        os.close(fd)


def _drop_if_expected(dir_fd: int, name: str, expect: "Expected | None") -> bool:
    """Unlink dir_fd/name (a file just moved or swapped out of its place) if it is `expect` and no
    one has it open for writing; True when it went. The look is taken under a read lease, which
    the kernel grants only while no descriptor of the file is open for writing: a save that opened
    the file before it was moved and truncates or writes it later (an editor writing in place, or
    O_TRUNC where it is not atomic, as on FUSE) makes it the user's, not a file to drop. Where the
    file system grants no leases (NFS), the look alone decides."""
    if expect is None:
        return False
    try:
        lease = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        try:
            fcntl.fcntl(lease, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EBUSY):
                return False  # open for writing: being changed
        if not expect.holds(dir_fd, name):
            return False
        os.unlink(name, dir_fd=dir_fd)
        return True
    finally:
        os.close(lease)  # the lease goes with it


def _renameat2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> None:
    """renameat2(2); OSError(EINVAL) where the file system has no such flag."""
    args = (src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), flags)
    fn = getattr(_libc, "renameat2", None)
    if fn is not None:
        rc = fn(*args)
    elif platform.machine() in _SYS_RENAMEAT2:
        rc = _libc.syscall(_SYS_RENAMEAT2[platform.machine()], *args)
    else:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), dst)


def _rename_noreplace(dir_fd: int, src: str, dst: str, dst_fd: int | None = None) -> None:
    """Rename src to dst, FileExistsError when dst exists (a hard link where renameat2 is missing)."""
    dst_fd = dir_fd if dst_fd is None else dst_fd
    try:
        _renameat2(dir_fd, src, dst_fd, dst, _RENAME_NOREPLACE)
        return
    except OSError as e:
        if e.errno == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, "file exists", dst) from None
        if e.errno not in (errno.EINVAL, errno.ENOSYS):
            raise
    try:
        os.link(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # Neither flags nor hard links here: check, then rename (a small window remains).
        try:
            os.stat(dst, dir_fd=dst_fd, follow_symlinks=False)
            raise FileExistsError(errno.EEXIST, "file exists", dst) from None
        except FileNotFoundError:
            os.rename(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dst_fd)
        return
    os.unlink(src, dir_fd=dir_fd)


def _move_aside(dir_fd: int, name: str, aside: str) -> None:
    """Rename a file that others may change (the user's, or one about to be judged) to `aside`, a
    fresh name of this tool's own: by one rename, never by a hard link and an unlink, which would
    unlink whatever a save put at `name` in between (and, on FUSE, give the file a second inode that
    a lease does not see the writers of)."""
    os.rename(name, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _keep_aside(dir_fd: int, src: str, name: str) -> str:
    """Rename src to the first free backup name of `name` (never over anything); returns it."""
    for n in range(1, _MAX_BACKUPS + 1):
        try:
            _rename_noreplace(dir_fd, src, backup_name(name, n))
            return backup_name(name, n)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, f"{_MAX_BACKUPS} backups of {name} exist already; merge or remove them")


def _exchange(dir_fd: int, a: str, b: str) -> bool:
    """Swap a and b atomically; False when the file system cannot (the caller checks, then renames)."""
    try:
        _renameat2(dir_fd, a, dir_fd, b, _RENAME_EXCHANGE)
        return True
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOSYS):
            return False
        raise


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine())
_RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x02, 0x04, 0x08
_BELOW_ONLY = _OpenHow(_DIR_FLAGS | os.O_NOFOLLOW, 0, _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_SYMLINKS | _RESOLVE_BENEATH)
_openat2_usable = _SYS_OPENAT2 is not None


def _open_below(fd: int, rel: str) -> int:
    """openat2(2) of the folder fd/rel in one call, refusing any symlink on the way and any way out
    of fd (the walk of _open_dir, done by the kernel). OSError as openat(2); ENOSYS when the kernel
    or a sandbox does not offer it."""
    global _openat2_usable
    if not _openat2_usable:
        raise OSError(errno.ENOSYS, "openat2 is not available")
    got = _libc.syscall(_SYS_OPENAT2, fd, os.fsencode(rel), ctypes.byref(_BELOW_ONLY), ctypes.sizeof(_BELOW_ONLY))
    if got < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM, errno.E2BIG, errno.EINVAL):
            _openat2_usable = False
            err = errno.ENOSYS
        raise OSError(err, os.strerror(err), rel)
    return got


def _open_dir(local_dir: Path, parts: list[str], create: bool, what: str,
              on_mkdir: Callable[[str], None] | None = None) -> int | None:
    """A descriptor of local_dir/parts..., never following a symlink below local_dir;
    `on_mkdir` is told each folder made (relative to local_dir, POSIX). An existing folder is
    opened in one openat2 call where the kernel has it, else walked one folder at a time."""
    if parts and _openat2_usable:
        try:
            top = os.open(local_dir, _DIR_FLAGS)
        except OSError:
            pass  # the walk below says why, or makes it
        else:
            try:
                return _open_below(top, "/".join(parts))
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
                    return _walk_dir(local_dir, parts, create, what, on_mkdir)  # names the culprit
                if e.errno not in (errno.ENOENT, errno.ENOSYS, errno.EAGAIN):
                    raise _explain(e, what, os.path.join(local_dir, *parts)) from e
            finally:
                os.close(top)
    return _walk_dir(local_dir, parts, create, what, on_mkdir)


def _walk_dir(local_dir: Path, parts: list[str], create: bool, what: str,
              on_mkdir: Callable[[str], None] | None = None) -> int | None:
    """_open_dir, one O_NOFOLLOW folder at a time (making the missing ones when `create`)."""
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
                    if on_mkdir is not None:
                        on_mkdir("/".join(parts[:depth]))
                except FileExistsError:
                    pass
                nfd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    here = os.path.join(local_dir, *parts[:depth])
                    raise RefusedPath(f"refused to write {what}: {here} is a symlink or not a folder, "
                                      f"and writes never follow a symlink below {local_dir}") from e
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

    def __init__(self, local_dir: Path, rel: str, mode: int = 0, name: str | None = None,
                 on_mkdir: Callable[[str], None] | None = None):
        self.local_dir = local_dir
        self.rel = rel
        folders, base = _split(rel)
        self.name = name or base
        base_dir = os.fspath(local_dir)
        self.folder = f"{base_dir}/{'/'.join(folders)}" if folders else base_dir
        self.display = f"{self.folder}/{self.name}"
        self.mode = _file_mode(mode)
        self._dir_fd = _open_dir(local_dir, folders, True, self.display, on_mkdir)
        self._tmp = _temp_name(self.name)
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

    def commit(self, expected_md5: str | None, expect: "Expected | None",
               backup: bool = False, name: str | None = None) -> tuple[os.stat_result, str | None]:
        """Verify, set the mode and put the file in place (as `name` when given, in the same
        folder); returns its stat and the backup name a local version was kept under, or None.

        `expect`: None when the destination must be absent, else the Expected it must still be.
        A file found that is not what was expected is the user's: kept under a free backup name
        when `backup`, else left in place (LocalChanged; the temporary file stays, to commit under
        another name)."""
        if name is not None:
            self.name, self.display = name, f"{self.folder}/{name}"
        try:
            self._check_md5(expected_md5)
            if _umask & 0o600:
                os.fchmod(self._fd, self.mode)
            st = os.fstat(self._fd)
            kept = self._swap_in(expect, backup)
        except LocalChanged:
            raise
        except WriteError:
            self.abort()
            raise
        except OSError as e:
            self.abort()
            raise _explain(e, self.display, self.folder) from e
        self._close()
        return st, kept

    def _refuse_odd(self) -> None:
        try:
            current = os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat_mod.S_ISREG(current.st_mode):
            raise RefusedPath(f"refused to write {self.display}: it exists and is not a regular file")

    def _holds_ours(self) -> bool:
        """Whether the temporary name still holds the file this object wrote."""
        try:
            return os.stat(self._tmp, dir_fd=self._dir_fd, follow_symlinks=False).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            return False

    def _swap_in(self, expect: "Expected | None", backup: bool) -> str | None:
        """Put the temporary file in place atomically, then judge what it displaced (see commit)."""
        if expect is None:
            try:
                _rename_noreplace(self._dir_fd, self._tmp, self.name)
                return None
            except FileExistsError:
                if not backup:
                    raise LocalChanged(self.display) from None
        self._refuse_odd()
        swap = _temp_name(self.name, SWAP_MARK)
        _rename_noreplace(self._dir_fd, self._tmp, swap)
        self._tmp = swap
        try:
            exchanged = _exchange(self._dir_fd, self._tmp, self.name)
        except FileNotFoundError:  # the user removed it meanwhile: a change too
            if not backup:
                raise LocalChanged(self.display) from None
            _rename_noreplace(self._dir_fd, self._tmp, self.name)
            return None
        if not exchanged:
            return self._swap_in_by_moves(expect, backup)
        # The displaced file is under the swap name now: whatever fails, it is never unlinked.
        try:
            return self._judge(expect, backup)
        except OSError:
            self._put_back()
            raise

    def _swap_in_by_moves(self, expect: "Expected | None", backup: bool) -> str | None:
        """_swap_in where the file system has no RENAME_EXCHANGE (NFS, FAT, exFAT, many FUSE ones):
        the file in place is first moved to a swap name of its own and judged there, as a delete
        does, and the new file goes in only where the name is still free. A save that lands
        meanwhile is never written over: in place, it lands in the file moved aside before that is
        judged (its truncation shows), or by name, it makes a new file that keeps the name. Where
        the file system has neither renameat2 flags nor hard links (FAT, exFAT), "still free" is a
        check then a rename (_rename_noreplace): a save that makes the file between those two
        system calls is the one that can be lost."""
        aside = _temp_name(self.name, SWAP_MARK)
        try:
            _move_aside(self._dir_fd, self.name, aside)
        except FileNotFoundError:  # the user removed it meanwhile: a change too
            if not backup:
                raise LocalChanged(self.display) from None
            try:
                _rename_noreplace(self._dir_fd, self._tmp, self.name)
            except FileExistsError:
                raise LocalChanged(self.display) from None
            return None
        # What was in place is under `aside` now: whatever fails, it is never unlinked.
        try:
            ours = _drop_if_expected(self._dir_fd, aside, expect)
            kept = None
            if not ours:
                regular = stat_mod.S_ISREG(os.stat(aside, dir_fd=self._dir_fd, follow_symlinks=False).st_mode)
                if not (backup and regular):
                    self._put_aside_back(aside)
                    if not regular:
                        raise RefusedPath(f"refused to write {self.display}: it exists and is not a regular file")
                    raise LocalChanged(self.display)
                kept = _keep_aside(self._dir_fd, aside, self.name)
            try:
                _rename_noreplace(self._dir_fd, self._tmp, self.name)
            except FileExistsError:  # saved again meanwhile: that save keeps the name
                raise LocalChanged(self.display) from None
            return kept
        except OSError:
            with contextlib.suppress(OSError):
                os.stat(aside, dir_fd=self._dir_fd, follow_symlinks=False)  # still aside: back it goes
                self._put_aside_back(aside)
            raise

    def _put_aside_back(self, aside: str) -> None:
        """The file moved aside goes back under its name; should a save have taken the name
        meanwhile, it stays as a backup instead (that save keeps the name)."""
        try:
            _rename_noreplace(self._dir_fd, aside, self.name)
        except FileExistsError:
            _keep_aside(self._dir_fd, aside, self.name)

    def _judge(self, expect: "Expected | None", backup: bool) -> str | None:
        """After the exchange: drop what was displaced if it is what was expected, else keep it."""
        if _drop_if_expected(self._dir_fd, self._tmp, expect):
            return None
        displaced = os.stat(self._tmp, dir_fd=self._dir_fd, follow_symlinks=False)
        if backup and stat_mod.S_ISREG(displaced.st_mode):
            return _keep_aside(self._dir_fd, self._tmp, self.name)
        self._swap_back()
        if not stat_mod.S_ISREG(displaced.st_mode):
            raise RefusedPath(f"refused to write {self.display}: it exists and is not a regular file")
        raise LocalChanged(self.display)

    def _put_back(self) -> None:
        """After a failure past the exchange: the displaced file goes back under its name; should
        that fail too, it stays under the swap name, which a start keeps (clean_stale_temps)."""
        try:
            if not self._holds_ours():
                _exchange(self._dir_fd, self._tmp, self.name)
        except OSError:
            pass

    def _swap_back(self) -> None:
        """Undo the exchange: the user's file goes back under its name. Should the user have saved
        again meanwhile, that newer save is put back instead and the older one kept as a backup."""
        _exchange(self._dir_fd, self._tmp, self.name)
        if not self._holds_ours():
            _exchange(self._dir_fd, self._tmp, self.name)
            _keep_aside(self._dir_fd, self._tmp, self.name)

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
        """Drop the temporary file; a file that is not the one written here is never unlinked."""
        if self._dir_fd >= 0:
            try:
                if self._holds_ours():
                    os.unlink(self._tmp, dir_fd=self._dir_fd)
            except OSError:
                pass
        self._close()


class LocalChanged(WriteError):
    """The local file changed between the decision and the write."""

    def __init__(self, display: str):
        super().__init__(f"{display} changed locally while it was being synced")


def remove_file(local_dir: Path, rel: str, expect: Expected | None, backup: bool = False) -> str | None:
    """Delete local_dir/rel if it is still `expect` (None: nothing there is this tool's); returns
    the backup name a local version was kept under, or None.

    The file is first renamed aside (to a swap name), so what is judged is what was taken away: a
    user's version goes back under its name (LocalChanged), or to a free backup name when `backup`.
    Should a step after that fail, it goes back, or stays under the swap name (see clean_stale_temps)."""
    folders, name = _split(rel)
    display = str(local_dir / rel)
    fd = _open_dir(local_dir, folders, False, display)
    if fd is None:
        return None
    aside = _temp_name(name, SWAP_MARK)
    try:
        try:
            if not stat_mod.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                raise LocalChanged(display)
            _move_aside(fd, name, aside)
        except FileNotFoundError:
            return None
        try:
            if _drop_if_expected(fd, aside, expect):
                return None
            if backup:
                return _keep_aside(fd, aside, name)
            try:
                _rename_noreplace(fd, aside, name)
            except FileExistsError:  # saved again meanwhile: keep both
                _keep_aside(fd, aside, name)
        except OSError:
            try:
                _rename_noreplace(fd, aside, name)
            except OSError:
                pass
            raise
        raise LocalChanged(display)
    except OSError as e:
        raise _explain(e, display, str(local_dir)) from e
    finally:
        os.close(fd)


def move_file(src_dir: Path, src_rel: str, dst_dir: Path, dst_rel: str, expect: Expected,
              dst_name: str | None = None, replace: bool = True) -> os.stat_result:
    """Rename src to dst (both walked safely) if src is still `expect`; over an existing regular
    dst only when `replace`. A src that turns out changed once moved is moved back (LocalChanged)."""
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
            if not stat_mod.S_ISREG(current.st_mode):
                raise LocalChanged(str(src_dir / src_rel))
            try:
                existing = os.stat(d_name, dir_fd=dfd, follow_symlinks=False)
                if not stat_mod.S_ISREG(existing.st_mode):
                    raise RefusedPath(f"refused to write {display}: it exists and is not a regular file")
            except FileNotFoundError:
                pass
            if replace:
                os.replace(s_name, d_name, src_dir_fd=sfd, dst_dir_fd=dfd)
            else:
                try:
                    _rename_noreplace(sfd, s_name, d_name, dst_fd=dfd)
                except FileExistsError:
                    raise LocalChanged(display) from None
            if not expect.holds(dfd, d_name):
                try:
                    _rename_noreplace(dfd, d_name, s_name, dst_fd=sfd)
                except FileExistsError:
                    pass  # the user made a new src meanwhile: theirs stays, this one stays at dst
                raise LocalChanged(str(src_dir / src_rel))
            return os.stat(d_name, dir_fd=dfd, follow_symlinks=False)
        except OSError as e:
            raise _explain(e, display, str(dst_dir)) from e
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def remove_empty_dir(local_dir: Path, rel: str) -> bool:
    """Remove the folder local_dir/rel (walked safely) if it is empty; True when it was removed."""
    folders, name = _split(rel)
    fd = _open_dir(local_dir, folders, False, str(local_dir / rel))
    if fd is None:
        return False
    try:
        if not stat_mod.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            return False
        os.rmdir(name, dir_fd=fd)
        return True
    except FileNotFoundError:
        return False
    except OSError as e:
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise _explain(e, str(local_dir / rel), str(local_dir)) from e
    finally:
        os.close(fd)


def clean_stale_temps(root: Path, rel: str, last_md5: Callable[[str], str | None]) -> tuple[int, list[tuple[str, str]]]:
    """Remove this tool's leftover files below root/rel, walked from root with O_NOFOLLOW folder
    descriptors (never following a symlink, at rel or below it).

    A temporary file is removed. A swap file (what a write or delete had displaced when the process
    died) is removed when it holds `last_md5(path)` (this tool's last version of the file, path
    project-relative), else kept under a free backup name. Returns how many files were removed and
    the (path, backup path) of each one kept."""
    try:
        fd = _open_dir(root, rel.split("/") if rel else [], False, str(root / rel))
    except WriteError:
        return 0, []
    if fd is None:
        return 0, []
    done: list[int] = [0]
    kept: list[tuple[str, str]] = []
    try:
        _clean(fd, rel, last_md5, done, kept)
    finally:
        os.close(fd)
    return done[0], kept


def _clean(fd: int, here: str, last_md5: Callable[[str], str | None], done: list[int],
           kept: list[tuple[str, str]]) -> None:
    try:
        with os.scandir(fd) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False)) for e in it]
    except OSError:
        return
    for name, is_dir, is_file in entries:
        path = f"{here}/{name}" if here else name
        if is_dir:
            if name == ".downstream-sync":
                continue
            try:
                sub = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                continue
            try:
                _clean(sub, path, last_md5, done, kept)
            finally:
                os.close(sub)
        elif not name.startswith("."):
            continue
        elif TEMP_MARK in name or (SWAP_MARK in name and not is_file):
            try:
                os.unlink(name, dir_fd=fd)
                done[0] += 1
            except OSError:
                pass
        elif SWAP_MARK in name:
            base = name[1:].rpartition(SWAP_MARK)[0]
            of = f"{here}/{base}" if here else base
            try:
                digest = _md5_at(fd, name)
                if digest is not None and digest == last_md5(of):
                    os.unlink(name, dir_fd=fd)
                    done[0] += 1
                else:
                    kept.append((of, _beside(of, _keep_aside(fd, name, base))))
            except OSError:
                pass


def _beside(path: str, name: str) -> str:
    folder = path.rpartition("/")[0]
    return f"{folder}/{name}" if folder else name
