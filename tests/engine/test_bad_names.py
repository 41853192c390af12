"""A name that is not UTF-8 (wire paths are UTF-8 strings) is skipped with one clear warning on each
side, and every other file syncs: in the first snapshot, in folders with such names, and live.

A real app-server reached through a real app-connect by the real engine; the names are made with
bytes paths, as a container's app would make them.
"""

from __future__ import annotations

import os

from downstream_sync.sync.events import SessionState

from engine_support import Helper, eventually, tree


def _make(path: bytes, data: bytes = b"x") -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _good(root) -> dict[str, str]:
    return {k: v for k, v in tree(root).items() if "\udcff" not in k and "\udcfe" not in k and "\udcfd" not in k}


async def test_names_that_are_not_utf8_are_skipped_once_and_the_rest_syncs(container, project, make_session,
                                                                          tmp_path):
    """Before the fix the snapshot failed to encode: 0 of 11 good files synced, the engine reconnected
    in a loop and the helper said nothing."""
    src, out = container / "src", project / "out"
    for i in range(10):
        (src / f"good{i}.txt").write_text(f"good {i}")
    (src / "sub").mkdir()
    (src / "sub" / "ok.txt").write_text("ok")
    root = os.fsencode(src)
    _make(root + b"/bad\xff.txt", b"not synced")
    os.mkdir(root + b"/dir\xfe")
    _make(root + b"/dir\xfe/inner.txt", b"inside a folder with a bad name")
    helper = Helper(container, tmp_path / "helper.sock", ["src"]).start()
    try:
        session, rec = await make_session(helper)
        try:
            await eventually(lambda: len(tree(out)) == 11, "the good files")
        except AssertionError:
            raise AssertionError(f"{len(tree(out))} of 11 good files synced") from None
        assert tree(out) == _good(src)
        await eventually(lambda: session.state is SessionState.WATCHING, "watching")

        # Live: a new bad name, writes to the old one, then a good file.
        _make(root + b"/late\xfd.log", b"late")
        for i in range(5):
            _make(root + b"/bad\xff.txt", b"written again %d" % i)
        (src / "after.txt").write_text("after")
        await eventually(lambda: (out / "after.txt").exists(), "a good file after the bad ones")
        await eventually(lambda: len([e for e in rec.errors if r"late\xfd.log" in e.message]) == 1,
                         "the notice of the live bad name")
        assert tree(out) == _good(src)
    finally:
        helper.proc.send_signal(15)
        stderr = helper.proc.communicate(timeout=30)[1].decode()
        helper.kill()
    for name in (r"bad\xff.txt", r"dir\xfe", r"late\xfd.log"):
        told = [e.message for e in rec.errors if name in e.message]
        assert len(told) == 1, (name, [e.message for e in rec.errors])
        assert str(src) in told[0] and "not valid UTF-8" in told[0] and "rename it" in told[0]
        warned = [line for line in stderr.splitlines() if name in line]
        assert len(warned) == 1, (name, stderr)
    assert "everything in it" in next(e.message for e in rec.errors if r"dir\xfe" in e.message)
