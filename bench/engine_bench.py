"""Sync engine benchmark, each case beside a peer measured in the same run:

  (a) end-to-end latency, write+close in the "container" until identical bytes are on local disk,
      p50 and p99 over small files written one after the other, beside lsyncd (default.direct,
      delay = 0) and unison (-repeat 1; it polls once a second, so its files are written one every
      10 ms instead of one after the other) doing a one-way live sync of the same folder;
  (b) 10,000 files of 4 KB appearing at once (moved into the watched folder), time until the trees
      match, beside tar -c | tar -x of the same tree;
  (c) one 1 GB file, beside cat | cat.

    .venv/bin/python bench/engine_bench.py [--files 1000] [--bulk 10000] [--large-mb 1024] [--cases abc]

The "container" is a local folder watched by a real app-server; the engine runs as a real session
in its own process and reaches the helper through app-connect, as it would through kubectl exec.
Each tool runs alone in its own phase. Prints a table with targets and PASS/FAIL and writes
bench/out/engine_bench.json. Installs lsyncd and unison with apt-get when missing and root.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
OUT = Path(__file__).parent / "out" / "engine_bench.json"
PACE = 0.01  # seconds between two files in the latency case


# --- the engine, in its own process ---------------------------------------------------------

def run_session(project: str, sock: str) -> None:
    """`engine_bench.py _session PROJECT SOCK`: sync src -> out; print "ready" once watching."""
    from downstream_sync.cluster.transport import CommandTransport
    from downstream_sync.sync.events import SessionState, StateChanged
    from downstream_sync.sync.rules import RuleSet
    from downstream_sync.sync.session import Session

    async def main() -> None:
        root = Path(project)
        session = Session("bench", RuleSet.from_download([("src", "out")], [], root),
                          CommandTransport([str(BIN / "app-connect"), "--socket", sock]), root)

        def on_event(e) -> None:
            if isinstance(e, StateChanged) and e.state is SessionState.WATCHING:
                print("ready", flush=True)
        session.subscribe(on_event)
        await session.start()
        await session.wait()

    asyncio.run(main())


# --- tools -----------------------------------------------------------------------------------

def ensure_tools() -> None:
    missing = [t for t in ("lsyncd", "unison") if shutil.which(t) is None]
    if missing and os.geteuid() == 0:
        print(f"installing {' '.join(missing)} ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False,
                       stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


class Engine:
    name = "downstream-sync"

    def __init__(self, work: Path):
        self.container = work / "engine-container"
        self.src = self.container / "src"
        self.project = work / "engine-project"
        self.dst = self.project / "out"
        self.sock = work / "helper.sock"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self.src.mkdir(parents=True)
        self.project.mkdir()
        helper = subprocess.Popen([str(BIN / "app-server"), "--targets", "src", "--socket", str(self.sock)],
                                  cwd=self.container, stderr=subprocess.DEVNULL)
        self.procs.append(helper)
        wait_for(lambda: self.sock.exists(), 30, "app-server's socket")
        session = subprocess.Popen([sys.executable, __file__, "_session", str(self.project), str(self.sock)],
                                   stdout=subprocess.PIPE, text=True)
        self.procs.append(session)
        assert session.stdout is not None
        line = session.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit("the engine's session did not start")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


class Lsyncd:
    name = "lsyncd"

    def __init__(self, work: Path):
        self.src = work / "lsyncd-src"
        self.dst = work / "lsyncd-dst"
        self.conf = work / "lsyncd.conf.lua"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.src.mkdir()
        self.dst.mkdir()
        self.conf.write_text(
            'settings { nodaemon = true, insist = true }\n'
            f'sync {{ default.direct, source = "{self.src}", target = "{self.dst}", delay = 0 }}\n')
        self.proc = subprocess.Popen(["lsyncd", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        probe(self)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


class Unison:
    name = "unison"

    def __init__(self, work: Path):
        self.src = work / "unison-src"
        self.dst = work / "unison-dst"
        self.home = work / "unison-home"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.src.mkdir()
        self.dst.mkdir()
        self.home.mkdir()
        self.proc = subprocess.Popen(
            ["unison", str(self.src), str(self.dst), "-batch", "-auto", "-silent", "-repeat", "1",
             "-force", str(self.src), "-confirmbigdel=false", "-ui", "text"],
            env={**os.environ, "UNISON": str(self.home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe(self)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


def wait_for(predicate, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.005)


def probe(tool) -> None:
    """Wait until the tool syncs a first file, so it is surely watching."""
    (tool.src / "probe").write_text("probe")
    wait_for(lambda: (tool.dst / "probe").exists(), 60, f"{tool.name} to start syncing")


def same(path: Path, data: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


# --- (a) latency -----------------------------------------------------------------------------

def latency(tool, files: int) -> list[float]:
    """Write one small file, wait until it arrives intact, then the next: latency, not queueing."""
    folder = tool.src / "lat"
    folder.mkdir()
    results = []
    for i in range(files):
        data = f"file {i} {os.urandom(16).hex()}\n".encode() * 4
        path = folder / f"f{i:05}.txt"
        dst = tool.dst / "lat" / path.name
        with open(path, "wb") as f:
            f.write(data)
        t0 = time.perf_counter()  # write+close done
        deadline = t0 + 30
        while not same(dst, data):
            if time.perf_counter() > deadline:
                raise SystemExit(f"{tool.name}: {path.name} did not arrive within 30 s")
            time.sleep(0.0001)
        results.append(time.perf_counter() - t0)
    return results


def latency_paced(tool, files: int) -> list[float]:
    """For a polling tool: write one file every PACE seconds; a poller notes when each arrives."""
    folder = tool.src / "lat"
    folder.mkdir()
    pending: dict[int, tuple[float, Path, bytes]] = {}
    results: dict[int, float] = {}
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() or pending:
            with lock:
                items = list(pending.items())
            now = time.perf_counter()
            for i, (t0, dst, data) in items:
                if same(dst, data):
                    results[i] = now - t0
                    with lock:
                        del pending[i]
            time.sleep(0.001)

    poller = threading.Thread(target=poll)
    poller.start()
    for i in range(files):
        data = f"file {i} {os.urandom(16).hex()}\n".encode() * 4
        path = folder / f"f{i:05}.txt"
        with open(path, "wb") as f:
            f.write(data)
        with lock:
            pending[i] = (time.perf_counter(), tool.dst / "lat" / path.name, data)
        time.sleep(PACE)
    done.set()
    poller.join(120)
    return [results[i] for i in sorted(results)]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- (b) bulk --------------------------------------------------------------------------------

MAKE_FILES = """
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.mkdir(root)
for d in range(100):
    os.mkdir(f"{root}/d{d:02}")
    for i in range(n // 100):
        with open(f"{root}/d{d:02}/f{i:04}.bin", "wb") as f:
            f.write(os.urandom(4096))
"""


def count_files(root: Path) -> int:
    """Files below root, but the engine's temporary files (written in place under another name)."""
    return sum(1 for _, _, files in os.walk(root) for name in files if ".dstmp-" not in name)


def tree_md5(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath, name)
            out[p.relative_to(root).as_posix()] = hashlib.md5(p.read_bytes()).hexdigest()
    return out


def bulk_engine(engine: Engine, n: int) -> dict:
    """The files are made outside the watched folder, then moved in with one rename: they appear
    in the container at once, and the clock starts then (as tar's starts on an existing tree)."""
    staging, src, dst = engine.container / "staging", engine.src / "bulk", engine.dst / "bulk"
    subprocess.run([sys.executable, "-c", MAKE_FILES, str(staging), str(n)], check=True)
    os.sync()  # start with nothing to write back, as tar's run does
    t0 = time.perf_counter()
    os.rename(staging, src)
    wait_for(lambda: count_files(dst) >= n, 600, f"{n} files to arrive")
    total = time.perf_counter() - t0
    match = tree_md5(src) == tree_md5(dst)
    return {"seconds": total, "trees_match": match}


def bulk_tar(work: Path, src: Path) -> float:
    dst = work / "tar-dst"
    dst.mkdir()
    os.sync()
    t0 = time.perf_counter()
    subprocess.run(f"tar -C '{src}' -cf - . | tar -C '{dst}' -xf -", shell=True, check=True)
    return time.perf_counter() - t0


# --- (c) large file --------------------------------------------------------------------------

def large_engine(engine: Engine, work: Path, mb: int) -> dict:
    staging = engine.container / "staging.bin"   # outside the watched folder
    block = os.urandom(1 << 20)
    with open(staging, "wb") as f:
        for _ in range(mb):
            f.write(block)
    dst = engine.dst / "large.bin"
    os.sync()
    t0 = time.perf_counter()
    os.rename(staging, engine.src / "large.bin")  # appears at once, complete
    wait_for(lambda: dst.exists(), 600, "the large file")  # atomic: once there, it is whole
    seconds = time.perf_counter() - t0
    match = file_md5(dst) == file_md5(engine.src / "large.bin")
    return {"seconds": seconds, "mb_per_s": mb / seconds, "identical": match}


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def large_pipe(src: Path, work: Path, mb: int) -> float:
    dst = work / "pipe-dst.bin"
    os.sync()
    t0 = time.perf_counter()
    subprocess.run(f"cat '{src}' | cat > '{dst}'", shell=True, check=True)
    seconds = time.perf_counter() - t0
    dst.unlink()
    return seconds


# --- main ------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_session":
        run_session(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000, help="small files for the latency case")
    ap.add_argument("--bulk", type=int, default=10_000, help="files for the bulk case (a multiple of 100)")
    ap.add_argument("--large-mb", type=int, default=1024, help="size of the large file in MiB")
    ap.add_argument("--skip-peers", action="store_true", help="measure the engine only")
    ap.add_argument("--cases", default="abc", help="which cases to run, e.g. c for the large file only")
    args = ap.parse_args()
    ensure_tools()
    report: dict = {"cases": args.cases, "files": args.files, "bulk": args.bulk, "large_mb": args.large_mb, "cpus": os.cpu_count(),
                    "loadavg_before": os.getloadavg()}
    work = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    try:
        lat: dict[str, list[float]] = {}
        engine = Engine(work)
        engine.start()
        try:
            if "a" in args.cases:
                print(f"(a) latency: {args.files} files, one after the other ...", file=sys.stderr)
                lat[engine.name] = latency(engine, args.files)
            if "b" in args.cases:
                print(f"(b) bulk: {args.bulk} files of 4 KB ...", file=sys.stderr)
                report["bulk_engine"] = bulk_engine(engine, args.bulk)
            if "c" in args.cases:
                print(f"(c) large: {args.large_mb} MiB ...", file=sys.stderr)
                report["large_engine"] = large_engine(engine, work, args.large_mb)
        finally:
            engine.stop()
        if "b" in args.cases:
            report["bulk_tar_seconds"] = bulk_tar(work, engine.src / "bulk")
        if "c" in args.cases:
            report["large_pipe_seconds"] = large_pipe(engine.src / "large.bin", work, args.large_mb)
        if not args.skip_peers and "a" in args.cases:
            for peer in (Lsyncd(work), Unison(work)):
                if shutil.which(peer.name) is None:
                    print(f"{peer.name} is not installed: skipped", file=sys.stderr)
                    continue
                print(f"(a) latency with {peer.name} ...", file=sys.stderr)
                peer.start()
                try:
                    measure = latency_paced if peer.name == "unison" else latency
                    lat[peer.name] = measure(peer, args.files)
                finally:
                    peer.stop()
        report["latency"] = {name: {"n": len(v), "p50_ms": pct(v, 50) * 1000, "p99_ms": pct(v, 99) * 1000,
                                    "mean_ms": statistics.fmean(v) * 1000} for name, v in lat.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["loadavg_after"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(r: dict) -> None:
    rows = []
    ratio_b = ratio_c = float("nan")
    if "downstream-sync" in r["latency"]:
        rows += latency_rows(r["latency"])
    if "bulk_engine" in r:
        b = r["bulk_engine"]
        ratio_b = b["seconds"] / r["bulk_tar_seconds"]
        rows.append((f"(b) {r['bulk']} x 4 KB", f"{b['seconds']:.2f} s" + ("" if b["trees_match"] else " MISMATCH"),
                     f"tar|tar {r['bulk_tar_seconds']:.2f} s", "<= 2x tar", ratio_b <= 2 and b["trees_match"]))
    if "large_engine" in r:
        c = r["large_engine"]
        pipe_mbs = r["large_mb"] / r["large_pipe_seconds"]
        ratio_c = c["mb_per_s"] / pipe_mbs
        rows.append((f"(c) {r['large_mb']} MiB file", f"{c['seconds']:.2f} s ({c['mb_per_s']:.0f} MiB/s)",
                     f"cat|cat {r['large_pipe_seconds']:.2f} s ({pipe_mbs:.0f} MiB/s)", ">= 50% of pipe",
                     ratio_c >= 0.5 and c["identical"]))
    print(f"{'case':26} {'downstream-sync':32} {'peer':34} {'target':15} result")
    for case, ours_s, peer, target, ok in rows:
        result = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{case:26} {ours_s:32} {peer:34} {target:15} {result}")
    print(f"ratios: bulk {ratio_b:.2f}x tar; large {ratio_c:.2f} of the pipe's throughput; "
          f"load average {r['loadavg_before'][0]:.1f} -> {r['loadavg_after'][0]:.1f} on {r['cpus']} CPUs")
    print(f"wrote {OUT}")


def latency_rows(lat: dict) -> list[tuple]:
    ours = lat["downstream-sync"]
    rows = []
    ls = lat.get("lsyncd")
    rows.append(("(a) p50 latency", f"{ours['p50_ms']:.2f} ms",
                 f"lsyncd {ls['p50_ms']:.2f} ms" if ls else "lsyncd n/a",
                 "< lsyncd p50", ls is not None and ours["p50_ms"] < ls["p50_ms"]))
    rows.append(("(a) p99 latency", f"{ours['p99_ms']:.2f} ms",
                 f"lsyncd {ls['p99_ms']:.2f} ms" if ls else "lsyncd n/a", "< 50 ms", ours["p99_ms"] < 50))
    un = lat.get("unison")
    if un:
        rows.append(("(a) unison -repeat 1", "", f"p50 {un['p50_ms']:.0f} ms, p99 {un['p99_ms']:.0f} ms", "info", None))
    return rows

if __name__ == "__main__":
    main()
