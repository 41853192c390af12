"""DownloadFile and DownloadFiles through app-connect: sizes, flat memory, refusals, torn reads, disconnects."""

import hashlib
import os
import threading

import grpc
import pytest
from helper_procs import watch

from sync_helper.wire import filedownload_pb2 as pb


@pytest.fixture
def served(run_helper, bridge, tmp_path):
    src = tmp_path / "work" / "src"
    (src / "node_modules").mkdir(parents=True)
    helper = run_helper(["--targets", "src", "--excludes", "node_modules/**,secret.txt"])
    stub = bridge(helper).stub()
    watch(stub).next()  # the helper has indexed its targets
    return helper, stub, src


def download(stub, path):
    msgs = list(stub.DownloadFile(pb.DownloadRequest(path=path)))
    assert msgs[0].HasField("header") and not msgs[0].chunk
    return msgs[0].header, b"".join(m.chunk for m in msgs[1:]), msgs


@pytest.mark.parametrize("size", [0, 1, 300 << 10, (3 << 20) + 7])
def test_download_sizes(served, size):
    _, stub, src = served
    data = os.urandom(size)
    (src / "f.bin").write_bytes(data)
    os.chmod(src / "f.bin", 0o751)
    header, body, msgs = download(stub, "src/f.bin")
    assert body == data
    assert (header.path, header.size, header.md5, header.mode) == ("src/f.bin", size, hashlib.md5(data).hexdigest(), 0o751)
    assert all(len(m.chunk) <= 1 << 20 for m in msgs)


def test_a_100_mb_download_keeps_memory_flat(served):
    helper, stub, src = served
    size = 100 << 20
    block = os.urandom(1 << 20)
    with open(src / "big.bin", "wb") as f:
        for _ in range(100):
            f.write(block)
    before = helper.rss_kib("VmRSS")
    h = hashlib.md5()
    total = 0
    for msg in stub.DownloadFile(pb.DownloadRequest(path="src/big.bin")):
        if msg.HasField("header"):
            header = msg.header
        h.update(msg.chunk)
        total += len(msg.chunk)
    assert total == size and h.hexdigest() == header.md5 == hashlib.md5(block * 100).hexdigest()
    grown_mib = (helper.rss_kib("VmHWM") - before) / 1024
    assert grown_mib < 40, f"the helper's peak memory grew by {grown_mib:.0f} MiB for a 100 MiB file"


def test_missing_files_are_not_found(served):
    _, stub, src = served
    with pytest.raises(grpc.RpcError) as e:
        download(stub, "src/nothing.txt")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "src/nothing.txt" in e.value.details()


@pytest.mark.parametrize("path", ["src/../outside.txt", "../outside.txt", "/etc/passwd", "outside.txt",
                                  "src/node_modules/x.js", "src/secret.txt", "src/link-out", "src/dirlink/x.txt",
                                  "src/fifo", "src", "src/sub"])
def test_escapes_and_excluded_paths_are_refused(served, path, tmp_path):
    _, stub, src = served
    (tmp_path / "work" / "outside.txt").write_bytes(b"secret")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_bytes(b"secret")
    (src / "node_modules" / "x.js").write_bytes(b"x")
    (src / "secret.txt").write_bytes(b"x")
    (src / "sub").mkdir()
    (src / "link-out").symlink_to(tmp_path / "work" / "outside.txt")
    (src / "dirlink").symlink_to(tmp_path / "elsewhere")
    os.mkfifo(src / "fifo")
    with pytest.raises(grpc.RpcError) as e:
        download(stub, path)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value.details()
    assert path in e.value.details()


def test_download_files_streams_many_files_and_reports_errors_per_path(served):
    _, stub, src = served
    contents = {f"src/d/f{i}": os.urandom(i * 1000) for i in range(20)}
    (src / "d").mkdir()
    for path, data in contents.items():
        (src.parent / path).write_bytes(data)
    big = os.urandom((2 << 20) + 3)
    (src / "big").write_bytes(big)
    paths = [*contents, "src/missing", "src/big", "../x"]
    got: dict = {}
    errors = {}
    current = None
    packs = []
    for msg in stub.DownloadFiles(pb.DownloadFilesRequest(paths=paths)):
        if msg.HasField("error"):
            errors[msg.error.path] = msg.error.code
            continue
        if msg.files:
            packs.append([blob.header.path for blob in msg.files])
            for blob in msg.files:
                assert blob.header.md5 == hashlib.md5(blob.content).hexdigest()
                got[blob.header.path] = bytearray(blob.content)
            continue
        if msg.HasField("header"):
            current = msg.header
            got[current.path] = bytearray()
        got[current.path] += msg.chunk
    assert errors == {"src/missing": pb.FileError.NOT_FOUND, "../x": pb.FileError.REFUSED}
    assert list(got) == [*contents, "src/big"]
    assert {p: bytes(b) for p, b in got.items()} == {**contents, "src/big": big}
    assert packs == [list(contents)]  # the small files went whole, in one message, in request order


def test_a_file_that_changes_while_read_is_never_served_torn(served):
    _, stub, src = served
    path = src / "busy.bin"
    path.write_bytes(os.urandom(20 << 20))
    stop = threading.Event()

    def scribble():
        with open(path, "r+b") as f:
            while not stop.is_set():
                f.seek(int.from_bytes(os.urandom(3), "big") % (20 << 20))
                f.write(os.urandom(4096))
                f.flush()

    writer = threading.Thread(target=scribble)
    writer.start()
    aborted = 0
    try:
        for _ in range(5):
            try:
                header, body, _ = download(stub, "src/busy.bin")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.ABORTED and "changed while it was read" in e.details()
                aborted += 1
                continue
            assert hashlib.md5(body).hexdigest() == header.md5 and len(body) == header.size
    finally:
        stop.set()
        writer.join()
    assert aborted, "the file was rewritten all along, yet every download completed"


def test_a_client_that_leaves_mid_download_does_no_harm(served):
    helper, stub, src = served
    data = os.urandom(30 << 20)
    (src / "big.bin").write_bytes(data)
    call = stub.DownloadFile(pb.DownloadRequest(path="src/big.bin"))
    next(call), next(call)
    call.cancel()
    header, body, _ = download(stub, "src/big.bin")
    assert body == data and helper.proc.poll() is None


def test_an_indexed_file_written_during_its_download_is_not_completed(run_helper, bridge, tmp_path):
    """A file the helper indexed at start and that was not written since is streamed without rehashing;
    a write during the stream must still end it with ABORTED (or, if the write came after the last read,
    a complete copy of the earlier content: never a mix)."""
    src = tmp_path / "work" / "src"
    src.mkdir(parents=True)
    original = os.urandom(64 << 20)
    (src / "old.bin").write_bytes(original)
    os.utime(src / "old.bin", (1_600_000_000, 1_600_000_000))
    helper = run_helper(["--targets", "src"])
    stub = bridge(helper).stub()
    watch(stub).next()
    header, body, _ = download(stub, "src/old.bin")
    assert body == original and header.md5 == hashlib.md5(original).hexdigest()

    call = stub.DownloadFile(pb.DownloadRequest(path="src/old.bin"))
    received = [next(call), next(call)]
    with open(src / "old.bin", "r+b") as f:
        f.seek(48 << 20)
        f.write(b"\0" * 4096)
    try:
        received.extend(call)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.ABORTED
    else:
        assert b"".join(m.chunk for m in received) == original
