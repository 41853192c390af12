"""The data lane: large files sent raw with sendfile(2) on a second unix socket, outside gRPC.

OpenTransfer (service.py) opens a file by the usual rules and leaves its descriptor here under a
random one-time token; a client then connects to the data socket (through app-connect, which sees
the preface's first byte) and names the token. The reply is "OK\\n", the file's bytes, and
"DONE\\n" or "CHANGED\\n" (see proto/filedownload.proto). Blocking threads, one per transfer: the
bytes never pass through Python. Must not import grpc, watchdog or asyncio.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .protocol import LANE_CHANGED, LANE_DONE, LANE_ERR, LANE_OK, PREFACE
from .reads import only_grew, unchanged

__all__ = ["TransferDesk", "PREFACE", "TICKET_SECONDS", "data_socket"]

TICKET_SECONDS = 60.0
MAX_TICKETS = 64  # unclaimed tickets kept at once; the oldest goes first
_MAX_LINE = 256
_SEND = 8 << 20


def data_socket(grpc_socket: str) -> str:
    """The data socket's path beside the gRPC socket."""
    return grpc_socket + ".data"


@dataclass
class _Ticket:
    wire: str
    fd: int
    st: os.stat_result
    expires: float


class TransferDesk:
    """Holds the opened files of issued tickets and serves them on the data socket."""

    def __init__(self, busy: Callable[[str], bool] = lambda wire: False):
        self.busy = busy  # True while the watcher has a check of this path in progress
        self._tickets: dict[str, _Ticket] = {}
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.path: str | None = None

    # -- tickets ---------------------------------------------------------------------------------

    def issue(self, wire: str, fd: int, st: os.stat_result) -> str:
        """Keep `fd` (now owned by the desk) for one transfer; returns its token."""
        token = secrets.token_hex(16)
        with self._lock:
            self._sweep()
            self._tickets[token] = _Ticket(wire, fd, st, time.monotonic() + TICKET_SECONDS)
        return token

    def claim(self, token: str) -> _Ticket | None:
        """The ticket for `token`, once; None when unknown, used or expired."""
        with self._lock:
            ticket = self._tickets.pop(token, None)
            self._sweep()
        if ticket is not None and ticket.expires < time.monotonic():
            os.close(ticket.fd)
            return None
        return ticket

    def _sweep(self) -> None:
        """Close expired tickets, and the oldest ones past MAX_TICKETS (each holds an open file)."""
        now = time.monotonic()
        for token in [k for k, t in self._tickets.items() if t.expires < now]:
            os.close(self._tickets.pop(token).fd)
        while len(self._tickets) >= MAX_TICKETS:
            os.close(self._tickets.pop(next(iter(self._tickets))).fd)

    def __len__(self) -> int:
        return len(self._tickets)

    # -- the data socket -------------------------------------------------------------------------

    def listen(self, path: str) -> None:
        """Serve on `path` (mode 0600, replacing a stale socket) in a background thread."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(16)
        self._sock, self.path = sock, path
        threading.Thread(target=self._accept, args=(sock,), name="data-lane", daemon=True).start()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        with self._lock:
            for ticket in self._tickets.values():
                os.close(ticket.fd)
            self._tickets.clear()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30)
                token = _read_token(conn)
                ticket = self.claim(token) if token else None
                if ticket is None:
                    conn.sendall(LANE_ERR + (b" unknown, used or expired token\n" if token else b" bad preface\n"))
                    return
                try:
                    conn.settimeout(None)
                    conn.sendall(LANE_OK)
                    if not _send(conn, ticket.fd, ticket.st.st_size):
                        return  # the file shrank: end without a trailer, the client keeps nothing
                    # Grown only: the bytes sent are a prefix, and the client keeps them only when
                    # they hash to the header's MD5 (a second read of that prefix).
                    same = unchanged(ticket.fd, ticket.st) and not self.busy(ticket.wire)
                    conn.sendall(LANE_DONE if same or only_grew(ticket.fd, ticket.st) else LANE_CHANGED)
                finally:
                    os.close(ticket.fd)
            except OSError:
                return  # the client went away


def _read_token(conn: socket.socket) -> str:
    """The token from "DSYNC-DATA/1 <token>\\n"; empty when the preface is wrong."""
    line = b""
    while not line.endswith(b"\n") and len(line) < _MAX_LINE:
        got = conn.recv(_MAX_LINE - len(line))
        if not got:
            return ""
        line += got
    if not line.startswith(PREFACE) or not line.endswith(b"\n"):
        return ""
    return line[len(PREFACE):-1].decode("ascii", "replace").strip()


def _send(conn: socket.socket, fd: int, size: int) -> bool:
    """Send exactly `size` bytes of `fd`; False when the file ends sooner."""
    offset = 0
    out = conn.fileno()
    while offset < size:
        n = os.sendfile(out, fd, offset, min(_SEND, size - offset))
        if not n:
            return False
        offset += n
    return True
