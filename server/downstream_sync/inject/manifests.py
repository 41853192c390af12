"""Kubernetes manifests as a YAML stream: its documents with their own text, the objects inside
(`List` and KRM `ResourceList` items), and where each kind keeps its pod spec.

A document that is not changed keeps its text byte for byte; a changed one is written again by
PyYAML, which keeps key order but not comments (those that open the document are kept). Must not import pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

__all__ = ["ManifestError", "Document", "split_stream", "load_document", "dump_document", "POD_SPEC_PATHS",
           "pod_spec_path", "find_pod_templates", "describe", "leading_comments"]

_MARKER = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)

# Where each pod-bearing kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
LIST_KINDS = ("List", "ResourceList")


class ManifestError(Exception):
    """Manifests that cannot be read; the message says where."""


@dataclass
class Document:
    """One document of the stream: `head` is its `---` line (or ""), `body` the text after it."""

    number: int  # 1-based, as a user counts them
    head: str
    body: str
    line: int = 0  # the 0-based line of the stream where `text` starts

    @property
    def text(self) -> str:
        return self.head + self.body


def split_stream(text: str) -> list[Document]:
    """The documents of a YAML stream, split at `---` lines; joining their text gives `text` back."""
    starts = [m.start() for m in _MARKER.finditer(text)]
    pieces = []
    if not starts or starts[0] != 0:
        pieces.append(("", text[:starts[0]] if starts else text))
    for i, at in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        line_end = text.find("\n", at, end)
        line_end = end if line_end < 0 else line_end + 1
        head = text[at:line_end]
        if head.strip() == "---":
            pieces.append((head, text[line_end:end]))
        else:  # `--- {inline: content}`: the marker line belongs to the body
            pieces.append(("", text[at:end]))
    docs, line = [], 0
    for n, (head, body) in enumerate(pieces, 1):
        docs.append(Document(n, head, body, line))
        line += (head + body).count("\n")
    return docs


def load_document(doc: Document, source: str):
    """The document's value (None when it holds only comments); raises ManifestError."""
    try:
        values = list(yaml.safe_load_all(doc.text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {doc.line + mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ManifestError(f"{source}: document {doc.number}{where}: not YAML: {problem}") from None
    values = [v for v in values if v is not None]
    if len(values) > 1:
        raise ManifestError(f"{source}: document {doc.number}: holds {len(values)} documents")
    return values[0] if values else None


def leading_comments(body: str) -> str:
    """The comment and blank lines that open a document: kept when the rest is written again."""
    kept = []
    for line in body.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        kept.append(line)
    return "".join(kept)


def dump_document(value) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1 << 16)


def describe(obj) -> str:
    """`Deployment web` (kind and name, as far as the object says)."""
    if not isinstance(obj, dict):
        return "an object"
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else "object"
    name = meta.get("name") if isinstance(meta.get("name"), str) else None
    return f"{kind} {name}" if name else f"{kind} (no name)"


def pod_spec_path(obj) -> tuple[str, ...] | None:
    kind = obj.get("kind") if isinstance(obj, dict) else None
    return POD_SPEC_PATHS.get(kind) if isinstance(kind, str) else None


def get_path(obj, path: tuple[str, ...]):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def find_pod_templates(obj, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """Every mapping below `obj` that looks like a pod spec (a list of containers with images)."""
    found = []
    if isinstance(obj, dict):
        containers = obj.get("containers")
        if isinstance(containers, list) and any(isinstance(c, dict) and "image" in c for c in containers):
            found.append((path, obj))
        for key, value in obj.items():
            found.extend(find_pod_templates(value, (*path, key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found.extend(find_pod_templates(value, (*path, i)))
    return found
