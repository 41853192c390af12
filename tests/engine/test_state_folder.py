"""The state folder, its locks and sessions folders and the files in them: a symlink at any of them
is refused with a message naming it, and nothing is written (or deleted) where it points."""

from __future__ import annotations

import os

import pytest

from downstream_sync.records import Record, live_records
from downstream_sync.sync.ledger import Ledger, LedgerError
from downstream_sync.sync.lock import LOCKS_DIR_NAME, SessionLock, _file_name
from downstream_sync.sync.state_folder import STATE_DIR_NAME, StateFolderError

from sync_helper.paths import RESERVED_FOLDERS

ADVICE = "is a symbolic link; downstream sync keeps its state only in a real folder inside the project: remove the link"


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.fixture
def state(tmp_path):
    (tmp_path / "project").mkdir()
    return tmp_path / "project" / STATE_DIR_NAME


def test_the_state_folder_is_reserved():
    assert STATE_DIR_NAME in RESERVED_FOLDERS


def test_a_lock_file_symlink_is_refused_and_its_target_kept(state, outside):
    victim = outside / "precious.txt"
    victim.write_text("mine")
    (state / LOCKS_DIR_NAME).mkdir(parents=True)
    link = state / LOCKS_DIR_NAME / _file_name("web")
    os.symlink(victim, link)
    with pytest.raises(StateFolderError) as info:
        SessionLock(state, "web", "test").acquire()
    assert str(info.value) == f"{link} {ADVICE}"
    assert victim.read_text() == "mine"


@pytest.mark.parametrize("linked", ["", LOCKS_DIR_NAME])
def test_a_linked_state_or_locks_folder_is_refused_by_the_lock(state, outside, linked):
    if linked:
        state.mkdir()
    os.symlink(outside, state / linked if linked else state)
    with pytest.raises(StateFolderError) as info:
        SessionLock(state, "web", "test").acquire()
    assert str(info.value) == f"{state / linked if linked else state} {ADVICE}"
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("linked", ["", "ledger.db", "ledger.db-wal", "ledger.db-shm"])
def test_a_linked_state_folder_or_database_is_refused_by_the_ledger(state, outside, linked):
    if linked:
        state.mkdir()
    os.symlink(outside / linked if linked else outside, state / linked if linked else state)
    with pytest.raises(LedgerError) as info:
        Ledger(state, "web")
    assert str(info.value) == f"{state / linked if linked else state} {ADVICE}"
    assert list(outside.iterdir()) == []


def test_a_dangling_gitignore_link_is_not_followed(state, outside):
    state.mkdir()
    os.symlink(outside / "ignore", state / ".gitignore")
    Ledger(state, "web").close()
    assert list(outside.iterdir()) == []


def test_a_real_state_folder_is_made_with_its_gitignore(state):
    lock = SessionLock(state, "web", "test")
    lock.acquire()
    lock.release()
    Ledger(state, "web").close()
    assert (state / ".gitignore").read_text() == "*\n"
    assert (state / LOCKS_DIR_NAME / _file_name("web")).is_file()


@pytest.mark.parametrize("linked", ["", "sessions"])
def test_session_records_are_not_written_or_deleted_through_a_link(state, outside, linked):
    stale = outside / "999999999.json"
    stale.write_text('{"pid": 999999999}')
    if linked:
        state.mkdir()
    os.symlink(outside, state / linked if linked else state)
    record = Record(state.parent, state.parent / "skaffold.yaml", "downstream-sync start")
    assert record.update([]) is False
    assert live_records(state.parent) == []
    record.remove()
    assert list(outside.iterdir()) == [stale]


def test_session_records_in_a_real_folder(state):
    record = Record(state.parent, state.parent / "skaffold.yaml", "downstream-sync start")
    assert record.update([{"name": "web"}]) is True
    assert [r["sessions"] for r in live_records(state.parent)] == [[{"name": "web"}]]
    record.remove()
    assert live_records(state.parent) == []
    assert os.listdir(state / "sessions") == []
