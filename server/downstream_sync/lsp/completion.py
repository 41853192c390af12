"""Completion of the download stanza's keys. Must not import the engine."""

from __future__ import annotations

from lsprotocol import types as lsp

from .context import parents, read_line, stanza_parent
from .keys import BY_PARENT, markdown


def complete(lines: list[str], position: lsp.Position) -> lsp.CompletionList:
    """Keys that may be typed at `position`: only where the cursor starts a key."""
    items: list[lsp.CompletionItem] = []
    line = lines[position.line] if position.line < len(lines) else ""
    prefix = line[: position.character]
    here = read_line(prefix)
    if here is None or here.key is None:  # blank, or a key being typed; not a value
        # Where the word being typed starts: the key's column.
        word_start = len(prefix) - len(prefix.lstrip(" -")) if prefix.strip() else len(prefix)
        if here is not None:
            word_start = here.key_col
        chain = parents(lines, position.line, word_start)
        parent = stanza_parent(chain)
        opens_item = here is not None and here.dash_col is not None
        present = _sibling_keys(lines, position.line, word_start, opens_item)
        start = lsp.Position(line=position.line, character=word_start)
        for key in BY_PARENT.get(parent, []):
            if key.name in present:
                continue
            items.append(
                lsp.CompletionItem(
                    label=key.name,
                    kind=lsp.CompletionItemKind.Property,
                    detail=key.summary,
                    documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=markdown(key)),
                    insert_text_format=lsp.InsertTextFormat.Snippet,
                    # Later lines carry their own indentation: the editor must not add more.
                    insert_text_mode=lsp.InsertTextMode.AsIs,
                    text_edit=lsp.TextEdit(
                        range=lsp.Range(start=start, end=position),
                        new_text=_indent(key.insert, word_start),
                    ),
                )
            )
    return lsp.CompletionList(is_incomplete=False, items=items)


def _indent(snippet: str, column: int) -> str:
    """Indent a multi-line snippet's later lines to the key's column."""
    first, *rest = snippet.rstrip("\n").split("\n")
    return "\n".join([first] + [" " * column + line for line in rest])


def _sibling_keys(lines: list[str], line_no: int, column: int, opens_item: bool) -> set[str]:
    """Keys already written at the same column in the same mapping (above and below)."""
    found: set[str] = set()
    for step in ((1,) if opens_item else (-1, 1)):
        i = line_no + step
        while 0 <= i < len(lines) and abs(i - line_no) < 200:
            line = read_line(lines[i])
            i += step
            if line is None:
                continue
            if line.key_col < column or (line.dash_col is not None and line.dash_col < column):
                if line.key_col == column and line.key and step == -1:
                    found.add(line.key)  # "- key:" that opens our item
                break
            if line.key_col == column and line.key:
                found.add(line.key)
    return found
