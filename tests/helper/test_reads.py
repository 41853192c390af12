"""Did this file change while it was read: a file that only grew gives a consistent prefix (by one
stat, two reads that agree), a file rewritten in place does not; and DownloadFile of a file being
appended to serves such prefixes through a real app-server and real gRPC instead of ABORTED."""

import hashlib
import os
import threading
import time

import grpc

from sync_helper.reads import prefix_md5, read_prefix, consistent_prefix
from sync_helper.wire import filedownload_pb2 as pb


def _opened(path):
    fd = os.open(path, os.O_RDONLY)
    return fd, os.fstat(fd)


def test_unchanged_and_appended_files_are_consistent_a_rewrite_is_not(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"a" * 1000)
    fd, st = _opened(path)
    try:
        md5 = prefix_md5(fd, st.st_size)
        assert md5 == hashlib.md5(b"a" * 1000).hexdigest() and consistent_prefix(fd, st, md5)
        with open(path, "ab") as f:
            f.write(b"more")
        assert consistent_prefix(fd, st, md5) and consistent_prefix(fd, st, read_prefix(fd, st.st_size))
    finally:
        os.close(fd)

    fd, st = _opened(path)
    try:
        md5 = prefix_md5(fd, st.st_size)
        time.sleep(0.01)  # a later mtime tick
        with open(path, "r+b") as f:
            f.write(b"b")  # rewritten in place, same size
        assert not consistent_prefix(fd, st, md5)
        with open(path, "ab") as f:
            f.write(b"grown, but its prefix differs from the first read")
        assert not consistent_prefix(fd, st, md5)
    finally:
        os.close(fd)

    fd, st = _opened(path)
    try:
        os.truncate(path, 10)
        assert read_prefix(fd, st.st_size) is None and prefix_md5(fd, st.st_size) is None
        assert not consistent_prefix(fd, st, "")
    finally:
        os.close(fd)


def test_download_of_a_file_being_appended_serves_consistent_prefixes(run_helper, bridge, tmp_path):
    """Before the fix: 10 of 10 downloads were ABORTED while the file grew."""

    src = tmp_path / "work" / "src"
    src.mkdir(parents=True)
    log = src / "app.log"
    log.write_bytes(os.urandom(3 << 20))
    helper = run_helper(["--targets", "src"])
    stub = bridge(helper).stub()
    stop = threading.Event()

    def append() -> None:
        with open(log, "ab") as f:
            while not stop.is_set():
                f.write(os.urandom(100))
                f.flush()
                time.sleep(0.001)

    writer = threading.Thread(target=append)
    writer.start()
    served, aborted = [], []
    try:
        for _ in range(10):
            try:
                msgs = list(stub.DownloadFile(pb.DownloadRequest(path="src/app.log")))
            except grpc.RpcError as e:
                aborted.append(e.code())
                continue
            header = msgs[0].header
            data = b"".join(m.chunk for m in msgs[1:])
            assert len(data) == header.size and hashlib.md5(data).hexdigest() == header.md5
            with open(log, "rb") as f:
                assert f.read(len(data)) == data
            served.append(len(data))
    finally:
        stop.set()
        writer.join()
    assert not aborted, f"{len(aborted)} of 10 downloads aborted while the file grew"
    assert len(served) == 10 and served == sorted(served)
