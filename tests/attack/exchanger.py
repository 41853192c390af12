"""Swap PATH (a folder or a file) with a symlink to TARGET and back, `count` times, each swap one
renameat2(RENAME_EXCHANGE), so PATH is never absent: `python exchanger.py PATH TARGET COUNT PAUSE`.
Where PATH is absent at the moment (sqlite removes a -wal file), the symlink is renamed there
instead, and back. Ends with the real one, if any, in place."""

import ctypes
import os
import sys
import time

path, target, count, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
link = f"{os.path.dirname(path)}/.exchanger-{os.getpid()}"
os.symlink(target, link)


def exchange() -> bool:
    """Exchange link and path; False when path was absent and the link was renamed there."""
    if libc.renameat2(-100, link.encode(), -100, path.encode(), 2) == 0:
        return True
    if ctypes.get_errno() != 2:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), path)
    while libc.renameat2(-100, link.encode(), -100, path.encode(), 1) != 0:  # RENAME_NOREPLACE
        if ctypes.get_errno() != 17:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), path)
        if libc.renameat2(-100, link.encode(), -100, path.encode(), 2) == 0:  # made meanwhile
            return True
    return False


for _ in range(count):
    real_at_link = exchange()  # PATH is the symlink now
    time.sleep(pause)
    if real_at_link and exchange():
        pass  # the real one is back
    else:  # the link is at PATH still, or was removed there (sqlite removes its -wal by name)
        try:
            os.rename(path, link) if os.path.islink(path) else None
        except FileNotFoundError:
            pass
        if not os.path.lexists(link):
            os.symlink(target, link)
    time.sleep(pause)
if os.path.islink(link):
    os.unlink(link)
print("done", flush=True)
