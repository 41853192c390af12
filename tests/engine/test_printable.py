"""What a person reads of a container's text: controls and invisible reordering spelled out,
every script kept (sync/events.printable, used by every face)."""

import pytest

from downstream_sync.sync.events import printable


@pytest.mark.parametrize("text, shown", [
    ("src/main.go", "src/main.go"),
    ("caf\u00e9 \u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627.txt", "caf\u00e9 \u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627.txt"),
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467.png", "\U0001f468\u200d\U0001f469\u200d\U0001f467.png"),
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    ("\x1b[2J", "\\x1b[2J"),
    ("a\nFORGED LINE", "a\\nFORGED LINE"),
    ("a\rb\tc", "a\\rb\\tc"),
    ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
    ("\u202egnp.exe \u2066x\u2069 \u200f", "\\u202egnp.exe \\u2066x\\u2069 \\u200f"),
    ("line\u2028sep\u2029", "line\\u2028sep\\u2029"),
    ("bad\udcff", "bad\\udcff"),
])
def test_printable(text, shown):
    assert printable(text) == shown
    assert printable(shown) == shown  # what is shown is shown as it is
