"""The lines of `downstream-sync validate`: `file:line:col: severity: code: message`, exit 1 on errors."""

from __future__ import annotations

import os
from pathlib import Path

from downstream_sync.config import Diagnostic, Position, Range, Severity, format_diagnostic, validate

HEAD = "apiVersion: skaffold/v4beta14\nkind: Config\n"


def test_format_is_one_based(tmp_path):
    d = Diagnostic(tmp_path / "skaffold.yaml", Range(Position(0, 0), Position(0, 3)), Severity.WARNING,
                   "download-overlaps-sync", "msg")
    assert format_diagnostic(d).endswith("skaffold.yaml:1:1: warning: download-overlaps-sync: msg")


def test_format_shows_paths_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = Diagnostic(tmp_path / "sub" / "skaffold.yaml", Range(Position(9, 4), Position(9, 5)), Severity.INFORMATION, "c", "m")
    assert format_diagnostic(d) == f"sub{os.sep}skaffold.yaml:10:5: info: c: m"


def test_validate_exits_one_on_errors(ws, monkeypatch):
    monkeypatch.chdir(ws.root)
    ws.write("skaffold.yaml", HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - remoteSource: src
        localDst: out
""")
    lines, code = validate(ws.root / "skaffold.yaml")
    assert code == 1
    assert lines == [
        "skaffold.yaml:7:5: info: download-not-in-skaffold: `download` is read by Downstream Sync, not by Skaffold: "
        "stock Skaffold rejects unknown fields, so plain `skaffold dev` fails on this file",
        "skaffold.yaml:9:9: error: download-unknown-key: unknown key 'remoteSource' in a download rule; did you mean 'remoteSrc'?",
        "skaffold.yaml:9:9: error: download-missing-key: this download rule has no 'remoteSrc'",
    ]


def test_validate_exits_zero_on_warnings_only(ws):
    ws.write("skaffold.yaml", HEAD + """
build:
  artifacts:
  - image: app
    sync: {manual: [{src: 'out/*.txt', dest: .}]}
    download: {manual: [{remoteSrc: src, localDst: out}]}
""")
    lines, code = validate(ws.root, profiles=())
    assert code == 0
    assert [line.split(": ")[1:3] for line in lines] == [["info", "download-not-in-skaffold"],
                                                          ["warning", "download-overlaps-sync"]]


def test_validate_of_a_missing_file(tmp_path: Path):
    lines, code = validate(tmp_path / "skaffold.yaml")
    assert code == 1 and len(lines) == 1 and ": error: file-unreadable: cannot read skaffold.yaml" in lines[0]
