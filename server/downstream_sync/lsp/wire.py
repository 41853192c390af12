"""The LSP base protocol on a byte stream: frames read strictly, every request answered.

Replaces pygls' reader loop, which skips header lines it does not understand and so loses its
place for good on a bad `Content-Length`. Here a frame is a block of `Name: value` header lines
with exactly one decimal `Content-Length`, an empty line, then that many bytes of JSON. Anything
else means the frame boundaries can no longer be trusted: `StreamBroken` ends the stream. A
message that is framed well but cannot be handled (bad UTF-8, params of the wrong shape, a
request after `shutdown`) is answered with a JSON-RPC error when it is a request, and the stream
goes on. Imports nothing of the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, BinaryIO

from cattrs import ClassValidationError, transform_error
from lsprotocol.types import ResponseError
from pygls.exceptions import JsonRpcException

from .protocol import camel

log = logging.getLogger(__name__)

MAX_HEADER_LINE = 8 * 1024
MAX_BODY = 64 * 1024 * 1024  # a 5 MB skaffold.yaml, escaped as JSON, fits many times over

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

_HTTP_REQUEST = re.compile(rb"[A-Z]+ \S+ HTTP/\d")


class StreamBroken(Exception):
    """The stream cannot be read as LSP frames any more; the message says where it went wrong."""


class PipeReader:
    """A blocking binary stream (stdin) read on a worker thread."""

    def __init__(self, stream: BinaryIO, executor: Any) -> None:
        self.stream = stream
        self.executor = executor

    async def readline(self) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.stream.readline, MAX_HEADER_LINE + 1)

    async def read(self, n: int) -> bytes:
        """`n` bytes, or fewer only at the end of the stream."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.stream.read, n)


class SocketReader:
    """An asyncio stream (a TCP connection)."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    async def readline(self) -> bytes:
        try:
            return await self.stream.readline()
        except ValueError:  # longer than the stream's own limit
            raise StreamBroken(f"a header line longer than {MAX_HEADER_LINE} bytes") from None

    async def read(self, n: int) -> bytes:
        try:
            return await self.stream.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


async def read_frame(reader: Any, max_body: int = MAX_BODY) -> bytes | None:
    """The body of the next frame, or None when the stream ends cleanly between two frames; a frame
    that announces more than `max_body` bytes is refused before its body is read."""
    length: int | None = None
    first = True
    while True:
        line = await reader.readline()
        if not line:
            if first:
                return None
            raise StreamBroken("the stream ended inside a frame's header")
        if len(line) > MAX_HEADER_LINE:
            raise StreamBroken(f"a header line longer than {MAX_HEADER_LINE} bytes")
        if not line.endswith(b"\n"):
            raise StreamBroken("the stream ended inside a header line")
        text = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if not text:
            if length is None:
                raise StreamBroken("a frame's header has no Content-Length")
            break
        if first and _HTTP_REQUEST.match(text):
            raise StreamBroken(f"an HTTP request ({_shown(text)}), not a language server frame")
        first = False
        length = _header(text, length, max_body)
    body = await reader.read(length)
    if len(body) < length:
        raise StreamBroken(f"the stream ended {length - len(body)} bytes short of a {length}-byte body")
    return body


def _header(text: bytes, length: int | None, max_body: int) -> int | None:
    """`length` after one header line: a Content-Length sets it, other headers leave it."""
    name, colon, value = text.partition(b":")
    if not colon or not name.strip() or b" " in name.strip():
        raise StreamBroken(f"{_shown(text)} is not a header line ('Name: value')")
    if name.strip().lower() != b"content-length":
        return length
    value = value.strip()
    if not value.isdigit():
        raise StreamBroken(f"Content-Length {_shown(value)} is not a number of bytes")
    n = int(value)
    if n > max_body:
        raise StreamBroken(f"Content-Length {n} is more than the {max_body} bytes a frame may have here")
    if length is not None and n != length:
        raise StreamBroken(f"two Content-Length headers disagree ({length} and {n})")
    return n


def _shown(raw: bytes) -> str:
    text = raw[:60].decode("ascii", "replace")
    return repr(text + ("..." if len(raw) > 60 else ""))


Problem = tuple[int, str]  # a JSON-RPC error code and a message


def decode(body: bytes) -> tuple[Any, Problem | None]:
    """The body's JSON value, and why it cannot be handled (None when it can).

    A body that is not JSON at all means the frame's length was wrong: `StreamBroken`.
    """
    problem = None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = body.decode("utf-8", "surrogateescape")
        problem = PARSE_ERROR, f"the message is not valid UTF-8 (byte {exc.start})"
    try:
        return json.loads(text), problem
    except RecursionError:
        return None, (PARSE_ERROR, "the message is nested too deeply")
    except ValueError as exc:
        raise StreamBroken(f"a {len(body)}-byte body that is not JSON ({exc})") from None


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def handle(protocol: Any, value: Any, problem: Problem | None) -> None:
    """Hand one decoded message to pygls' `protocol`, or answer why it cannot be handled."""
    if not isinstance(value, dict):
        log.warning("dropped a message that is not a JSON object: %s", problem or type(value).__name__)
        return
    method = value.get("method")
    is_request = "id" in value and isinstance(method, str)
    problem = problem or _unfit(protocol, value, method, is_request)
    if problem is not None:
        if is_request:
            msg_id = value["id"] if isinstance(value["id"], (int, str)) else None
            answer(protocol, msg_id, *problem)
        else:
            log.warning("dropped a message: %s", problem[1])
        return
    try:
        message = protocol.structure_message(value)
    except JsonRpcException as exc:
        _refuse(protocol, value, method, is_request, exc)
        return
    protocol.handle_message(message)


