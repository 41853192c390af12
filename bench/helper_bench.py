"""Benchmark of the in-container helper (app-server + app-connect), with a peer measured in the same run.

Usage: .venv/bin/python bench/helper_bench.py [--files 1000] [--mb 200] [--quick]

  (a) latency from write+close in a watched folder to the event at a gRPC client through app-connect,
      p50 and p99 over --files files;
  (b) throughput of a --mb MB file on the data lane (OpenTransfer, then the bytes through a second
      app-connect: the engine's path for large files), beside `cat FILE | cat` into the same kind of
      socket, as a ratio; DownloadFile of it over gRPC (informational); and DownloadFiles of the
      10,000-file tree beside `tar cf - | cat`;
  (c) the helper's RSS and CPU while idle over a 10,000-file tree beside an excluded 100,000-file
      node_modules, and its count of inotify watches (none may be inside node_modules).

Prints a table with targets and PASS/FAIL, and writes bench/out/helper_bench.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import grpc

from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
OPTIONS = [("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)]
TICKS = os.sysconf("SC_CLK_TCK")


class Bridge:
    """A local unix socket whose connections are each relayed to the helper by a real app-connect."""

    def __init__(self, helper_sock: str, path: str):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(8)
        self.procs: list[subprocess.Popen] = []
        threading.Thread(target=self._accept, args=(helper_sock,), daemon=True).start()

    def _accept(self, helper_sock: str) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.procs.append(subprocess.Popen([str(BIN / "app-connect"), "--socket", helper_sock],
                                               stdin=conn, stdout=conn))
            conn.close()

    def stub(self) -> pb_grpc.FileServiceStub:
        return pb_grpc.FileServiceStub(grpc.insecure_channel(f"unix:{self.path}", options=OPTIONS))

    def close(self) -> None:
        self.listener.close()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


class Helper:
    def __init__(self, work: pathlib.Path, args: list[str]):
        self.sock = str(work / "helper.sock")
        self.proc = subprocess.Popen([str(BIN / "app-server"), "--socket", self.sock, *args, "--", "sleep", "3600"],
                                     cwd=work, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("app-server did not start")
            time.sleep(0.02)

    def status(self, field: str) -> int:
        for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def watched_inodes(self) -> list[int]:
        out = []
        for entry in pathlib.Path(f"/proc/{self.proc.pid}/fdinfo").iterdir():
            try:
                text = entry.read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("inotify wd:"):
                    out.append(int(dict(f.split(":", 1) for f in line.split()[1:])["ino"], 16))
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_ready(stub) -> None:
    """HELLO is sent once the helper has indexed its targets."""
    call = stub.Watch(pb.FileWatchRequest(protocol=1), wait_for_ready=True)
    next(call)
    call.cancel()


def bench_latency(work: pathlib.Path, files: int) -> dict:
    src = work / "lat"
    src.mkdir()
    helper = Helper(work, ["--targets", "lat"])
    bridge = Bridge(helper.sock, str(work / "bridge-lat.sock"))
    try:
        stub = bridge.stub()
        call = stub.Watch(pb.FileWatchRequest(protocol=1, inline_limit=256 << 10), wait_for_ready=True)
        arrivals: queue.Queue = queue.Queue()

        def read() -> None:
            try:
                for ev in call:
                    if ev.kind == pb.FileEvent.CHANGE:
                        arrivals.put((time.perf_counter(), ev.path))
            except grpc.RpcError:
                pass

        threading.Thread(target=read, daemon=True).start()
        time.sleep(0.3)
        payload = os.urandom(2048)
        lat = []
        for i in range(files + 20):
            name = f"f{i:05}.txt"
            t0 = time.perf_counter()
            with open(src / name, "wb") as f:
                f.write(payload)
            while True:
                t1, path = arrivals.get(timeout=30)
                if path == f"lat/{name}":
                    break
            if i >= 20:  # the first few warm up the connection
                lat.append((t1 - t0) * 1000)
        call.cancel()
    finally:
        bridge.close()
        helper.stop()
    lat.sort()
    return {"p50_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1], "files": len(lat)}


def read_socket_all(conn: socket.socket) -> int:
    total = 0
    buf = bytearray(1 << 20)
    while True:
        n = conn.recv_into(buf)
        if not n:
            return total
        total += n


def peer_pipe(shell: str) -> tuple[float, int]:
    """Seconds and bytes for a shell pipeline whose stdout is a unix socket read by this process."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    t0 = time.perf_counter()
    proc = subprocess.Popen(["sh", "-c", shell], stdout=b)
    b.close()
    total = read_socket_all(a)
    proc.wait()
    a.close()
    return time.perf_counter() - t0, total


