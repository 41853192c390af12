"""The ledger: what this tool last wrote to each local path, kept across restarts.

One sqlite database (WAL) in `<project>/.downstream-sync/ledger.db`, beside a `.gitignore` of `*`
so git ignores the folder. Per session name: local path (POSIX, relative to the project root) ->
remote path, MD5, size, mtime_ns, inode, and when that stat was taken (`checked_ns`, in the
`written_at` column). The (size, mtime_ns, inode) triple doubles as a hash cache: a file whose stat
still matches is not hashed again, unless the stat was taken within a timestamp tick of its mtime
(writer.stat_proves: a same-size rewrite in that tick would look the same). Also per session: the
helper instance id and the last version processed, to resume a watch.

Reads come from an in-memory copy; writes are kept (the latest per path) and go to sqlite in one
transaction per batch (`commit`). Another process may change a path's record while a session
runs (`downstream-sync resolve`): `refresh` reads that path's entry and meta keys again.
With synchronous=NORMAL a crash loses at most the last uncommitted batch, which the next
reconcile recovers (a file already holding the remote MD5 is recorded, not fetched again).
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from urllib.parse import quote
from dataclasses import dataclass
from pathlib import Path

from .state_folder import STATE_DIR_NAME, StateFolderError, open_file, open_folder, refuse_link
from .writer import stat_proves

__all__ = ["Ledger", "Entry", "LedgerError", "STATE_DIR_NAME"]


class LedgerError(Exception):
    """The ledger cannot be opened or written."""


@dataclass(frozen=True)
class Entry:
    path: str
    remote_path: str
    md5: str
    size: int
    mtime_ns: int
    ino: int
    checked_ns: int = 0  # when the stat was taken (before it was): see writer.stat_proves

    def matches_stat(self, st: os.stat_result) -> bool:
        """Whether st proves the file still holds `md5`."""
        return stat_proves(st, self.size, self.mtime_ns, self.ino, self.checked_ns)


class Ledger:
    def __init__(self, state_dir: Path, session: str):
        self.session = session
        self.state_dir = Path(state_dir)
        self.db_path = self.state_dir / "ledger.db"
        try:
            self._db = self._open()
            self._db.execute("""CREATE TABLE IF NOT EXISTS files (
                session TEXT NOT NULL, path TEXT NOT NULL, remote_path TEXT NOT NULL, md5 TEXT NOT NULL,
                size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ino INTEGER NOT NULL,
                written_at REAL NOT NULL, PRIMARY KEY (session, path))""")
            self._db.execute("""CREATE TABLE IF NOT EXISTS meta (
                session TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (session, key))""")
            self._db.commit()
            rows = self._db.execute(
                "SELECT path, remote_path, md5, size, mtime_ns, ino, written_at FROM files WHERE session=?", (session,))
            self._entries: dict[str, Entry] = {r[0]: Entry(*r[:6], int(r[6] * 1e9)) for r in rows}
            self._meta: dict[str, str] = dict(self._db.execute(
                "SELECT key, value FROM meta WHERE session=?", (session,)))
        except StateFolderError as e:
            raise LedgerError(str(e)) from e
        except (OSError, sqlite3.Error) as e:
            raise LedgerError(f"cannot open the sync ledger in {self.state_dir}: {e}; "
                              f"check that the folder is writable") from e
        self._dirty = False
        self._unsaved: dict[str, Entry | None] = {}  # path -> latest put, or None: removed
        self._unsaved_meta: dict[str, str] = {}  # key -> latest value ("": removed)

    def _open(self) -> sqlite3.Connection:
        """The database, opened so that no symlink swapped in can steer it outside the project.

        sqlite opens its files by name: the database, then `-wal` and `-shm` at the first read.
        So the folder is opened by descriptor without following a symlink (state_folder), the
        database made there by this process (O_NOFOLLOW) and handed to sqlite as never to be
        created (`mode=rw`: a name swapped to point elsewhere finds nothing to open, or opens a
        file without writing it). Before anything is read or written, and again once the journal
        files are open, each file sqlite holds must be the one in that folder under its name;
        else the connection is closed unused and the state folder refused (StateFolderError)."""
        fd = open_folder(self.state_dir)
        try:
            _gitignore(fd, self.state_dir)
            names = (self.db_path.name, f"{self.db_path.name}-wal", f"{self.db_path.name}-shm")
            for name in names:
                refuse_link(fd, name, self.state_dir)
            os.close(open_file(fd, names[0], os.O_RDWR | os.O_CREAT, self.state_dir))
            before = _open_fds()
            real = os.path.join(os.path.realpath(f"/proc/self/fd/{fd}"), names[0])
            db = sqlite3.connect(f"file:{quote(real)}?mode=rw", uri=True, isolation_level="DEFERRED",
                                 check_same_thread=False)
            try:
                self._held(db, fd, names[:1], before)
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "delete" or _wal_works(fd, self.state_dir):
                    db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the journal files
                wal = db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                if wal:  # the database was checked above; sqlite may share its descriptor by now
                    self._held(db, fd, names[1:], before)
            except BaseException:
                db.close()
                raise
            return db
        finally:
            os.close(fd)

    def _held(self, db: sqlite3.Connection, fd: int, names: tuple[str, ...], before: set[int]) -> None:
        """Raise StateFolderError unless each of `names` is a regular file in the folder `fd` and
        is what one of the descriptors sqlite opened (since `before`) holds, and no descriptor
        sqlite opened holds a file of that name elsewhere."""
        now = _open_fds()
        opened = _files_of(now - before)
        # Another connection of this process to the same database may already hold a file that
        # sqlite then shares (the -shm always; the database when sqlite takes back a descriptor it
        # had kept), so no new descriptor shows it: it is found among all of them instead. Not the
        # database when sqlite did open one: that one must be it.
        held = _files_of(now)
        for name in names:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:  # sqlite made it, or it was there: it was elsewhere
                raise StateFolderError(f"{self.state_dir / name} was not where sqlite opened it (a symbolic link "
                                       f"swapped in?); downstream sync keeps its state only in a real folder "
                                       f"inside the project: remove any link there") from None
            mine = (st.st_dev, st.st_ino)
            strays = [path for key, path in opened.items() if key != mine and os.path.basename(path) == name]
            shared = mine in held and (name != self.db_path.name or not opened)
            if not stat.S_ISREG(st.st_mode) or not (mine in opened or shared) or strays:
                raise StateFolderError(f"{self.state_dir / name} changed while it was being opened (a symbolic "
                                       f"link swapped in?); downstream sync keeps its state only in a real folder "
                                       f"inside the project: remove any link there")

    def get(self, path: str) -> Entry | None:
        return self._entries.get(path)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def put(self, entry: Entry) -> None:
        self._entries[entry.path] = entry
        self._unsaved[entry.path] = entry
        self._dirty = True

    def remove(self, path: str) -> None:
        if self._entries.pop(path, None) is not None:
            self._unsaved[path] = None
            self._dirty = True

    def refresh(self, path: str, keys: list[str]) -> None:
        """Read again from the database the entry of `path` (unless it has an unsaved write here)
        and the meta `keys`, as another process may have committed them."""
        self.commit()  # ends this connection's transaction, so that the read sees the latest commits
        if path not in self._unsaved:
            row = self._db.execute("SELECT path, remote_path, md5, size, mtime_ns, ino, written_at FROM files "
                                   "WHERE session=? AND path=?", (self.session, path)).fetchone()
            if row is None:
                self._entries.pop(path, None)
            else:
                self._entries[path] = Entry(*row[:6], int(row[6] * 1e9))
        for key in keys:
            row = self._db.execute("SELECT value FROM meta WHERE session=? AND key=?", (self.session, key)).fetchone()
            if row is None:
                self._meta.pop(key, None)
            else:
                self._meta[key] = row[0]

    def meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def meta_keys(self, prefix: str) -> list[str]:
        """The meta keys that start with `prefix` and hold a value."""
        return [key for key, value in self._meta.items() if value and key.startswith(prefix)]

    def set_meta(self, key: str, value: str) -> None:
        """Set a value ("" removes it); saved with the next commit, as the files are."""
        if self._meta.get(key, "") == value:
            return
        if value:
            self._meta[key] = value
        else:
            self._meta.pop(key, None)
        self._unsaved_meta[key] = value
        self._dirty = True

    @property
    def dirty(self) -> bool:
        return self._dirty

    def commit(self) -> None:
        if self._dirty:
            unsaved, self._unsaved = self._unsaved, {}
            meta, self._unsaved_meta = self._unsaved_meta, {}
            try:
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)", [
                    (self.session, e.path, e.remote_path, e.md5, e.size, e.mtime_ns, e.ino, e.checked_ns / 1e9)
                    for e in unsaved.values() if e is not None])
                self._db.executemany("DELETE FROM files WHERE session=? AND path=?",
                                     [(self.session, p) for p, v in unsaved.items() if v is None])
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?,?)",
                                     [(self.session, k, v) for k, v in meta.items() if v])
                self._db.executemany("DELETE FROM meta WHERE session=? AND key=?",
                                     [(self.session, k) for k, v in meta.items() if not v])
                self._db.commit()
            except BaseException:
                self._unsaved = {**unsaved, **self._unsaved}
                self._unsaved_meta = {**meta, **self._unsaved_meta}
                raise
            self._dirty = False

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._db.close()


def _gitignore(fd: int, where: Path) -> None:
    """A `.gitignore` of `*` in the state folder, so git ignores it."""
    try:
        ignore = open_file(fd, ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL, where)
    except FileExistsError:
        return
    try:
        os.write(ignore, b"*\n")
    finally:
        os.close(ignore)


def _open_fds() -> set[int]:
    """The descriptors open in this process (not the one the listing itself used)."""
    out = set()
    for n in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(n))
        except OSError:
            continue
        out.add(int(n))
    return out


def _files_of(fds: set[int]) -> dict[tuple[int, int], str]:
    """(st_dev, st_ino) -> path of the files these descriptors hold."""
    out = {}
    for n in fds:
        try:
            st = os.stat(f"/proc/self/fd/{n}")
            out[(st.st_dev, st.st_ino)] = os.readlink(f"/proc/self/fd/{n}")
        except OSError:
            continue
    return out


def _wal_works(fd: int, where: Path) -> bool:
    """Whether sqlite's WAL works in the folder `fd`: it needs shared memory mapped from a file,
    which some file systems refuse (FAT through FUSE: "disk I/O error" at the first write). Tried on
    a database of its own, removed after; a ledger where it does not work keeps the rollback journal."""
    name = f".wal-probe-{os.getpid()}-{os.urandom(4).hex()}.db"
    os.close(open_file(fd, name, os.O_RDWR | os.O_CREAT | os.O_EXCL, where))
    real = os.path.join(os.path.realpath(f"/proc/self/fd/{fd}"), name)
    try:
        probe = sqlite3.connect(f"file:{quote(real)}?mode=rw", uri=True)
        try:
            probe.execute("PRAGMA journal_mode=WAL")
            probe.execute("CREATE TABLE t (x)")
            probe.commit()
            return True
        except sqlite3.Error:
            return False
        finally:
            probe.close()
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(name + suffix, dir_fd=fd)
            except OSError:
                pass
