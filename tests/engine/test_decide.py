"""The decision per path from the remote, local and ledger MD5s."""

import pytest

from downstream_sync.sync.decide import Action, decide_change, decide_delete

R, L, G = "remote", "local", "ledger"


@pytest.mark.parametrize("local, ledger, policy, action", [
    (None, None, "safe", Action.WRITE),               # new file
    (None, G, "safe", Action.WRITE),                  # deleted locally, changed remotely: bring it back
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
