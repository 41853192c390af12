"""A work item: one change, delete or rename of a container path, as the pipeline carries it.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reconcile import Reconcile

__all__ = ["Work", "merge"]


@dataclass
class Work:
    kind: str                 # "change", "delete", "rename"
    path: str                 # wire path
    md5: str = ""
    size: int = 0
    mode: int = 0
    content: bytes | None = None
    old_path: str = ""
    version: int = 0
    reconcile: Reconcile | None = None


def merge(old: Work, new: Work) -> Work:
    """Coalesce two items for one path, latest wins: but a rename's old path must still go, and a
    reconcile still counts its file done when a live change took its place."""
    if new.reconcile is None:
        new.reconcile = old.reconcile
    if old.kind == "rename" and not new.old_path:
        new.old_path = old.old_path
        if new.kind == "change":
            new.kind = "rename"
    return new
