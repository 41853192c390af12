"""Quick fixes built from the data that checks attach to their diagnostics (config/CODES.md):

- `{"replacement": "remoteSrc"}`: write the replacement over the diagnostic's range;
- `download-missing-key` with `{"key": "localDst"}`: add the key to the rule;
- `download-wrong-type` with `{"wrap_in_list": true}`: put the one-line value in a list;
- `download-rebuild-loop` with `{"ignore_file", "ignore_entry"}`: add the entry to the build's
  .dockerignore (created when missing; read from disk to find its end).

Ranges here are in code points; the server converts from and to the client's units.
Must not import the engine.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from .diagnostics import SOURCE


def _pos(line: int, character: int) -> lsp.Position:
    return lsp.Position(line=line, character=character)


def _edit_for(diag: lsp.Diagnostic, rng: lsp.Range, lines: list[str]) -> tuple[str, list[lsp.TextEdit]] | None:
    """(title, edits) for one diagnostic, or None when it has no quick fix."""
    data = diag.data if isinstance(diag.data, dict) else {}
    replacement = data.get("replacement")
    if isinstance(replacement, str):
        return f"Change to '{replacement}'", [lsp.TextEdit(range=rng, new_text=replacement)]
    key = data.get("key")
    if diag.code == "download-missing-key" and isinstance(key, str) and rng.start.line < len(lines):
        start_line = lines[rng.start.line]
        if start_line[rng.start.character : rng.start.character + 1] == "{":  # a flow mapping
            close = _pos(rng.end.line, max(rng.end.character - 1, 0))
            return f"Add '{key}'", [lsp.TextEdit(range=lsp.Range(start=close, end=close), new_text=f", {key}: ")]
        end = _pos(rng.end.line, len(lines[rng.end.line]) if rng.end.line < len(lines) else 0)
        text = "\n" + " " * rng.start.character + f"{key}: "
        return f"Add '{key}'", [lsp.TextEdit(range=lsp.Range(start=end, end=end), new_text=text)]
    if diag.code == "download-wrong-type" and data.get("wrap_in_list") and rng.start.line == rng.end.line:
        if rng.start.line < len(lines):
            value = lines[rng.start.line][rng.start.character : rng.end.character]
            return "Put it in a list", [lsp.TextEdit(range=rng, new_text=f"[{value}]")]
    return None


def _ignore_fix(diag: lsp.Diagnostic) -> lsp.CodeAction | None:
    """Add the diagnostic's ignore entry at the end of its ignore file (a second file: its own edit)."""
    data = diag.data if isinstance(diag.data, dict) else {}
    file, entry = data.get("ignore_file"), data.get("ignore_entry")
    if diag.code != "download-rebuild-loop" or not isinstance(file, str) or not isinstance(entry, str):
        return None
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None
    target = path.as_uri()
    changes: list = []
    if text is None:
        changes.append(lsp.CreateFile(uri=target, options=lsp.CreateFileOptions(ignore_if_exists=True)))
        end, new = _pos(0, 0), f"{entry}\n"
    else:
        lines = text.split("\n")
        end = _pos(len(lines) - 1, len(lines[-1]))  # editors count UTF-16 units; an ASCII last line is the same
        new = ("" if text.endswith("\n") or not text else "\n") + f"{entry}\n"
    changes.append(lsp.TextDocumentEdit(
        text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=target, version=None),
        edits=[lsp.TextEdit(range=lsp.Range(start=end, end=end), new_text=new)]))
    return lsp.CodeAction(title=f"Add '{entry}' to {path.name}", kind=lsp.CodeActionKind.QuickFix,
                          diagnostics=[diag], is_preferred=True, edit=lsp.WorkspaceEdit(document_changes=changes))


def quick_fixes(uri: str, params: lsp.CodeActionParams, lines: list[str], to_server, to_client) -> list[lsp.CodeAction]:
    """Quick fixes for the diagnostics the client sent. `to_server`/`to_client` convert ranges
    between the client's units and code points."""
    actions: list[lsp.CodeAction] = []
    only = params.context.only
    if only and not any(str(k).startswith(lsp.CodeActionKind.QuickFix) for k in only):
        return actions
    for diag in params.context.diagnostics:
        if diag.source != SOURCE:
            continue  # another tool's diagnostic: its data means something else
        if (ignore := _ignore_fix(diag)) is not None:
            actions.append(ignore)
            continue
        found = _edit_for(diag, to_server(diag.range), lines)
        if found is None:
            continue
        title, edits = found
        for edit in edits:
            edit.range = to_client(edit.range)
        actions.append(
            lsp.CodeAction(
                title=title,
                kind=lsp.CodeActionKind.QuickFix,
                diagnostics=[diag],
                is_preferred=True,
                edit=lsp.WorkspaceEdit(changes={uri: edits}),
            )
        )
    return actions
