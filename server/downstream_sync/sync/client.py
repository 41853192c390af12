"""The gRPC wire client of the helper's FileService, over the bridge's unix socket.

One channel per connection attempt, so every attempt runs the transport's command afresh.
`download_files` turns the DownloadFiles stream into (kind, path, payload) steps. Must not
import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from sync_helper.channel import KEEPALIVE_MS, MAX_MESSAGE, client_options
from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

__all__ = ["HelperClient", "pb", "MAX_MESSAGE", "INLINE_LIMIT", "connection_lost"]

INLINE_LIMIT = 256 << 10
_LOST = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL,
         grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED)


def connection_lost(e: BaseException) -> bool:
    """Whether a gRPC error means the stream to the helper is gone (as opposed to a per-file error)."""
    return isinstance(e, grpc.aio.AioRpcError) and e.code() in _LOST


class HelperClient:
    def __init__(self, target: str, keepalive_ms: int = KEEPALIVE_MS):
        self.channel = grpc.aio.insecure_channel(target, options=[
            *client_options(keepalive_ms),
            ("grpc.enable_retries", 0),
            # Its own subchannel: one of an earlier attempt, in its reconnect backoff, would fail this
            # attempt at once without running the transport's command (and its message would be lost).
            ("grpc.use_local_subchannel_pool", 1),
            # A transport may take seconds to start (kubectl exec); the session does its own backoff.
            ("grpc.min_reconnect_backoff_ms", 20000),
        ])
        self.stub = pb_grpc.FileServiceStub(self.channel)
        self.has_download_files = True

    def watch(self, *, since_version: int, instance_id: str, snapshot: bool,
              inline_limit: int = INLINE_LIMIT):
        return self.stub.Watch(pb.FileWatchRequest(
            protocol=1, since_version=since_version, instance_id=instance_id, snapshot=snapshot,
            inline_limit=inline_limit, batch=True))

    async def download_files(self, paths: list[str]) -> AsyncIterator[pb.DownloadResponse]:
        """The raw DownloadFiles stream; falls back to one DownloadFile per path on an older helper."""
        if self.has_download_files:
            call = self.stub.DownloadFiles(pb.DownloadFilesRequest(paths=paths))
            try:
                async for msg in call:
                    yield msg
                return
            except grpc.aio.AioRpcError as e:
                if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self.has_download_files = False
            finally:
                call.cancel()
        for path in paths:
            call = self.stub.DownloadFile(pb.DownloadRequest(path=path))
            try:
                first = True
                async for msg in call:
                    if first and not msg.HasField("header"):
                        raise RuntimeError(f"the helper sent no header for {path}; it is too old for this client")
                    first = False
                    yield msg
            except grpc.aio.AioRpcError as e:
                if connection_lost(e):
                    raise
                code = {grpc.StatusCode.NOT_FOUND: pb.FileError.NOT_FOUND,
                        grpc.StatusCode.PERMISSION_DENIED: pb.FileError.REFUSED,
                        grpc.StatusCode.ABORTED: pb.FileError.CHANGED}.get(e.code(), pb.FileError.UNREADABLE)
                yield pb.DownloadResponse(error=pb.FileError(path=path, code=code, message=e.details() or ""))
            finally:
                call.cancel()

    async def close(self) -> None:
        await self.channel.close(grace=None)
