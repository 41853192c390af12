"""Container file names reach the terminal escaped: a name can neither set the window title, nor
clear the screen, nor forge a line. The real console script, a real app-server, real app-connect."""

import os
import signal
import subprocess

from clitools import CLI, run, wait_for
from test_cli_start import Output

HOSTILE = ["\x1b]0;pwned\x07", "\x1b[2J", "a\nFORGED LINE", "\u202etxt.exe", "caf\u00e9 \u65e5\u672c.txt"]
SHOWN = ["\\x1b]0;pwned\\x07", "\\x1b[2J", "a\\nFORGED LINE", "\\u202etxt.exe", "caf\u00e9 \u65e5\u672c.txt"]


def _hostile_names(container):
    for name in HOSTILE:
        (container / "out" / name).write_text("payload\n")


def _check(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, repr(text)
    assert not any(line.startswith("FORGED LINE") for line in text.splitlines()), text
    for name in SHOWN:
        assert f"local/out/{name}" in text, (name, text)


def test_pull_shows_hostile_names_escaped(project, container, helper):
    _hostile_names(container)
    result = run("pull", "-v", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in HOSTILE:  # the files themselves keep their real names
        assert (project / "local" / "out" / name).read_text() == "payload\n"
    _check(result.stdout + result.stderr)


def test_start_shows_hostile_names_escaped_live(project, container, helper):
    proc = subprocess.Popen(
        [CLI, "start", "-v", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"},
    )
    out = Output(proc)
    try:
        wait_for(lambda: out.has("watching"), "the watching state")
        _hostile_names(container)
        wait_for(lambda: all(out.has("created", f"local/out/{name}") for name in SHOWN), "a line for every file")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        out.thread.join(10)
    _check(out.text + proc.stderr.read())


def test_a_conflict_on_a_hostile_name_is_shown_escaped(project, container, helper):
    _hostile_names(container)
    local = project / "local" / "out"
    local.mkdir(parents=True)
    for name in HOSTILE:
        (local / name).write_text("my own\n")  # differs from the container's: each is a conflict
    result = run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command)
    assert result.returncode == 1, result.stdout + result.stderr
    text = result.stdout + result.stderr
    _check(text)
    note = [line for line in text.splitlines() if line.startswith("Conflicts to look at:")]
    assert note and "local/out/a\\nFORGED LINE" in note[0], text
    assert all((local / name).read_text() == "my own\n" for name in HOSTILE)
