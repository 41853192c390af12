"""Facts of the file protocol that both ends must agree on, in one place: sizes, the data lane's
lines, how a failure to serve a file is coded, and how content is hashed.

The "did this file change while I read it?" test is reads.py, message limits and keepalive are
channel.py, exclude semantics globs.py. Imported by the helper and by the engine; must not import
grpc, watchdog or asyncio (the gRPC status of each code is named by a string).
"""

from __future__ import annotations

import hashlib
import os

from .wire import filedownload_pb2 as pb

__all__ = ["CHUNK", "PACK", "PACK_BYTES", "MAX_INLINE", "LANE_MIN", "PREFACE", "LANE_OK", "LANE_DONE",
           "LANE_CHANGED", "LANE_ERR", "NOT_FOUND", "REFUSED", "UNREADABLE", "CHANGED", "STATUS_OF_CODE",
           "code_of_status", "md5_hex", "md5_file", "new_md5"]

CHUNK = 1 << 20          # bytes per DownloadResponse chunk, and per read when hashing
PACK = 64 << 10          # DownloadFiles sends files up to this size whole, several to a message
PACK_BYTES = 1 << 20     # and closes such a message once it holds this much
MAX_INLINE = 256 << 10   # a file event carries the content of files up to this size
LANE_MIN = 8 << 20       # files of this size or more go through the data lane when it is there

# The data lane (transfer.py on the helper, lane.py on the engine): the client writes PREFACE, the
# token and a newline; the helper answers LANE_OK, the bytes and LANE_DONE or LANE_CHANGED, or
# LANE_ERR and a reason on one line.
PREFACE = b"DSYNC-DATA/1 "
LANE_OK = b"OK\n"
LANE_DONE = b"DONE\n"
LANE_CHANGED = b"CHANGED\n"
LANE_ERR = b"ERR"

# FileError.Code (proto/filedownload.proto): why a file of DownloadFiles was not sent.
NOT_FOUND, REFUSED, CHANGED, UNREADABLE = (pb.FileError.NOT_FOUND, pb.FileError.REFUSED, pb.FileError.CHANGED,
                                           pb.FileError.UNREADABLE)

# A single-file call (DownloadFile, OpenTransfer) ends with this gRPC status for each code.
STATUS_OF_CODE = {NOT_FOUND: "NOT_FOUND", REFUSED: "PERMISSION_DENIED", UNREADABLE: "PERMISSION_DENIED",
                  CHANGED: "ABORTED"}


def code_of_status(status_name: str) -> int:
    """The FileError code of a single-file call that ended with the gRPC status so named
    (`grpc.StatusCode.X.name`); UNREADABLE for any status STATUS_OF_CODE does not use."""
    return {"NOT_FOUND": NOT_FOUND, "PERMISSION_DENIED": REFUSED, "ABORTED": CHANGED}.get(status_name, UNREADABLE)


def new_md5():
    """The hash both sides put on file content (FileEvent.MD5Hash, FileHeader.md5)."""
    return hashlib.md5()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_file(path: "os.PathLike[str] | str") -> str:
    """The content hash of a whole file, read in CHUNK blocks."""
    h = hashlib.md5()
    with open(path, "rb", buffering=0) as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()
