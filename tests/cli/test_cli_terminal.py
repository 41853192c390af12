"""Terminal output on a real pseudo-terminal: the progress line is rewritten in place and lines
are colored; NO_COLOR turns colors off; a pipe gets neither (see the other tests)."""

import os
import pty
import subprocess

from clitools import CLI


def pull_on_a_tty(project, helper, **env) -> str:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [CLI, "pull", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command],
            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
            env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(60) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_progress_is_rewritten_in_place_and_lines_are_colored(project, helper):
    out = pull_on_a_tty(project, helper, NO_COLOR=None)
    assert "\r\x1b[K" in out  # the progress line is replaced, not followed
    assert "\x1b[32mcreated" in out  # green for created files


def test_no_color_keeps_the_in_place_progress_without_colors(project, helper):
    out = pull_on_a_tty(project, helper, NO_COLOR="1")
    assert "\r\x1b[K" in out
    assert "\x1b[3" not in out and "\x1b[2m" not in out and "created" in out
