"""The state folder `.downstream-sync`, and the ledger's files in it, swapped for a symlink to a
folder outside the project and back, over and over (each swap one RENAME_EXCHANGE, so the name is
never absent), while ledgers are opened, written and closed and sessions start, sync and stop:
sqlite opens its files by name, after the state folder was checked. Nothing may be created or
changed outside. Bounded loops counting the rounds that wrote outside. Real sqlite, real Session,
real app-server, a swapping process of its own."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from downstream_sync.sync.events import SessionState
from downstream_sync.sync.ledger import Entry, Ledger, LedgerError

from engine_support import eventually

EXCHANGER = str(pathlib.Path(__file__).with_name("exchanger.py"))
LEDGER_ROUNDS = 400
SESSION_ROUNDS = 20
SWAPS = 100_000  # more than the rounds need: stopped when they are done


def _outside(folder: pathlib.Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir()}


def _swapping(path: pathlib.Path, target: pathlib.Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, EXCHANGER, str(path), str(target), str(SWAPS), "0.0005"],
                            stdout=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # between two exchanges or inside one: the real one is put back below
    proc.wait()


def _put_back(path: pathlib.Path) -> None:
    """After the exchanger was stopped: the real folder or file (if any) back at `path`."""
    if path.is_symlink():
        path.unlink()
    for link in path.parent.glob(".exchanger-*"):
        if link.is_symlink():
            link.unlink()
        elif not path.exists():
            link.rename(path)


@pytest.mark.parametrize("swapped", [".downstream-sync", ".downstream-sync/ledger.db",
                                     ".downstream-sync/ledger.db-wal", ".downstream-sync/ledger.db-shm"])
def test_ledgers_opened_during_swaps_write_nothing_outside(project, tmp_path, swapped):
    outside = tmp_path / "outside"
    outside.mkdir()
    state = project / ".downstream-sync"
    Ledger(state, "web").close()  # the folder and the database exist
    path = project / swapped
    target = outside if swapped == ".downstream-sync" else outside / path.name
    swapper = _swapping(path, target)
    wrote_outside, journals, refused = [], 0, 0
    try:
        for i in range(LEDGER_ROUNDS):
            try:
                ledger = Ledger(state, "web")
                ledger.put(Entry(f"f{i}", f"src/f{i}", "0" * 32, i, i, i, i))
                ledger.close()
                opened = True
            except LedgerError:
                refused += 1
                opened = False
            made = _outside(outside)
            if made:
                # The one window left (README): the folder swapped between sqlite opening the
                # database and its journal files. sqlite then makes its journal files there (an
                # empty -wal, a -shm index), the ledger sees it and refuses before a write; the
                # database, and so the ledger's content, never goes there.
                if not opened and set(made) <= {"ledger.db-wal", "ledger.db-shm"} and not made.get("ledger.db-wal"):
                    journals += 1
                else:
                    wrote_outside.append(made)
                for p in outside.iterdir():
                    p.unlink()
    finally:
        _stop(swapper)
        _put_back(path)
    print(f"\n{swapped}: {len(wrote_outside)} of {LEDGER_ROUNDS} ledger opens wrote outside {wrote_outside[:3]}, "
          f"{journals} left sqlite's journal files there and were refused, {refused} refused in all")
    assert not wrote_outside
    Ledger(state, "web").close()  # still opens once the swapping stops


@pytest.mark.parametrize("swapped", [".downstream-sync", ".downstream-sync/ledger.db"])
async def test_sessions_started_during_swaps_write_nothing_outside(helper, container, project, make_session,
                                                                   tmp_path, swapped):
    outside = tmp_path / "outside"
    outside.mkdir()
    Ledger(project / ".downstream-sync", "web").close()
    path = project / swapped
    swapper = _swapping(path, outside if swapped == ".downstream-sync" else outside / path.name)
    wrote_outside = journals = 0
    try:
        for i in range(SESSION_ROUNDS):
            before = _outside(outside)
            (container / "src" / f"f{i}.txt").write_text(f"{i}")
            try:
                session, rec = await make_session(helper, name=f"web{i}")
            except Exception:
                continue  # refused at start: held
            await eventually(lambda: session.state in (SessionState.WATCHING, SessionState.FAILED), "the session")
            await session.stop()
            made = _outside(outside)
            if made != before:
                # Only sqlite's journal files, in the window the ledger test tells of, and refused.
                if (set(made) <= {"ledger.db-wal", "ledger.db-shm"} and not made.get("ledger.db-wal")
                        and session.state is SessionState.FAILED):
                    journals += 1
                else:
                    wrote_outside += 1
                for p in outside.iterdir():
                    p.unlink()
    finally:
        _stop(swapper)
        _put_back(path)
    print(f"\n{swapped}: {wrote_outside} of {SESSION_ROUNDS} sessions wrote outside, {journals} left sqlite's "
          f"journal files there and failed")
    assert wrote_outside == 0
