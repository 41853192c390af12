"""Diagnostics arrive through LSP at the checks' exact ranges, with severity and code; they follow
changes and saves; the quick fix for a misspelt key repairs it."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from .conftest import diagnostics_after, open_doc

BROKEN = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
    context: web
    download:
      manual:
      - remotesrc: out
        localDst: out
      - remoteSrc: gen
        localDst: ../../etc
      excludes:
      - "[abc"
      - {glob: x}
"""


def span(text: str, line: int, token: str, *, end_line: int | None = None, end_token: str | None = None) -> tuple:
    """(start line, start char, end line, end char) of `token` on `line` (0-based)."""
    lines = text.splitlines()
    start = lines[line].index(token)
    if end_line is None:
        return (line, start, line, start + len(token))
    end = lines[end_line].index(end_token) + len(end_token)
    return (line, start, end_line, end)


def table(found: list[lsp.Diagnostic]) -> set[tuple]:
    return {
        (d.code, d.severity, (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character))
        for d in found
    }


E, W, I = lsp.DiagnosticSeverity.Error, lsp.DiagnosticSeverity.Warning, lsp.DiagnosticSeverity.Information


async def test_each_check_arrives_at_its_range(client: LanguageClient, project: Path):
    path = project / "skaffold.yaml"
    found = await diagnostics_after(client, lambda: open_doc(client, path, BROKEN), path.as_uri())
    got = table(found)
    assert ("download-unknown-key", E, span(BROKEN, 8, "remotesrc")) in got
    assert ("download-missing-key", E, span(BROKEN, 8, "remotesrc", end_line=9, end_token="out")) in got
    assert ("download-localdst-outside", E, span(BROKEN, 11, "../../etc")) in got
    assert ("download-bad-exclude", E, (13, 9, 13, 10)) in got  # the unclosed "[" inside the quotes
    assert ("download-wrong-type", E, span(BROKEN, 14, "{glob: x}")) in got
    assert ("download-not-in-skaffold", I, span(BROKEN, 6, "download")) in got
    assert all(d.source == "downstream-sync" for d in found)
    unknown = next(d for d in found if d.code == "download-unknown-key")
    assert "remoteSrc" in unknown.message and unknown.data["replacement"] == "remoteSrc"


async def test_diagnostics_follow_changes_saves_and_close(client: LanguageClient, project: Path):
    path = project / "skaffold.yaml"
    uri = path.as_uri()
    good = BROKEN.replace("remotesrc", "remoteSrc").replace("../../etc", "gen").replace('      - "[abc"\n      - {glob: x}\n', '      - "*.tmp"\n')
    found = await diagnostics_after(client, lambda: open_doc(client, path, good), uri)
    assert [d.code for d in found if d.severity == E] == []

    # An incremental edit: "gen" -> "/abs" in line 11; checked after the quiet time.
    col = good.splitlines()[11].index("gen")

    def change() -> None:
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    lsp.TextDocumentContentChangePartial(
                        range=lsp.Range(start=lsp.Position(line=11, character=col), end=lsp.Position(line=11, character=col + 3)),
                        text="/abs",
                    )
                ],
            )
        )

    found = await diagnostics_after(client, change, uri)
    assert [(d.code, d.range.start.line, d.range.start.character, d.range.end.character) for d in found if d.severity == E] == [
        ("download-localdst-outside", 11, col, col + 4)
    ]

    # Saving checks at once (the text is the editor's, not the disk's: nothing was written).
    found = await diagnostics_after(
        client, lambda: client.text_document_did_save(lsp.DidSaveTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri))), uri
    )
    assert [d.code for d in found if d.severity == E] == ["download-localdst-outside"]

    found = await diagnostics_after(
        client, lambda: client.text_document_did_close(lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri))), uri
    )
    assert found == []


async def test_skaffold_yaml_is_recognized_by_name_or_content(client: LanguageClient, project: Path):
    (project / "deploy").mkdir()
    other = project / "deploy" / "build.yaml"
    found = await diagnostics_after(client, lambda: open_doc(client, other, BROKEN), other.as_uri())
    assert "download-unknown-key" in {d.code for d in found}

    # A YAML that is not Skaffold's gets nothing, even with the same stanza.
    plain = project / "values.yaml"
    plain_uri = open_doc(client, plain, BROKEN.replace("apiVersion: skaffold/v4beta9", "apiVersion: v1"))
    marker = project / "skaffold-after.yaml"
    await diagnostics_after(client, lambda: open_doc(client, marker, BROKEN), marker.as_uri())
    assert plain_uri not in client.diagnostics


