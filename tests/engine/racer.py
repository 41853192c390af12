"""A user racing the engine, in a process of its own (no GIL shared with the engine).

Reads one command per line on stdin, answers "ok" on stdout when done:

- `race CONTAINER LOCAL DELAY_US MODE REMOTE_HEX USER_HEX`: write the container's file, wait
  DELAY_US microseconds (spinning), then save the local file as MODE says.
- `race-delete CONTAINER LOCAL DELAY_US MODE USER_HEX`: the same, deleting the container's file.
- `race-rename CONTAINER NEW_NAME LOCAL DELAY_US MODE USER_HEX`: the same, renaming the
  container's file to NEW_NAME (in its folder).
- `follow LOCAL MODE EXPECT_HEX USER_HEX`: spin until the local file holds EXPECT (the engine
  wrote it), then save the local file at once (within the same timestamp tick).

MODE "rename" saves as editors do (a temporary file beside it, renamed over it); "inplace"
truncates and rewrites the file itself (same inode).
"""

import os
import sys
import time


def save(path: str, data: bytes, mode: str) -> None:
    if mode == "rename":
        tmp = f"{os.path.dirname(path)}/.editor-{os.getpid()}.swp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def holds(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def main() -> None:
    for line in sys.stdin:
        word = line.split()
        if word[0] == "race":
            _, container, local, delay_us, mode, remote, user = word
            with open(container, "wb") as f:
                f.write(bytes.fromhex(remote))
            until = time.perf_counter() + int(delay_us) / 1e6
            while time.perf_counter() < until:
                pass
            save(local, bytes.fromhex(user), mode)
        elif word[0] == "race-delete":
            _, container, local, delay_us, mode, user = word
            os.unlink(container)
            until = time.perf_counter() + int(delay_us) / 1e6
            while time.perf_counter() < until:
                pass
            save(local, bytes.fromhex(user), mode)
        elif word[0] == "race-rename":
            _, container, new_name, local, delay_us, mode, user = word
            os.rename(container, os.path.join(os.path.dirname(container), new_name))
            until = time.perf_counter() + int(delay_us) / 1e6
            while time.perf_counter() < until:
                pass
            save(local, bytes.fromhex(user), mode)
        elif word[0] == "follow":
            _, local, mode, expect, user = word
            expect_b = bytes.fromhex(expect)
            until = time.monotonic() + 30
            while not holds(local, expect_b) and time.monotonic() < until:
                pass
            save(local, bytes.fromhex(user), mode)
        print("ok", flush=True)


if __name__ == "__main__":
    main()
