"""Quick fixes built from the data that checks attach to their diagnostics.

A diagnostic whose data holds {"replacement": "remoteSrc"} is fixed by writing the replacement
over the diagnostic's range. Must not import the engine.
"""

from __future__ import annotations

from lsprotocol import types as lsp


def quick_fixes(uri: str, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    actions: list[lsp.CodeAction] = []
    only = params.context.only
    if only and not any(str(k).startswith(lsp.CodeActionKind.QuickFix) for k in only):
        return actions
    for diag in params.context.diagnostics:
        data = diag.data if isinstance(diag.data, dict) else {}
        replacement = data.get("replacement")
        if not isinstance(replacement, str):
            continue
        actions.append(
            lsp.CodeAction(
                title=f"Change to '{replacement}'",
                kind=lsp.CodeActionKind.QuickFix,
                diagnostics=[diag],
                is_preferred=True,
                edit=lsp.WorkspaceEdit(
                    changes={uri: [lsp.TextEdit(range=diag.range, new_text=replacement)]}
                ),
            )
        )
    return actions
