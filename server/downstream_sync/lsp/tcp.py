"""The language server on a loopback TCP port, for editors that connect instead of spawning it.

Any process on this machine can open a loopback port, and so can any web page (a `fetch()` with
a text/plain body needs no preflight). So: loopback addresses only; a secret that the client
shows in its first message, `initialize` with `initializationOptions.token`, before anything is
handled (nothing runs, no server even exists, until then); a first frame that announces more than
FIRST_MESSAGE_MAX bytes closed before its body is read; HTTP refused at its first line; and
one server per connection, so a client leaving, or a port scan, stops nothing but itself.
Imports nothing of the engine.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import signal
import socket
import stat
from pathlib import Path
from typing import Any, Callable, Mapping

from .wire import INVALID_REQUEST, SocketReader, StreamBroken, decode, frame, handle, read_frame, run

log = logging.getLogger(__name__)

TOKEN_ENV = "DOWNSTREAM_SYNC_LSP_TOKEN"
MIN_TOKEN = 16  # characters: long enough that trying them one connection at a time is hopeless
FIRST_MESSAGE_WAIT = 30.0  # seconds a connection may take to send `initialize`
FIRST_MESSAGE_MAX = 64 * 1024  # bytes of `initialize` (a few KiB): a stranger is held to this much


class SetupError(Exception):
    """The TCP server cannot start; the message says why and what to do."""


def check_host(host: str) -> None:
    """Refuse a --host that is not, or does not resolve only to, loopback addresses."""
    outside = ["every interface"] if not host else []
    if host:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise SetupError(f"--host {host!r}: {exc.strerror}: pass 127.0.0.1, ::1 or localhost") from None
        outside = sorted({info[4][0] for info in infos
                          if not ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback})
    if outside:
        raise SetupError(
            f"--host {host!r} is not a loopback address ({', '.join(outside)}): the language server "
            "listens only for clients on this machine; pass 127.0.0.1, ::1 or localhost"
        )


def load_token(token_file: str | None, environ: Mapping[str, str]) -> bytes:
    """The secret a client must show: from `token_file` (readable by its owner only) or the environment."""
    if token_file:
        token = _read_private(Path(token_file).expanduser())
        where = str(token_file)
    else:
        token = environ.get(TOKEN_ENV, "").strip()
        where = TOKEN_ENV
    if not token:
        raise SetupError(
            f"--tcp needs a secret that the editor passes in initializationOptions.token: set {TOKEN_ENV} "
            "or pass --token-file PATH (a file only you can read), e.g. with the output of `openssl rand -hex 16`"
        )
    if len(token) < MIN_TOKEN:
        raise SetupError(f"the token in {where} has {len(token)} characters: use at least {MIN_TOKEN}")
    return token.encode("utf-8", "surrogateescape")


def _read_private(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise SetupError(f"--token-file {path} is not a regular file")
            if st.st_uid != os.geteuid():
                raise SetupError(f"--token-file {path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}): "
                                 "use a file of your own")
            if st.st_mode & 0o077:
                raise SetupError(f"--token-file {path} can be read or changed by others "
                                 f"(mode {stat.S_IMODE(st.st_mode):04o}): run chmod 600 {path}")
            return f.read(4096).decode("utf-8", "surrogateescape").strip()
    except OSError as exc:
        raise SetupError(f"cannot read --token-file {path}: {exc.strerror}") from None


def refusal(value: Any, token: bytes) -> str | None:
    """Why a connection's first message does not let it in (None: it does, and the token is taken out)."""
    if not isinstance(value, dict) or value.get("method") != "initialize" or "id" not in value:
        return "the first message is not 'initialize'"
    params = value.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    shown = options.get("token") if isinstance(options, dict) else None
    if not isinstance(shown, str):
        return "'initialize' has no initializationOptions.token"
    if not hmac.compare_digest(shown.encode("utf-8", "surrogateescape"), token):
        return "the token in initializationOptions.token is wrong"
    del options["token"]  # nothing past this point needs to see it
    return None


async def _admit(reader: SocketReader, writer: asyncio.StreamWriter, token: bytes,
                 make_server: Callable[[], Any]) -> Any:
    """The server for this connection once its `initialize` shows the token; None if it closed first."""
    body = await asyncio.wait_for(read_frame(reader, FIRST_MESSAGE_MAX), FIRST_MESSAGE_WAIT)
    if body is None:
        return None
    value, problem = decode(body)
    why = "the first message cannot be read: " + problem[1] if problem else refusal(value, token)
    if why is not None:
        if isinstance(value, dict) and value.get("method") == "initialize" and "id" in value:
            message = (f"{why}: pass the secret this server was started with ({TOKEN_ENV} or --token-file) "
                       "as initializationOptions.token")
            writer.write(frame({"jsonrpc": "2.0", "id": value["id"],
                                "error": {"code": INVALID_REQUEST, "message": message}}))
            await writer.drain()
        raise StreamBroken(why)
    server = make_server()
    server.protocol.set_writer(writer)
    handle(server.protocol, value, None)
    return server


async def _connection(make_server: Callable[[], Any], token: bytes,
                      reader: asyncio.StreamReader, writer: asyncio.StreamWriter, live: set[Any]) -> None:
    peer = writer.get_extra_info("peername")
    server = None
    try:
        stream = SocketReader(reader)
        server = await _admit(stream, writer, token, make_server)
        if server is not None:
            live.add(server)
            await run(stream, server.protocol)
    except StreamBroken as exc:
        log.warning("closed the connection from %s: %s", peer, exc)
    except asyncio.TimeoutError:
        log.warning("closed the connection from %s: no 'initialize' within %.0f s", peer, FIRST_MESSAGE_WAIT)
    except ConnectionError:
        pass
    except SystemExit:
        pass  # the client's `exit`: this connection ends, the server goes on
    finally:
        if server is not None:
            live.discard(server)
            await server.disconnected()
        writer.close()


async def listen(make_server: Callable[[], Any], host: str, port: int, token: bytes) -> None:
    """Serve connections until SIGTERM or SIGINT; then stop every client's sessions and return."""
    live: set[Any] = set()  # the servers of the connections let in

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _connection(make_server, token, reader, writer, live)

    try:
        listener = await asyncio.start_server(connection, host, port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SetupError(f"cannot listen on {host}:{port}: {reason}: pass another --port") from None
    where = ", ".join(str(s.getsockname()[:2]) for s in listener.sockets)
    log.info("listening on %s; clients show the token in initializationOptions.token", where)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        listener.close()  # not waited for: clients still connected are cancelled by asyncio.run
    log.info("stopping: every client's sessions end")
    # While every task still runs: a session stops its helper commands in order.
    await asyncio.gather(*(server.disconnected() for server in list(live)), return_exceptions=True)


def serve(make_server: Callable[[], Any], host: str, port: int, token: bytes) -> int:
    """Serve clients on `host`:`port` until SIGTERM or SIGINT."""
    asyncio.run(listen(make_server, host, port, token))
    return 0