PLAIN_SERVER = """
import asyncio, os, sys, grpc
from sync_helper.wire import filedownload_pb2 as pb, filedownload_pb2_grpc as g
class Plain(g.FileServiceServicer):
    async def DownloadFile(self, request, context):
        fd = os.open(sys.argv[2], os.O_RDONLY)
        offset = 0
        while True:
            data = os.pread(fd, 1 << 20, offset)
            if not data:
                break
            offset += len(data)
            yield pb.DownloadResponse(chunk=data)
        os.close(fd)
async def main():
    server = grpc.aio.server(options=[("grpc.max_send_message_length", 8 << 20)])
    g.add_FileServiceServicer_to_server(Plain(), server)
    server.add_insecure_port("unix:" + sys.argv[1])
    await server.start()
    await server.wait_for_termination()
asyncio.run(main())
"""


def timed_download(stub, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    total = 0
    for msg in stub.DownloadFile(pb.DownloadRequest(path=path)):
        total += len(msg.chunk)
    return time.perf_counter() - t0, total


def timed_lane(stub, helper_sock: str, path: str) -> tuple[float, int, str]:
    """The engine's path for a large file: OpenTransfer, then the bytes through a second app-connect
    whose stdout is the same kind of unix socket as the pipe's. Seconds, bytes, the header's MD5."""
    t0 = time.perf_counter()
    ticket = stub.OpenTransfer(pb.DownloadRequest(path=path))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen([str(BIN / "app-connect"), "--socket", helper_sock], stdin=subprocess.PIPE, stdout=b)
    b.close()
    proc.stdin.write(b"DSYNC-DATA/1 " + ticket.token.encode() + b"\n")
    proc.stdin.flush()
    total = read_socket_all(a)
    elapsed = time.perf_counter() - t0
    proc.stdin.close()
    proc.wait()
    a.close()
    assert total == len(b"OK\n") + ticket.header.size + len(b"DONE\n"), total
    return elapsed, ticket.header.size, ticket.header.md5


def bench_throughput(work: pathlib.Path, mb: int, tree: pathlib.Path | None) -> dict:
    data_dir = work / "thr"
    data_dir.mkdir()
    big = data_dir / "big.bin"
    block = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(mb):
            f.write(block)
    expected = hashlib.md5(block * mb).hexdigest()
    targets = "thr" if tree is None else f"thr,{tree.name}"
    helper = Helper(work, ["--targets", targets, "--excludes", "node_modules/*"])
    bridge = Bridge(helper.sock, str(work / "bridge-thr.sock"))
    result: dict = {}
    try:
        stub = bridge.stub()
        wait_ready(stub)
        plain_sock = str(work / "plain.sock")
        plain = subprocess.Popen([sys.executable, "-c", PLAIN_SERVER, plain_sock, str(big)])
        while not os.path.exists(plain_sock):
            time.sleep(0.02)
        plain_bridge = Bridge(plain_sock, str(work / "bridge-plain.sock"))
        plain_stub = plain_bridge.stub()
        best_grpc = best_peer = best_plain = best_lane = float("inf")
        try:
            for _ in range(3):
                elapsed, total, md5 = timed_lane(stub, helper.sock, "thr/big.bin")
                assert total == mb << 20 and md5 == expected
                best_lane = min(best_lane, elapsed)
                t0 = time.perf_counter()
                total, header = 0, None
                for msg in stub.DownloadFile(pb.DownloadRequest(path="thr/big.bin")):
                    if msg.HasField("header"):
                        header = msg.header
                    total += len(msg.chunk)
                elapsed = time.perf_counter() - t0
                assert total == mb << 20 and header.md5 == expected
                best_grpc = min(best_grpc, elapsed)
                elapsed, total = peer_pipe(f"cat {big} | cat")
                assert total == mb << 20
                best_peer = min(best_peer, elapsed)
                elapsed, total = timed_download(plain_stub, "big")
                assert total == mb << 20
                best_plain = min(best_plain, elapsed)
        finally:
            plain_bridge.close()
            plain.kill()
            plain.wait()
        result["plain_grpc_mb_s"] = mb / best_plain
        result["download_mb_s"] = mb / best_grpc
        result["pipe_mb_s"] = mb / best_peer
        result["grpc_ratio"] = best_peer / best_grpc
        result["lane_mb_s"] = mb / best_lane
        result["ratio"] = best_peer / best_lane
        result["peak_rss_mib"] = helper.status("VmHWM") / 1024
        if tree is not None:
            paths = sorted(str(p.relative_to(work)) for p in tree.rglob("*") if p.is_file()
                           and "node_modules" not in p.parts)
            t0 = time.perf_counter()
            count = 0
            for msg in stub.DownloadFiles(pb.DownloadFilesRequest(paths=paths)):
                count += msg.HasField("header") + len(msg.files)
            bulk = time.perf_counter() - t0
            assert count == len(paths)
            listing = work / "list.txt"
            listing.write_text("\n".join(paths))
            tar_s, _ = peer_pipe(f"cd {work} && tar cf - -T {listing} | cat")
            result.update(bulk_files=len(paths), bulk_s=bulk, tar_s=tar_s, bulk_ratio=bulk / tar_s)
    finally:
        bridge.close()
        helper.stop()
    big.unlink()
    return result


def bench_connect_start(work: pathlib.Path, runs: int = 15) -> dict:
    """Wall time of one app-connect run (start, connect, relay an empty stdin, exit), as per connection."""
    listener = socket.socket(socket.AF_UNIX)
    path = str(work / "echo.sock")
    listener.bind(path)
    listener.listen(runs)

    def serve() -> None:
        for _ in range(runs):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "app-connect"), "--socket", path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    listener.close()
    return {"median_ms": statistics.median(times), "runs": runs}


