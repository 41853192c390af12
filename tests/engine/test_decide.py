"""The decision per path from the remote, local and ledger MD5s."""

import pytest

from downstream_sync.sync.decide import Action, decide_change, decide_delete

R, L, G, C = "remote", "local", "ledger", "conflict"


@pytest.mark.parametrize("local, ledger, policy, action", [
    (None, None, "safe", Action.WRITE),               # new file
    (None, G, "safe", Action.CONFLICT),               # deleted locally: a change of the user's, kept
    (None, G, "remote-wins", Action.WRITE),           # deleted locally: remote-wins brings it back
    (R, None, "safe", Action.SKIP),                   # already has it (the echo)
    (R, G, "safe", Action.SKIP),
    (G, G, "safe", Action.WRITE),                     # ours, unchanged locally: update
    (L, G, "safe", Action.CONFLICT),                  # changed locally
    (L, None, "safe", Action.CONFLICT),               # never ours
    (L, G, "remote-wins", Action.WRITE_WITH_BACKUP),
    (L, None, "remote-wins", Action.WRITE_WITH_BACKUP),
    (G, G, "remote-wins", Action.WRITE),
])
def test_change(local, ledger, policy, action):
    assert decide_change(R, local, ledger, policy).action is action


@pytest.mark.parametrize("local, ledger, policy, action", [
    (None, G, "safe", Action.SKIP),
    (G, G, "safe", Action.DELETE),
    (L, G, "safe", Action.KEEP),
    (L, None, "safe", Action.SKIP),                   # not ours: never deleted
    (L, None, "remote-wins", Action.SKIP),
    (L, G, "remote-wins", Action.DELETE_WITH_BACKUP),
])
def test_delete(local, ledger, policy, action):
    assert decide_delete(local, ledger, policy).action is action


@pytest.mark.parametrize("local, ledger, conflict, policy, action, ends", [
    (None, None, None, "safe", Action.WRITE, False),   # never ours, absent: simply created
    (L, G, C, "safe", Action.CONFLICT, False),         # still in conflict: a repeat
    (L, G, R, "safe", Action.HELD, False),             # still in conflict, and the copy holds this version
    (None, G, R, "safe", Action.HELD, False),
    (R, G, C, "safe", Action.SKIP, True),              # the local file is the container's current version
    (C, G, C, "safe", Action.WRITE, True),             # the conflict's version moved into place: an ordinary update
    (C, None, C, "safe", Action.WRITE, True),          # the same for a file that was never ours
    (G, G, C, "safe", Action.WRITE, True),             # the local edit undone
    (None, G, C, "safe", Action.CONFLICT, False),      # deleted locally, still in conflict
    (None, G, C, "remote-wins", Action.WRITE, True),
    (L, G, C, "remote-wins", Action.WRITE_WITH_BACKUP, True),
])
def test_change_with_open_conflict(local, ledger, conflict, policy, action, ends):
    d = decide_change(R, local, ledger, policy, conflict)
    assert (d.action, d.ends_conflict) == (action, ends)
    assert d.reason


@pytest.mark.parametrize("local, ledger, conflict, policy, action, ends", [
    (L, G, C, "safe", Action.KEEP, True),              # the local file stays; the conflict's copy goes
    (C, G, C, "safe", Action.DELETE, True),            # the conflict's version was taken: deleted like ours
    (None, G, C, "safe", Action.SKIP, True),           # deleted on both sides
    (G, G, None, "safe", Action.DELETE, False),
])
def test_delete_with_open_conflict(local, ledger, conflict, policy, action, ends):
    d = decide_delete(local, ledger, policy, conflict)
    assert (d.action, d.ends_conflict) == (action, ends)
    assert d.reason
