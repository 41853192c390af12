"""Small assertions shared by the config tests."""

from __future__ import annotations

from downstream_sync.config import Diagnostic


def codes(diags: list[Diagnostic]) -> list[str]:
    return [d.code for d in diags]


def only(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {[(d.code, d.message) for d in diags]}"
    return found[0]


def at(d: Diagnostic) -> tuple[int, int, int, int]:
    """(start line, start character, end line, end character) of a diagnostic."""
    r = d.range
    return r.start.line, r.start.character, r.end.line, r.end.character
