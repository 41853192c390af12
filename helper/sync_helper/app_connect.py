"""app-connect: relay stdin/stdout to app-server's unix socket, both ways, until either side closes.

A stream that starts with the data lane's preface goes to the helper's data socket instead.

The local side runs it once per connection (`kubectl exec -i POD -- /sync-helper/app-connect`), so it
imports only the standard library's basics and the relay: no grpc, no watchdog, no asyncio.
"""

from __future__ import annotations

import os
import socket
import sys

from .relay import relay

VERSION: str | None = None  # set by the standalone build, which leaves importlib.metadata out

USAGE = """usage: app-connect [--socket PATH]

Relays stdin/stdout to app-server's unix socket until either side closes.

  --socket PATH   the helper's socket (default: app-server.sock beside this program: {default})
  --version       print the version and exit
"""


def default_socket() -> str:
    # The standalone binary runs from an extracted copy: staticx names the file it was started from.
    program = os.environ.get("STATICX_PROG_PATH") or sys.argv[0] or "."
    return os.path.join(os.path.dirname(os.path.abspath(program)), "app-server.sock")


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"app-connect: {message}\n")
    sys.stderr.flush()
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = default_socket()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            sys.stdout.write(USAGE.format(default=default_socket()))
            return 0
        if arg == "--version":
            if VERSION is None:
                from importlib.metadata import version

                sys.stdout.write(f"app-connect {version('downstream-sync-helper')}\n")
            else:
                sys.stdout.write(f"app-connect {VERSION}\n")
            return 0
        if arg == "--socket" and i + 1 < len(args):
            path = args[i + 1]
            i += 2
            continue
        if arg.startswith("--socket="):
            path = arg.split("=", 1)[1]
            i += 1
            continue
        return _fail(f"unknown argument {arg!r}\n" + USAGE.format(default=default_socket()), 2)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        hint = " (is app-server running in this container?)" if isinstance(
            e, (FileNotFoundError, ConnectionRefusedError)) else ""
        return _fail(f"cannot connect to {path}: {e.strerror or e}{hint}", 1)
    # gRPC always opens with the HTTP/2 preface ("PRI * ..."); the data lane with "DSYNC-DATA/1 "
    # (see transfer.py): its stream goes to the helper's data socket instead.
    first = os.read(sys.stdin.fileno(), 1)
    if first == b"D":
        data = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            data.connect(path + ".data")
        except OSError as e:
            return _fail(f"cannot connect to {path}.data: {e.strerror or e} (the helper has no data lane)", 1)
        sock.close()
        sock = data
    if first:
        sock.sendall(first)
    relay(sys.stdin.fileno(), sys.stdout.fileno(), sock)
    return 0


def run() -> None:
    code = main()
    sys.stdout.flush()
    os._exit(code)  # do not wait for a relay thread blocked on stdin


if __name__ == "__main__":
    run()