def make_tree(work: pathlib.Path, files: int, excluded: int) -> pathlib.Path:
    tree = work / "app"
    for i in range(files):
        d = tree / "src" / f"d{i // 100:03}"
        if i % 100 == 0:
            d.mkdir(parents=True)
        (d / f"f{i:05}.js").write_bytes(b"export const x = %d;\n" % i)
    for i in range(excluded):
        d = tree / "node_modules" / f"pkg{i // 100:04}"
        if i % 100 == 0:
            d.mkdir(parents=True)
        (d / f"m{i:06}.js").write_bytes(b"module.exports = %d;\n" % i)
    return tree


def bench_idle(work: pathlib.Path, tree: pathlib.Path, seconds: float) -> dict:
    helper = Helper(work, ["--targets", tree.name, "--excludes", "node_modules/*"])
    bridge = Bridge(helper.sock, str(work / "bridge-idle.sock"))
    try:
        stub = bridge.stub()
        t0 = time.perf_counter()
        wait_ready(stub)
        index_s = time.perf_counter() - t0
        call = stub.Watch(pb.FileWatchRequest(protocol=1))  # a connected, idle client
        next(call)
        time.sleep(1.0)
        cpu0, wall0 = helper.cpu_seconds(), time.perf_counter()
        time.sleep(seconds)
        cpu = (helper.cpu_seconds() - cpu0) / (time.perf_counter() - wall0) * 100
        rss = helper.status("VmRSS") / 1024
        watched = helper.watched_inodes()
        excluded = {os.stat(p).st_ino for p in [tree / "node_modules", *(tree / "node_modules").iterdir()]}
        call.cancel()
    finally:
        bridge.close()
        helper.stop()
    return {"index_s": index_s, "cpu_percent": cpu, "rss_mib": rss, "watches": len(watched),
            "watches_in_excluded": len(excluded & set(watched)), "idle_seconds": seconds}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--mb", type=int, default=200)
    p.add_argument("--tree", type=int, default=10_000)
    p.add_argument("--excluded", type=int, default=100_000)
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = p.parse_args()
    if args.quick:
        args.files, args.mb, args.tree, args.excluded, args.idle = 200, 50, 2000, 10_000, 3.0
    work = pathlib.Path(tempfile.mkdtemp(prefix="helper-bench-"))
    try:
        print(f"building a {args.tree}-file tree beside a {args.excluded}-file node_modules ...", file=sys.stderr)
        tree = make_tree(work, args.tree, args.excluded)
        print("(c) idle ...", file=sys.stderr)
        idle = bench_idle(work, tree, args.idle)
        print("(a) latency ...", file=sys.stderr)
        lat = bench_latency(work, args.files)
        print("(b) throughput ...", file=sys.stderr)
        thr = bench_throughput(work, args.mb, tree)
        start = bench_connect_start(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("(a) write+close -> event, p50", f"{lat['p50_ms']:.2f} ms", "", "< 5 ms", lat["p50_ms"] < 5),
        ("(a) write+close -> event, p99", f"{lat['p99_ms']:.2f} ms", "", "< 25 ms", lat["p99_ms"] < 25),
        (f"(b) data lane {args.mb} MB", f"{thr['lane_mb_s']:.0f} MB/s", f"cat|cat {thr['pipe_mb_s']:.0f} MB/s",
         ">= 60% of pipe", thr["ratio"] >= 0.6),
        ("(b)   ratio to the pipe", f"{thr['ratio'] * 100:.0f}%", "", "", None),
        (f"(b)   DownloadFile {args.mb} MB (gRPC)", f"{thr['download_mb_s']:.0f} MB/s",
         f"{thr['grpc_ratio'] * 100:.0f}% of the pipe", "", None),
        ("(b)   plain grpc.aio server, 1 MiB chunks", f"{thr['plain_grpc_mb_s']:.0f} MB/s",
         f"{thr['plain_grpc_mb_s'] / thr['pipe_mb_s'] * 100:.0f}% of the pipe", "", None),
        ("(b)   helper peak RSS", f"{thr['peak_rss_mib']:.0f} MiB", "", "", None),
        # Informational: the bulk target is the engine's, measured end to end in engine_bench.py.
        (f"(b) DownloadFiles {thr['bulk_files']} files", f"{thr['bulk_s']:.2f} s", f"tar|cat {thr['tar_s']:.2f} s",
         f"{thr['bulk_ratio']:.1f}x tar", None),
        ("(c) idle CPU", f"{idle['cpu_percent']:.2f}%", "", "< 0.5%", idle["cpu_percent"] < 0.5),
        ("(c) idle RSS", f"{idle['rss_mib']:.1f} MiB", "", "< 60 MiB", idle["rss_mib"] < 60),
        ("(c) inotify watches", str(idle["watches"]), f"{args.tree // 100 + 2} folders to watch", "", None),
        ("(c) watches in node_modules", str(idle["watches_in_excluded"]), "", "0", idle["watches_in_excluded"] == 0),
        ("(c) initial index", f"{idle['index_s']:.2f} s", "", "", None),
        ("app-connect run (start to exit)", f"{start['median_ms']:.0f} ms", "", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'helper':>12}  {'peer':<26}  {'target':<20}  result")
    for name, value, peer, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name.ljust(width)}  {value:>12}  {peer:<26}  {target:<20}  {verdict}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    report = {"latency": lat, "throughput": thr, "idle": idle, "app_connect": start, "args": vars(args),
              "results": {r[0]: {"value": r[1], "peer": r[2], "target": r[3], "pass": r[4]} for r in rows}}
    (out / "helper_bench.json").write_text(json.dumps(report, indent=2))
    print(f"report: {out / 'helper_bench.json'}")
    return 0 if all(r[4] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
