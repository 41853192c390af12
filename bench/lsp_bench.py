"""Language server benchmark: diagnostics latency after a change to a 2,000-line skaffold.yaml,
and time from server start to first diagnostics, each beside a peer measured in the same run.

    .venv/bin/python bench/lsp_bench.py [--rounds N]

Prints a table (target, PASS/FAIL, ratio to the peer) and writes bench/out/lsp_bench.json.
The server runs as a real process on stdio, driven by a minimal JSON-RPC client."""

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

import yaml
from importlib import resources

SERVER = [sys.executable, "-m", "downstream_sync.lsp"]
# What VS Code 1.65 says of itself in `initialize` (shipped with pytest-lsp): the server has to
# read all of it before it answers.
VSCODE = json.loads(resources.files("pytest_lsp.clients").joinpath("visual_studio_code_v1.65.2.json").read_text())
OUT = Path(__file__).parent / "out" / "lsp_bench.json"


ARTIFACT = """\
  - image: registry.example.com/team/svc{n}
    context: services/svc{n}
    docker:
      dockerfile: Dockerfile
      buildArgs:
        SERVICE: svc{n}
        ENV: development
    sync:
      manual:
      - src: "src/**/*.js"
        dest: /app/src
      - src: "static/**"
        dest: /app/static
    download:
      manual:
      - remoteSrc: /app/generated
        localDst: services/svc{n}/generated
      - remoteSrc: /app/logs
        localDst: logs/svc{n}
      excludes:
      - "**/*.tmp"
      - "cache/**"
"""

PROFILE = """\
- name: env{n}
  activation:
  - env: TARGET=env{n}
  build:
    tagPolicy:
      sha256: {{}}
  patches:
  - op: replace
    path: /build/artifacts/0/docker/buildArgs/ENV
    value: env{n}
  deploy:
    kubectl:
      defaultNamespace: ns{n}
"""


def config_text(lines: int = 2000, artifacts: int = 50) -> str:
    """A skaffold.yaml of exactly `lines` lines: `artifacts` artifacts with build, sync and
    download stanzas, manifests, and profiles."""
    head = "apiVersion: skaffold/v4beta9\nkind: Config\nmetadata:\n  name: bench\nbuild:\n  artifacts:\n"
    body = [head] + [ARTIFACT.format(n=n) for n in range(artifacts)]
    body.append("manifests:\n  rawYaml:\n" + "".join(f"  - k8s/svc{n}.yaml\n" for n in range(artifacts)))
    body.append("deploy:\n  kubectl: {}\nprofiles:\n")
    text = "".join(body)
    n = 0
    while text.count("\n") + PROFILE.count("\n") <= lines:
        text += PROFILE.format(n=n)
        n += 1
    text += "".join(f"# padding {i}\n" for i in range(lines - text.count("\n")))
    return text


class Client:
    """Just enough JSON-RPC over a server's stdio to time it."""

    def __init__(self, init_options: dict) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0
        self.init_options = init_options

    def send(self, method: str, params: dict, request: bool = False) -> int | None:
        msg: dict = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return msg.get("id")

    def read(self) -> dict:
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise EOFError("the server closed its output")
            if line == b"\r\n":
                return json.loads(self.proc.stdout.read(length))
            name, _, value = line.decode("ascii").partition(":")
            if name.lower() == "content-length":
                length = int(value)

    def until(self, match) -> dict:
        while True:
            msg = self.read()
            if "id" in msg and "method" in msg:  # a request from the server: accept it
                self.send_response(msg["id"])
                continue
            if match(msg):
                return msg

    def send_response(self, msg_id) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": None}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def initialize(self, root: Path) -> None:
        rid = self.send("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(),
                                       "capabilities": VSCODE["capabilities"], "clientInfo": VSCODE["clientInfo"],
                                       "initializationOptions": self.init_options}, request=True)
        self.until(lambda m: m.get("id") == rid)
        self.send("initialized", {})

    def close(self) -> None:
        try:
            rid = self.send("shutdown", {}, request=True)
            self.until(lambda m: m.get("id") == rid)
            self.send("exit", {})
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def diagnostics_for(uri: str, version: int | None = None):
    return lambda m: (m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
                      and (version is None or m["params"].get("version") == version))


def time_to_first_diagnostics(root: Path, text: str, rounds: int) -> list[float]:
    path = root / "skaffold.yaml"
    times = []
    for _ in range(rounds):
        client = Client({})
        try:
            client.initialize(root)
            client.send("textDocument/didOpen", {"textDocument": {"uri": path.as_uri(), "languageId": "yaml",
                                                                  "version": 1, "text": text}})
            client.until(diagnostics_for(path.as_uri()))
            times.append(time.perf_counter() - client.started)
        finally:
            client.close()
    return times


