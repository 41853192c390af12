"""The standalone helper binaries (helper/build.sh) beside the Python helper (the venv's entry points),
same run, same machine:

  start    app-connect: from its exec until a byte has gone through it both ways (it runs once per
           connection), median of --runs; app-server: from its exec until its socket answers gRPC;
  size     of both binaries together;
  idle     RSS of the helper (all its processes: the standalone one is three, staticx's and
           PyInstaller's launchers and Python) idle after indexing a 10,000-file tree;
  latency  end to end, write+close in the "container" until the bytes are on local disk, p50/p99
           over --files files one after the other, through a real engine session in its own process;
  burst    --bulk files of 4 KB appearing at once, until the trees match.

    .venv/bin/python bench/binaries_bench.py [--runs 20] [--files 500] [--bulk 10000]

Targets: app-connect relaying within 150 ms of its exec, both binaries under 40 MB together, idle
RSS under 60 MB. Prints a table with ratios (standalone / Python) and PASS/FAIL; writes
bench/out/binaries_bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from engine_bench import MAKE_FILES, bulk_engine, latency, pct, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
OUT = Path(__file__).parent / "out" / "binaries_bench.json"


def standalone_dir() -> Path:
    out = ROOT / ".cache" / "binaries" / "linux-amd64"
    subprocess.run(["bash", str(ROOT / "helper" / "build.sh"), str(out)], check=True)
    return out


# --- start -----------------------------------------------------------------------------------

def connect_start(app_connect: str, work: Path, runs: int) -> tuple[list[float], list[float]]:
    """exec app-connect, write one byte, wait for the peer's answer through it: the wall times,
    and the CPU time of each run (all its processes), which the machine's load moves less."""
    sock_path = str(work / "echo.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock_path)
    listener.listen(8)

    def echo() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(1)
                if data:
                    conn.sendall(b"!")
    threading.Thread(target=echo, daemon=True).start()
    env = {**os.environ, "TMPDIR": str(work)}
    times, cpu = [], []
    try:
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.Popen([app_connect, "--socket", sock_path], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, env=env)
            proc.stdin.write(b"P")
            proc.stdin.flush()
            answer = proc.stdout.read(1)
            times.append(time.perf_counter() - t0)
            assert answer == b"!", "app-connect relayed nothing"
            proc.stdin.close()
            proc.wait()
            proc.stdout.close()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    finally:
        listener.close()
        os.unlink(sock_path)
    return times, cpu


def server_start(app_server: str, work: Path, runs: int) -> list[float]:
    """exec app-server (no targets), until a Watch call over its socket returns the first message."""
    import grpc

    from sync_helper.wire import filedownload_pb2 as pb
    from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

    times = []
    for i in range(runs):
        sock = work / f"start{i}.sock"
        t0 = time.perf_counter()
        proc = subprocess.Popen([app_server, "--socket", str(sock)], stderr=subprocess.DEVNULL,
                                env={**os.environ, "TMPDIR": str(work)})
        try:
            wait_for(sock.exists, 30, "app-server's socket")
            channel = grpc.insecure_channel(f"unix:{sock}")
            grpc.channel_ready_future(channel).result(timeout=30)
            times.append(time.perf_counter() - t0)
            channel.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    del pb, pb_grpc
    return times


# --- idle RSS --------------------------------------------------------------------------------

def tree_rss_kib(pid: int) -> int:
    """RSS of `pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def idle_rss(app_server: str, work: Path) -> dict:
    root = work / "idle"
    root.mkdir()
    subprocess.run([sys.executable, "-c", MAKE_FILES, str(root / "src"), "10000"], check=True)
    sock = work / "idle.sock"
    proc = subprocess.Popen([app_server, "--targets", "src", "--socket", str(sock)], cwd=root,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(work)})
    try:
        wait_for(sock.exists, 30, "app-server's socket")
        time.sleep(5)  # indexing done, then idle
        kib = tree_rss_kib(proc.pid)
        count = 1 + len(_descendants(proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(root)
    return {"rss_mib": kib / 1024, "processes": count}


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = [int(p) for p in out]
    for p in list(found):
        found += _descendants(p)
    return found


# --- end to end ------------------------------------------------------------------------------

def run_session(project: str, app_connect: str, sock: str) -> None:
    """`binaries_bench.py _session PROJECT APP_CONNECT SOCK`: sync src -> out; print "ready"."""
    from downstream_sync.cluster.transport import CommandTransport
    from downstream_sync.sync.events import SessionState, StateChanged
    from downstream_sync.sync.rules import RuleSet
    from downstream_sync.sync.session import Session

    async def main() -> None:
        root = Path(project)
        session = Session("bench", RuleSet.from_download([("src", "out")], [], root),
                          CommandTransport([app_connect, "--socket", sock]), root)

        def on_event(e) -> None:
            if isinstance(e, StateChanged) and e.state is SessionState.WATCHING:
                print("ready", flush=True)
        session.subscribe(on_event)
        await session.start()
        await session.wait()

    asyncio.run(main())


class Engine:
    """A real app-server (either build) over a "container" folder, a real engine session through
    the same build's app-connect; the attributes engine_bench's cases use."""

    def __init__(self, work: Path, name: str, binaries: Path):
        self.name, self.binaries = name, binaries
        self.container = work / f"{name}-container"
        self.src = self.container / "src"
        self.project = work / f"{name}-project"
        self.dst = self.project / "out"
        self.sock = work / f"{name}.sock"
        self.env = {**os.environ, "TMPDIR": str(work)}
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self.src.mkdir(parents=True)
        self.project.mkdir()
        self.procs.append(subprocess.Popen([str(self.binaries / "app-server"), "--targets", "src", "--socket",
                                            str(self.sock)], cwd=self.container, stderr=subprocess.DEVNULL,
                                           env=self.env))
        wait_for(self.sock.exists, 30, "app-server's socket")
        session = subprocess.Popen([sys.executable, __file__, "_session", str(self.project),
                                    str(self.binaries / "app-connect"), str(self.sock)],
                                   stdout=subprocess.PIPE, text=True, env=self.env)
        self.procs.append(session)
        if session.stdout.readline().strip() != "ready":
            raise SystemExit(f"{self.name}: the engine's session did not start")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


# --- report ----------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_session":
        run_session(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="starts measured per binary")
    ap.add_argument("--files", type=int, default=500, help="small files for the latency case")
    ap.add_argument("--bulk", type=int, default=10_000, help="files for the burst (a multiple of 100)")
    args = ap.parse_args()
    builds = {"standalone": standalone_dir(), "python": VENV_BIN}
    report: dict = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg(), "builds": {}}
    work = Path(tempfile.mkdtemp(prefix="binaries-bench-"))
    try:
        for name, folder in builds.items():
            r: dict = {}
            print(f"{name}: start, idle ...", file=sys.stderr)
            wall, cpu = connect_start(str(folder / "app-connect"), work, args.runs)
            r["connect_ms"], r["connect_cpu_ms"] = statistics.median(wall) * 1000, statistics.median(cpu) * 1000
            r["connect_min_ms"] = min(wall) * 1000
            r["server_ms"] = statistics.median(server_start(str(folder / "app-server"), work, max(3, args.runs // 4))) * 1000
            r["idle"] = idle_rss(str(folder / "app-server"), work)
            print(f"{name}: latency over {args.files} files, burst of {args.bulk} ...", file=sys.stderr)
            engine = Engine(work, name, folder)
            engine.start()
            try:
                lat = latency(engine, args.files)
                r["latency_p50_ms"], r["latency_p99_ms"] = pct(lat, 50) * 1000, pct(lat, 99) * 1000
                r["burst"] = bulk_engine(engine, args.bulk)
            finally:
                engine.stop()
            report["builds"][name] = r
        folder = builds["standalone"]
        report["size_mb"] = sum((folder / n).stat().st_size for n in ("app-server", "app-connect")) / 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["loadavg_after"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(r: dict) -> None:
    s, p = r["builds"]["standalone"], r["builds"]["python"]
    rows = [
        ("app-connect exec to relay (ms)", s["connect_ms"], p["connect_ms"], s["connect_ms"] < 150, "< 150"),
        ("app-connect, fastest of the runs (ms)", s["connect_min_ms"], p["connect_min_ms"], None, ""),
        ("app-connect CPU per run (ms)", s["connect_cpu_ms"], p["connect_cpu_ms"], None, ""),
        ("app-server exec to gRPC ready (ms)", s["server_ms"], p["server_ms"], None, ""),
        ("idle RSS, all processes (MiB)", s["idle"]["rss_mib"], p["idle"]["rss_mib"], s["idle"]["rss_mib"] < 60, "< 60"),
        ("latency p50 (ms)", s["latency_p50_ms"], p["latency_p50_ms"], None, ""),
        ("latency p99 (ms)", s["latency_p99_ms"], p["latency_p99_ms"], None, ""),
        ("burst of files (s)", s["burst"]["seconds"], p["burst"]["seconds"],
         s["burst"]["trees_match"] and p["burst"]["trees_match"] or False, "trees match"),
    ]
    print(f"{'measure':38} {'standalone':>11} {'python':>9} {'ratio':>7}  target")
    for label, a, b, ok, target in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{label:38} {a:11.1f} {b:9.1f} {a / b:7.2f}  {target} {verdict}")
    size = r["size_mb"]
    print(f"{'both binaries (MB)':38} {size:11.1f} {'':>9} {'':>7}  < 40 {'PASS' if size < 40 else 'FAIL'}")
    print(f"(standalone helper: {s['idle']['processes']} processes; python: {p['idle']['processes']}; "
          f"load average {r['loadavg_before'][0]:.1f} before, {r['loadavg_after'][0]:.1f} after, {r['cpus']} CPUs)")


if __name__ == "__main__":
    main()
