"""Bulk first sync: `downstream-sync pull` of a node_modules-like tree into an empty folder,
beside `rsync -a` and `tar -c | tar -x` of the same tree, on tmpfs (where the disk cannot hide
software cost) and on this machine's disk, in the same run.

    .venv/bin/python bench/bulk_bench.py [--files 20000] [--runs 3] [--where tmpfs,disk] [--profile]

The tree: FILES files of 100 B to 64 KB (log-uniform), in folders 2 to 6 deep. A real app-server
("the container") serves it and has indexed it before anything is timed; each timed run starts a
fresh `downstream-sync pull` process (process start included) that reaches the helper through
app-connect, as through kubectl exec, into an empty project folder. rsync and tar copy the same
tree into an empty folder. Each tool runs alone; the page cache is warm for all of them (a first
untimed pull read every file). Reported: wall seconds (median of RUNS), CPU seconds of the local
side (the process and the children it waited for) and of the helper, and ratios to rsync and tar.
Target: pull within 1.5x of rsync on tmpfs. `--profile` writes profiles of one pull (the CLI) and
of the helper during it to bench/out/: py-spy's collapsed stacks of every thread when the venv has
py-spy (`pip install py-spy`), else cProfile files (the main thread only). Writes bench/out/bulk_bench.json. Mounting tmpfs needs
root; elsewhere /dev/shm is used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
OUT = Path(__file__).parent / "out"
TARGET = 1.5  # pull / rsync on tmpfs
SPY = shutil.which("py-spy", path=str(BIN))  # samples every thread; cProfile sees the main thread only


def spy(out: Path) -> list[str]:
    """py-spy sampling a command: collapsed stacks of all its threads, by thread (flamegraph.pl input)."""
    return [SPY, "record", "--format", "raw", "--threads", "--rate", "250", "--nonblocking", "-o", str(out), "--"]


def make_tree(root: Path, files: int, seed: int = 7) -> int:
    """FILES files of 100 B .. 64 KB in folders 2..6 deep, like an installed node_modules."""
    rng = random.Random(seed)
    total = 0
    packages = max(1, files // 40)
    for i in range(files):
        pkg = f"pkg{rng.randrange(packages):04}"
        depth = rng.randrange(1, 5)
        folder = root.joinpath("node_modules", pkg, *[f"d{rng.randrange(4)}" for _ in range(depth)])
        folder.mkdir(parents=True, exist_ok=True)
        size = int(math.exp(rng.uniform(math.log(100), math.log(64 * 1024))))
        (folder / f"f{i:06}.js").write_bytes(rng.randbytes(size))
        total += size
    return total


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and the children it waited for)."""
    subprocess.run(["sync"], check=False)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


