"""Facts of the standalone build (helper/build.sh: PyInstaller --onefile inside staticx).

Owns: where the running binary really is, the files it extracts into TMPDIR (and the removal of
those a `kill -9` left behind), and the environment the user's app gets back: without the
variables the bundle set for itself, and with the app's own TMPDIR. Standard library only.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

__all__ = ["APP_TMPDIR_ENV", "is_frozen", "program_path", "app_environment", "clean_stale_extractions"]

# Set by whoever starts the helper with TMPDIR pointing into the helper's own folder (the injector,
# attach mode): the TMPDIR the app must see. Empty means the app had none.
APP_TMPDIR_ENV = "DOWNSTREAM_SYNC_APP_TMPDIR"
_EXTRACTED = ("staticx-", "_MEI")  # staticx's and PyInstaller's folders in TMPDIR
_BUNDLE_VARS = ("STATICX_BUNDLE_DIR", "STATICX_PROG_PATH", "LD_LIBRARY_PATH_ORIG", APP_TMPDIR_ENV)


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def program_path() -> str:
    """The file this program was started from: the staticx binary, not its extracted copy."""
    return os.path.abspath(os.environ.get("STATICX_PROG_PATH")
                           or (sys.executable if is_frozen() else (sys.argv[0] or ".")))


def app_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the user's app: the bundle's own variables removed, LD_LIBRARY_PATH and
    TMPDIR as they were before the helper started."""
    env = dict(os.environ if environ is None else environ)
    if "_PYI_APPLICATION_HOME_DIR" in env or "STATICX_BUNDLE_DIR" in env:
        original = env.get("LD_LIBRARY_PATH_ORIG")
        if original is None:
            env.pop("LD_LIBRARY_PATH", None)
        else:
            env["LD_LIBRARY_PATH"] = original
    if APP_TMPDIR_ENV in env:
        if env[APP_TMPDIR_ENV]:
            env["TMPDIR"] = env[APP_TMPDIR_ENV]
        else:
            env.pop("TMPDIR", None)
    for name in list(env):
        if name.startswith("_PYI_") or name in _BUNDLE_VARS or name == "_MEIPASS2":
            del env[name]
    return env


def _paths_in_use() -> set[str]:
    """Every file that a live process runs or maps, as /proc tells (only this user's processes)."""
    used: set[str] = set()
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return used
    for pid in pids:
        try:
            used.add(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            pass
        try:
            with open(f"/proc/{pid}/maps", "rb") as f:
                for line in f:
                    at = line.find(b" /")
                    if at >= 0:
                        used.add(line[at + 1:].rstrip(b"\n").decode(errors="replace"))
        except OSError:
            pass
    return used


def clean_stale_extractions(tmpdir: str | None = None, min_age: float = 30.0) -> list[str]:
    """Remove the folders the binaries extracted into `tmpdir` that no live process uses any more
    (left by a `kill -9`); folders younger than `min_age` seconds may still be starting and stay,
    and so do other users' (whose processes this one may not see). Returns the folders removed."""
    tmpdir = tmpdir or os.environ.get("TMPDIR") or "/tmp"
    try:
        names = [n for n in os.listdir(tmpdir) if n.startswith(_EXTRACTED)]
    except OSError:
        return []
    if not names:
        return []
    used = _paths_in_use()
    now = time.time()
    removed = []
    for name in names:
        folder = os.path.join(tmpdir, name)
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if now - st.st_mtime < min_age or st.st_uid != os.getuid() or not os.path.isdir(folder) \
                or os.path.islink(folder):
            continue
        if any(p == folder or p.startswith(folder + "/") for p in used):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
