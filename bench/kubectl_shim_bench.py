"""What the wrapper's kubectl shim costs a kubectl call that needs no injection (Skaffold makes many:
version, get, create --dry-run, delete), against the real kubectl in the same run.

    .venv/bin/python bench/kubectl_shim_bench.py [--kubectl PATH] [--runs N]

Three ways to run `kubectl version --client -o json` (no cluster needed), each N times, interleaved,
wall time from fork to exit: the real kubectl; the shim (`skaffold/shims.py`, a shell script that
execs it); and a Python start in front of it, as the shim was before (the shims module's main in
Python, which then execs kubectl). Prints medians and p90s, PASS/FAIL for the target (the shim adds
at most 10 ms to the median), and writes bench/out/kubectl_shim_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from downstream_sync.skaffold.shims import _RUN, ENV_KUBECTL, ENV_PYTHON, write_shims

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 10.0


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", default=str(ROOT / ".tools" / "cluster" / "bin" / "kubectl"))
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    if not os.access(args.kubectl, os.X_OK):
        print(f"kubectl not found at {args.kubectl}: build it (bash tests/cluster/build.sh kubectl) or pass --kubectl")
        return 1
    with tempfile.TemporaryDirectory() as folder:
        shim = write_shims(Path(folder))["kubectl"]
        before = Path(folder) / "python-first"
        before.write_text(f'#!/bin/sh\nexec "${ENV_PYTHON}" -c \'{_RUN}\' kubectl "$@"\n')
        before.chmod(0o700)
        env = {**os.environ, ENV_KUBECTL: args.kubectl, ENV_PYTHON: sys.executable,
               "KUBECONFIG": os.path.join(folder, "none")}
        words = ["version", "--client", "-o", "json"]
        ways = {"kubectl": [args.kubectl, *words], "shim": [str(shim), *words], "python first": [str(before), *words]}
        for argv in ways.values():  # warm the page cache
            timed(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.runs):
            for name, argv in ways.items():
                samples[name].append(timed(argv, env))
    report = {name: {"median_ms": statistics.median(v), "p90_ms": sorted(v)[int(len(v) * 0.9) - 1]}
              for name, v in samples.items()}
    added = report["shim"]["median_ms"] - report["kubectl"]["median_ms"]
    before_added = report["python first"]["median_ms"] - report["kubectl"]["median_ms"]
    print(f"kubectl version --client -o json, {args.runs} runs each, interleaved")
    print(f"{'way':<14}{'median ms':>11}{'p90 ms':>9}")
    for name, r in report.items():
        print(f"{name:<14}{r['median_ms']:>11.1f}{r['p90_ms']:>9.1f}")
    verdict = "PASS" if added <= TARGET_MS else "FAIL"
    print(f"the shim adds {added:.1f} ms to a call (target <= {TARGET_MS:.0f} ms): {verdict}; "
          f"a Python start added {before_added:.1f} ms")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "kubectl_shim_bench.json").write_text(json.dumps(
        {"runs": args.runs, "ways": report, "shim_added_ms": added, "python_added_ms": before_added,
         "target_ms": TARGET_MS, "pass": verdict == "PASS"}, indent=1))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