def same_tree(a: Path, b: Path) -> bool:
    names = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                                and ".downstream-sync" not in p.parts)
    left, right = names(a), names(b)
    return left == right and all((a / n).read_bytes() == (b / n).read_bytes() for n in left[:: max(1, len(left) // 200)])


class Helper:
    def __init__(self, work: Path, profile: bool):
        self.container = work / "container"
        self.sock = work / "helper.sock"
        server = [str(BIN / "app-server")]
        if profile and SPY:
            server = [*spy(OUT / "bulk_helper.spy"), sys.executable, "-m", "sync_helper.app_server"]
        elif profile:
            server = [sys.executable, "-m", "cProfile", "-o", str(OUT / "bulk_helper.prof"), "-m", "sync_helper.app_server"]
        argv = [*server, "--targets", "src", "--socket", str(self.sock)]
        self.proc = subprocess.Popen(argv, cwd=self.container, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.sock.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("app-server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc.args[0] in (sys.executable, SPY):  # profiled: SIGINT lets the profiler write
            os.killpg(self.proc.pid, signal.SIGINT)
        else:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def project(work: Path, name: str) -> Path:
    root = work / name
    root.mkdir()
    (root / "skaffold.yaml").write_text(
        "apiVersion: skaffold/v4beta9\nkind: Config\nbuild:\n  artifacts:\n  - image: app\n"
        "    download:\n      manual:\n      - remoteSrc: src\n        localDst: out\n")
    return root


def pull_argv(root: Path, sock: Path, profile: Path | None = None) -> list[str]:
    cli = [str(BIN / "downstream-sync")]
    if profile is not None and SPY:
        cli = [*spy(profile.with_suffix(".spy")), sys.executable, "-m", "downstream_sync.cli"]
    elif profile is not None:
        cli = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "downstream_sync.cli"]
    return [*cli, "pull", "-f", str(root / "skaffold.yaml"),
            "--connect-command", f"{BIN / 'app-connect'} --socket {sock}"]


def run_place(where: str, base: Path, files: int, runs: int, profile: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bulk-", dir=base))
    try:
        src = work / "container" / "src"
        src.mkdir(parents=True)
        size = make_tree(src, files)
        helper = Helper(work, profile and where == "tmpfs")
        try:
            warm = project(work, "warm")
            timed(pull_argv(warm, helper.sock))  # the helper indexes; every file is read once
            if not same_tree(src, warm / "out"):
                raise SystemExit("the warm-up pull did not bring the whole tree")
            shutil.rmtree(warm)
            rows: dict[str, list[tuple[float, float, float]]] = {"pull": [], "rsync": [], "tar": []}
            for run in range(runs):
                dst = work / f"rsync{run}"
                rows["rsync"].append((*timed(["rsync", "-a", f"{src}/", f"{dst}/"]), 0.0))
                dst = work / f"tar{run}"
                dst.mkdir()
                rows["tar"].append((*timed(["bash", "-c", f"tar -C {src} -cf - . | tar -C {dst} -xf -"]), 0.0))
                root = project(work, f"pull{run}")
                before = cpu_of(helper.proc.pid)
                prof = OUT / "bulk_pull.prof" if profile and where == "tmpfs" and run == 0 else None
                wall, cpu = timed(pull_argv(root, helper.sock, prof))
                rows["pull"].append((wall, cpu, cpu_of(helper.proc.pid) - before))
                if not same_tree(src, root / "out"):
                    raise SystemExit(f"pull {run} did not bring the whole tree")
                for d in (work / f"rsync{run}", work / f"tar{run}", root):
                    shutil.rmtree(d)
        finally:
            helper.stop()
        med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in rows.items()}
        return {"where": where, "files": files, "bytes": size, "runs": runs, "median": med, "all": rows}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tmpfs_base() -> tuple[Path, bool]:
    if os.geteuid() == 0:
        point = Path(tempfile.mkdtemp(prefix="bulk-tmpfs-"))
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g", "tmpfs", str(point)]).returncode == 0:
            return point, True
        point.rmdir()
    return Path("/dev/shm"), False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--where", default="tmpfs,disk")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if shutil.which("rsync") is None:
        raise SystemExit("rsync is missing: apt-get install rsync")
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    for where in args.where.split(","):
        if where == "tmpfs":
            base, mounted = tmpfs_base()
            try:
                results.append(run_place("tmpfs", base, args.files, args.runs, args.profile))
            finally:
                if mounted:
                    subprocess.run(["umount", str(base)], check=False)
                    base.rmdir()
        else:
            disk = OUT / "disk"
            disk.mkdir(exist_ok=True)
            results.append(run_place("disk", disk, args.files, args.runs, False))
    print(f"\nbulk pull of {args.files} files (median of {args.runs}; CPU s: local side / helper)")
    print(f"{'where':6} {'tool':6} {'wall s':>8} {'CPU s':>13} {'x rsync':>8} {'x tar':>7}")
    verdicts = []
    for r in results:
        med = r["median"]
        for tool in ("rsync", "tar", "pull"):
            wall, cpu, helper_cpu = med[tool]
            cpu_text = f"{cpu:.2f}" + (f" / {helper_cpu:.2f}" if tool == "pull" else "")
            print(f"{r['where']:6} {tool:6} {wall:8.3f} {cpu_text:>13} {wall / med['rsync'][0]:8.2f} "
                  f"{wall / med['tar'][0]:7.2f}")
        ratio = med["pull"][0] / med["rsync"][0]
        if r["where"] == "tmpfs":
            verdicts.append(ratio <= TARGET)
            print(f"target on tmpfs: pull <= {TARGET}x rsync: {ratio:.2f}x {'PASS' if ratio <= TARGET else 'FAIL'}")
    (OUT / "bulk_bench.json").write_text(json.dumps(results, indent=1))
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