def _unfit(protocol: Any, value: dict, method: Any, is_request: bool) -> Problem | None:
    """Why a JSON object is not a message to hand on (None when it is)."""
    if value.get("jsonrpc") != "2.0":
        return INVALID_REQUEST, "'jsonrpc' must be \"2.0\""
    if is_request and not isinstance(value["id"], (int, str)):
        return INVALID_REQUEST, "a request's 'id' must be a number or a string"
    if is_request and protocol._shutdown and method != "exit":
        return INVALID_REQUEST, f"'{method}' after 'shutdown': the server only accepts 'exit' now"
    return None


def _refuse(protocol: Any, value: dict, method: Any, is_request: bool, exc: JsonRpcException) -> None:
    """Answer a message whose params (or result) do not have the shape its method needs."""
    cause = exc.__cause__
    if isinstance(cause, ClassValidationError):
        detail = "; ".join(_camel_path(e) for e in transform_error(cause)[:3])
    else:
        detail = str(cause or exc)
    if is_request:
        answer(protocol, value["id"], exc.code, f"invalid params for '{method}': {detail}")
    elif "id" in value and method is None:
        # A client's response we cannot read: fail the request waiting for it, not hang it.
        protocol._handle_response(value["id"], None, ResponseError(code=exc.code, message=detail))
    else:
        log.warning("dropped a '%s' notification with invalid params: %s", method, detail)


def _camel_path(error: str) -> str:
    """`... @ $.params.text_document` -> `... @ $.params.textDocument`."""
    return re.sub(r"(?<=\.)[a-z]+(?:_[a-z]+)+", lambda m: camel(m.group()), error)


def answer(protocol: Any, msg_id: Any, code: int, message: str) -> None:
    log.warning("answered request %r with an error: %s", msg_id, message)
    protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})


async def run(reader: Any, protocol: Any) -> None:
    """Read frames from `reader` and hand them to `protocol` until the stream ends."""
    count = 0
    while True:
        try:
            body = await read_frame(reader)
            if body is None:
                return
            count += 1
            value, problem = decode(body)
        except StreamBroken as exc:
            raise StreamBroken(f"frame {count + 1}: {exc}") from None
        handle(protocol, value, problem)
