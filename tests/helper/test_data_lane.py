"""The data lane: OpenTransfer tickets, then raw bytes through a second, real app-connect."""

import hashlib
import os
import stat
import subprocess

import grpc
import pytest
from helper_procs import APP_CONNECT, watch

from sync_helper.wire import filedownload_pb2 as pb


@pytest.fixture
def served(run_helper, bridge, tmp_path):
    src = tmp_path / "work" / "src"
    src.mkdir(parents=True)
    helper = run_helper(["--targets", "src", "--excludes", "secret.txt"])
    stub = bridge(helper).stub()
    watch(stub).next()  # the helper has indexed its targets
    return helper, stub, src


def lane(helper, token: str, before_read=None) -> bytes:
    """Everything the helper answers on the data lane for `token`, through a new app-connect."""
    proc = subprocess.Popen([APP_CONNECT, "--socket", helper.sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    proc.stdin.write(b"DSYNC-DATA/1 " + token.encode() + b"\n")
    proc.stdin.flush()
    if before_read is not None:
        before_read()
    out = proc.stdout.read()
    proc.stdin.close()
    proc.wait(10)
    return out


def test_large_file_through_the_lane(served):
    helper, stub, src = served
    data = os.urandom((20 << 20) + 3)
    (src / "big.bin").write_bytes(data)
    os.chmod(src / "big.bin", 0o750)
    ticket = stub.OpenTransfer(pb.DownloadRequest(path="src/big.bin"))
    h = ticket.header
    assert (h.path, h.size, h.md5, h.mode) == ("src/big.bin", len(data), hashlib.md5(data).hexdigest(), 0o750)
    assert lane(helper, ticket.token) == b"OK\n" + data + b"DONE\n"


def test_a_token_serves_once_and_unknown_tokens_are_refused(served):
    helper, stub, src = served
    (src / "f.bin").write_bytes(b"abc")
    ticket = stub.OpenTransfer(pb.DownloadRequest(path="src/f.bin"))
    assert lane(helper, ticket.token) == b"OK\nabcDONE\n"
    assert lane(helper, ticket.token).startswith(b"ERR ")
    assert lane(helper, "0" * 32).startswith(b"ERR ")


def test_a_file_changed_after_its_ticket_is_reported_changed(served):
    helper, stub, src = served
    data = os.urandom(12 << 20)
    (src / "big.bin").write_bytes(data)
    ticket = stub.OpenTransfer(pb.DownloadRequest(path="src/big.bin"))

    def write() -> None:
        with open(src / "big.bin", "r+b") as f:
            f.write(b"x" * 10)
    out = lane(helper, ticket.token, before_read=write)
    assert not out.endswith(b"DONE\n")


def test_a_file_that_shrank_ends_without_a_trailer(served):
    helper, stub, src = served
    (src / "big.bin").write_bytes(os.urandom(9 << 20))
    ticket = stub.OpenTransfer(pb.DownloadRequest(path="src/big.bin"))
    os.truncate(src / "big.bin", 1000)
    out = lane(helper, ticket.token)
    assert out.startswith(b"OK\n") and len(out) == 3 + 1000


def test_refused_paths_get_no_ticket(served, tmp_path):
    helper, stub, src = served
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", src / "link.txt")
    (src / "secret.txt").write_text("excluded")
    os.mkfifo(src / "fifo")
    for path in ("src/link.txt", "src/secret.txt", "src/fifo", "src/../outside.txt", "outside.txt"):
        with pytest.raises(grpc.RpcError) as e:
            stub.OpenTransfer(pb.DownloadRequest(path=path))
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, path
    with pytest.raises(grpc.RpcError) as e:
        stub.OpenTransfer(pb.DownloadRequest(path="src/missing.bin"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_data_socket_is_private(served):
    helper, _, _ = served
    assert stat.S_IMODE(os.stat(helper.sock + ".data").st_mode) == 0o600


def test_app_connect_without_a_data_socket_fails_clearly(tmp_path):
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "grpc-only.sock"))
    sock.listen(1)
    proc = subprocess.run([APP_CONNECT, "--socket", str(tmp_path / "grpc-only.sock")], input=b"DSYNC-DATA/1 x\n",
                          capture_output=True, timeout=10)
    sock.close()
    assert proc.returncode == 1 and proc.stdout == b""
    assert b"data lane" in proc.stderr


def test_unclaimed_tickets_are_bounded(served):
    """Each ticket holds an open file: past the cap the oldest are closed, so fds stay bounded."""
    from sync_helper.transfer import MAX_TICKETS

    helper, stub, src = served
    (src / "f.bin").write_bytes(b"abc")
    fds = lambda: len(os.listdir(f"/proc/{helper.proc.pid}/fd"))  # noqa: E731
    before = fds()
    tokens = [stub.OpenTransfer(pb.DownloadRequest(path="src/f.bin")).token for _ in range(MAX_TICKETS + 20)]
    assert fds() - before <= MAX_TICKETS
    assert lane(helper, tokens[0]).startswith(b"ERR ")
    assert lane(helper, tokens[-1]) == b"OK\nabcDONE\n"
