"""How long the editor's re-check of a 2,000-line skaffold.yaml takes (not a test: run it by hand).

    .venv/bin/python tests/config/speed.py

Prints the median and best of `check_file` on a generated config of 135 artifacts, each with
`sync` and `download`, beside PyYAML's own `compose_all` on the same text as a peer, and the ratio.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from downstream_sync.config import check_file

ARTIFACT = """\
  - image: app{i}
    context: svc{i}
    docker:
      buildArgs:
        ENV: development
    sync:
      manual:
      - src: 'src/**/*.js'
        dest: .
    download:
      manual:
        - remoteSrc: "gen"
          localDst: "svc{i}/gen"
      excludes:
        - "node_modules/*"
"""


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    text = "apiVersion: skaffold/v4beta14\nkind: Config\nbuild:\n  artifacts:\n" + "".join(
        ARTIFACT.format(i=i) for i in range(135))
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "skaffold.yaml"
        path.write_text(text)
        diags = check_file(path, text)
        ours = timed(lambda: check_file(path, text), 40)
        peer = timed(lambda: list(yaml.compose_all(text, Loader=loader)), 40)
    lines = text.count("\n")
    print(f"{lines} lines, {len(diags)} diagnostics, parser {loader.__name__}", file=sys.stderr)
    print(f"check_file          median {statistics.median(ours):6.1f} ms  best {min(ours):6.1f} ms")
    print(f"yaml.compose_all    median {statistics.median(peer):6.1f} ms  best {min(peer):6.1f} ms")
    print(f"ratio (median)      {statistics.median(ours) / statistics.median(peer):.2f}x the bare compose")


if __name__ == "__main__":
    main()