async def test_quick_fix_replaces_the_misspelt_key(client: LanguageClient, project: Path):
    path = project / "skaffold.yaml"
    uri = path.as_uri()
    found = await diagnostics_after(client, lambda: open_doc(client, path, BROKEN), uri)
    unknown = next(d for d in found if d.code == "download-unknown-key")
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=unknown.range,
            context=lsp.CodeActionContext(diagnostics=[unknown], only=[lsp.CodeActionKind.QuickFix]),
        )
    )
    (action,) = actions
    assert action.kind == lsp.CodeActionKind.QuickFix and action.is_preferred
    (edit,) = action.edit.changes[uri]
    assert edit.range == unknown.range and edit.new_text == "remoteSrc"

    # Applying the edit removes both diagnostics of that rule.
    def apply() -> None:
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[lsp.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text)],
            )
        )

    after = await diagnostics_after(client, apply, uri)
    codes = {d.code for d in after}
    assert "download-unknown-key" not in codes and "download-missing-key" not in codes
    assert "download-localdst-outside" in codes

    # A diagnostic without a replacement gets no quick fix.
    outside = next(d for d in after if d.code == "download-localdst-outside")
    none = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=outside.range,
            context=lsp.CodeActionContext(diagnostics=[outside]),
        )
    )
    assert not none


async def test_ranges_count_utf16_units(client: LanguageClient, project: Path):
    """The checks count code points; VS Code counts UTF-16 units: an emoji before a key is 2."""
    text = BROKEN.replace("      - remotesrc: out\n        localDst: out\n", '      - {localDst: "\U0001F600", remotesrc: out}\n')
    path = project / "skaffold.yaml"
    found = await diagnostics_after(client, lambda: open_doc(client, path, text), path.as_uri())
    unknown = next(d for d in found if d.code == "download-unknown-key")
    line = text.splitlines()[8]
    utf16_start = len(line[: line.index("remotesrc")].encode("utf-16-le")) // 2
    assert (unknown.range.start.line, unknown.range.start.character, unknown.range.end.character) == (
        8, utf16_start, utf16_start + len("remotesrc")
    )


MISSING = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - remoteSrc: out
      - {remoteSrc: gen}
      excludes: "*.tmp"
"""


def apply_edits(text: str, edits: list[lsp.TextEdit]) -> str:
    """Apply edits (ASCII text, so characters are UTF-16 units), last first."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    at = lambda p: offsets[p.line] + p.character  # noqa: E731
    for e in sorted(edits, key=lambda e: at(e.range.start), reverse=True):
        text = text[: at(e.range.start)] + e.new_text + text[at(e.range.end) :]
    return text


async def test_quick_fixes_add_missing_keys_and_wrap_in_a_list(client: LanguageClient, project: Path):
    path = project / "skaffold.yaml"
    uri = path.as_uri()
    found = await diagnostics_after(client, lambda: open_doc(client, path, MISSING), uri)
    fixable = [d for d in found if d.code in ("download-missing-key", "download-wrong-type")]
    assert len(fixable) == 3
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(start=lsp.Position(line=7, character=0), end=lsp.Position(line=9, character=0)),
            context=lsp.CodeActionContext(diagnostics=fixable),
        )
    )
    assert sorted(a.title for a in actions) == ["Add 'localDst'", "Add 'localDst'", "Put it in a list"]
    edits = [e for a in actions for e in a.edit.changes[uri]]
    fixed = apply_edits(MISSING, edits)
    assert fixed.splitlines()[7:] == [
        "      - remoteSrc: out",
        "        localDst: ",
        "      - {remoteSrc: gen, localDst: }",
        '      excludes: ["*.tmp"]',
    ]
    # Each fix removes its diagnostic (the new empty values are a different, expected check).
    after = await diagnostics_after(client, lambda: open_doc(client, project / "skaffold-fixed.yaml", fixed),
                                    (project / "skaffold-fixed.yaml").as_uri())
    codes = {d.code for d in after}
    assert "download-missing-key" not in codes and "download-wrong-type" not in codes


LOOP = """\
apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts:
  - image: web
    context: app
    download:
      manual:
      - remoteSrc: /srv/out
        localDst: app/out
"""


async def test_the_rebuild_loop_fix_adds_the_entry_to_the_dockerignore(client: LanguageClient, project: Path):
    (project / "app").mkdir()
    (project / "app" / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    path = project / "skaffold.yaml"
    uri = path.as_uri()
    found = await diagnostics_after(client, lambda: open_doc(client, path, LOOP), uri)
    loop = next(d for d in found if d.code == "download-rebuild-loop")
    assert (loop.range.start.line, loop.range.start.character) == (9, 18)

    async def fix() -> lsp.CodeAction:
        (action,) = await client.text_document_code_action_async(lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), range=loop.range,
            context=lsp.CodeActionContext(diagnostics=[loop])))
        return action

    ignore = project / "app" / ".dockerignore"
    action = await fix()  # no .dockerignore yet: it is created, then written
    assert action.title == "Add 'out/' to .dockerignore"
    create, edit = action.edit.document_changes
    assert create.uri == ignore.as_uri() and create.options.ignore_if_exists
    assert edit.text_document.uri == ignore.as_uri() and edit.edits[0].new_text == "out/\n"

    ignore.write_text("node_modules")  # a file without a final newline: the entry goes on a line of its own
    (edit,) = (await fix()).edit.document_changes
    (change,) = edit.edits
    assert (change.range.start.line, change.range.start.character) == (0, 12) and change.new_text == "\nout/\n"
    ignore.write_text("node_modules" + change.new_text)  # as the editor applies it

    def touch() -> None:
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=LOOP + "# checked again\n")]))

    after = await diagnostics_after(client, touch, uri)
    assert "download-rebuild-loop" not in {d.code for d in after}