def change_latency(root: Path, text: str, rounds: int, delay_ms: int) -> tuple[list[float], list[float]]:
    """(change -> diagnostics, trivial request round trip) on one running server."""
    path = root / "skaffold.yaml"
    uri = path.as_uri()
    client = Client({"diagnosticsDelayMs": delay_ms})
    changes, trips = [], []
    try:
        client.initialize(root)
        client.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}})
        client.until(diagnostics_for(uri))
        lines = text.splitlines()
        line = max(i for i, s in enumerate(lines) if "localDst" in s)
        col = lines[line].index("localDst")
        version = 1
        for i in range(rounds):
            version += 1
            letter = "d" if i % 2 == 0 else "D"  # localDst <-> localdst: the error comes and goes
            t0 = time.perf_counter()
            client.send("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": {"line": line, "character": col + 5},
                                              "end": {"line": line, "character": col + 6}}, "text": letter}]})
            msg = client.until(diagnostics_for(uri, version))
            changes.append(time.perf_counter() - t0)
            errors = [d for d in msg["params"]["diagnostics"] if d.get("severity") == 1]
            assert bool(errors) == (letter == "d"), f"round {i}: unexpected diagnostics {errors}"
            t0 = time.perf_counter()
            rid = client.send("textDocument/hover", {"textDocument": {"uri": uri},
                                                     "position": {"line": line, "character": col}}, request=True)
            client.until(lambda m: m.get("id") == rid)
            trips.append(time.perf_counter() - t0)
    finally:
        client.close()
    return changes, trips


def python_start(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import yaml"], check=True)
        times.append(time.perf_counter() - t0)
    return times


def safe_load(text: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        yaml.safe_load(text)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="changes to time (default: 30)")
    parser.add_argument("--starts", type=int, default=5, help="server starts to time (default: 5)")
    args = parser.parse_args()

    text = config_text()
    n_lines = text.count("\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "skaffold.yaml").write_text(text)
        changes, trips = change_latency(root, text, args.rounds, delay_ms=0)
        debounced, _ = change_latency(root, text, max(5, args.rounds // 6), delay_ms=200)
        starts = time_to_first_diagnostics(root, text, args.starts)
    loads = safe_load(text, args.rounds)
    pythons = python_start(args.starts)

    med = statistics.median
    p95 = lambda xs: sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]  # noqa: E731
    rows = [
        {"metric": f"change -> diagnostics, {n_lines}-line skaffold.yaml (median)", "value_ms": med(changes) * 1e3,
         "target_ms": 50.0, "peer": "yaml.safe_load of the same file", "peer_ms": med(loads) * 1e3},
        {"metric": "change -> diagnostics (p95)", "value_ms": p95(changes) * 1e3, "target_ms": None,
         "peer": "LSP hover round trip", "peer_ms": med(trips) * 1e3},
        {"metric": "change -> diagnostics with the 200 ms debounce (median)", "value_ms": med(debounced) * 1e3,
         "target_ms": None, "peer": "debounce delay", "peer_ms": 200.0},
        {"metric": "server start -> first diagnostics (median)", "value_ms": med(starts) * 1e3, "target_ms": 1000.0,
         "peer": "python -c 'import yaml'", "peer_ms": med(pythons) * 1e3},
    ]
    for r in rows:
        r["ratio"] = r["value_ms"] / r["peer_ms"] if r["peer_ms"] else None
        r["result"] = "-" if r["target_ms"] is None else ("PASS" if r["value_ms"] < r["target_ms"] else "FAIL")

    w = max(len(r["metric"]) for r in rows)
    print(f"{'metric':<{w}}  {'value':>9}  {'target':>9}  {'result':>6}  {'peer':<34} {'peer ms':>8}  {'ratio':>6}")
    for r in rows:
        target = f"<{r['target_ms']:.0f} ms" if r["target_ms"] is not None else "-"
        print(f"{r['metric']:<{w}}  {r['value_ms']:7.1f}ms  {target:>9}  {r['result']:>6}  {r['peer']:<34} "
              f"{r['peer_ms']:8.1f}  {r['ratio']:5.2f}x")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"lines": n_lines, "rounds": args.rounds, "starts": args.starts, "rows": rows,
                               "samples_ms": {"change": [x * 1e3 for x in changes], "start": [x * 1e3 for x in starts]}},
                              indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0 if all(r["result"] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
