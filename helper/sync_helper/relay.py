"""Byte relay between file descriptors, both ways, with large buffers.

Used by app-connect (stdin/stdout <-> the helper's socket) and by `app-server --stdio`. Two blocking
copy loops in two threads keep it simple and fast, and keep app-connect free of asyncio.
Must import nothing heavy (no grpc, no watchdog, no asyncio): app-connect starts once per connection.
"""

from __future__ import annotations

import errno
import os
import socket
import threading

__all__ = ["pump", "relay"]

BUFFER = 1 << 20


def pump(src: int, dst: int, bufsize: int = BUFFER) -> None:
    """Copy from `src` to `dst` until end of file or a broken connection on either side.

    On Linux the bytes move with splice(2) through a pipe (no copy through this process); where
    splice does not apply to these descriptors, with read and write through one reused buffer.
    """
    try:
        if hasattr(os, "splice") and _splice(src, dst, bufsize):
            return
        _copy(src, dst, bufsize)
    except OSError:  # a broken connection on either side ends this direction
        return


def _splice(src: int, dst: int, bufsize: int) -> bool:
    """Relay with splice; False (nothing moved yet) when these descriptors do not support it."""
    r, w = os.pipe()
    try:
        try:
            import fcntl

            fcntl.fcntl(w, 1031, bufsize)  # F_SETPIPE_SZ: room for one whole buffer
        except OSError:
            pass
        first = True
        while True:
            try:
                n = os.splice(src, w, bufsize)
            except OSError as e:
                if first and e.errno in (errno.EINVAL, errno.ENOSYS, errno.EBADF):
                    return False
                raise
            first = False
            if not n:
                return True
            while n:
                n -= os.splice(r, dst, n)
    finally:
        os.close(r)
        os.close(w)


def _copy(src: int, dst: int, bufsize: int) -> None:
    buf = bytearray(bufsize)
    view = memoryview(buf)
    while True:
        n = os.readv(src, [buf])
        if not n:
            return
        off = 0
        while off < n:
            off += os.write(dst, view[off:n])


def relay(in_fd: int, out_fd: int, sock: socket.socket, grace: float = 2.0) -> None:
    """Relay in_fd -> sock and sock -> out_fd until the socket side ends, or in_fd ends and then,
    within `grace` seconds, the socket side too. Returns when the relay is over."""
    done = threading.Event()
    either = threading.Event()

    def upstream() -> None:
        pump(in_fd, sock.fileno())
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        either.set()

    def downstream() -> None:
        pump(sock.fileno(), out_fd)
        done.set()
        either.set()

    threading.Thread(target=upstream, daemon=True).start()
    threading.Thread(target=downstream, daemon=True).start()
    either.wait()
    done.wait(grace)
