"""Completion and hover of the download stanza's keys, through LSP."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from .conftest import open_doc

CONFIG = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: node-example
    context: node
    download:
      manual:
        - remoteSrc: src
          localDst: node/src
      excludes:
        - "node_modules/**"
"""


async def complete(client: LanguageClient, uri: str, line: int, character: int) -> list[lsp.CompletionItem]:
    result = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=line, character=character),
        )
    )
    if result is None:
        return []
    return list(result.items if isinstance(result, lsp.CompletionList) else result)


async def test_completion_offers_the_keys_of_each_level(client: LanguageClient, project: Path):
    text = CONFIG + "    \n"  # line 12: a blank line inside the artifact
    uri = open_doc(client, project / "skaffold.yaml", text.replace("      excludes:\n        - \"node_modules/**\"\n", "      \n"))
    # Line 10 is now blank inside `download`: `manual` exists, so only `excludes` is offered.
    items = await complete(client, uri, 10, 6)
    assert [i.label for i in items] == ["excludes"]
    assert items[0].text_edit.range == lsp.Range(start=lsp.Position(line=10, character=6), end=lsp.Position(line=10, character=6))
    assert items[0].insert_text_format == lsp.InsertTextFormat.Snippet
    # The snippet's second line is indented to the key's column, and the editor is told so.
    assert items[0].text_edit.new_text == "excludes:\n        - ${1:node_modules/**}"
    assert items[0].insert_text_mode == lsp.InsertTextMode.AsIs

    # On a new line of the manual item whose two keys are written: nothing to offer.
    full = open_doc(client, project / "skaffold-full.yaml", CONFIG.replace("node/src\n", "node/src\n          \n"))
    assert await complete(client, full, 10, 10) == []


async def test_completion_in_a_new_manual_item_and_in_an_artifact(client: LanguageClient, project: Path):
    text = CONFIG.replace("          localDst: node/src\n", "          localDst: node/src\n        - rem\n")
    uri = open_doc(client, project / "skaffold.yaml", text)
    items = await complete(client, uri, 10, 13)  # after "- rem"
    assert {i.label for i in items} == {"remoteSrc", "localDst"}
    remote = next(i for i in items if i.label == "remoteSrc")
    assert remote.text_edit.range.start == lsp.Position(line=10, character=10)
    assert "container" in remote.documentation.value

    # At the artifact level (under `- image:`), `download` is already there.
    other = CONFIG.replace("    download:", "    docker: {}\n    download:", 1)
    text2 = "\n".join(other.splitlines()[:6] + ["    "]) + "\n"
    uri2 = open_doc(client, project / "skaffold-dev.yaml", text2)
    items2 = await complete(client, uri2, 6, 4)
    assert [i.label for i in items2] == ["download"]


async def test_no_completion_outside_the_stanza_or_in_other_files(client: LanguageClient, project: Path):
    uri = open_doc(client, project / "skaffold.yaml", "apiVersion: skaffold/v4beta9\nkind: Config\n\n")
    assert await complete(client, uri, 2, 0) == []
    uri2 = open_doc(client, project / "values.yaml", "build:\n  artifacts:\n  - image: x\n    \n")
    assert await complete(client, uri2, 3, 4) == []


async def test_hover_documents_each_key_at_its_range(client: LanguageClient, project: Path):
    uri = open_doc(client, project / "skaffold.yaml", CONFIG)
    for line, column, key in [(6, 6, "download"), (7, 8, "manual"), (8, 12, "remoteSrc"), (9, 15, "localDst"), (10, 6, "excludes")]:
        result = await client.text_document_hover_async(
            lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=line, character=column))
        )
        assert result is not None, key
        assert result.contents.value.startswith(f"**{key}**")
        start = CONFIG.splitlines()[line].index(key)
        assert result.range == lsp.Range(
            start=lsp.Position(line=line, character=start), end=lsp.Position(line=line, character=start + len(key))
        )
    # `image` is Skaffold's, not ours; a value is not a key.
    for line, column in [(4, 5), (8, 22)]:
        result = await client.text_document_hover_async(
            lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=line, character=column))
        )
        assert result is None


async def test_hover_counts_utf16_units_after_wide_characters(client: LanguageClient, project: Path):
    text = CONFIG.replace("kind: Config", "kind: Config  # \U0001F600")
    text = text.replace("        - remoteSrc: src", "        - {remoteSrc: src}  # \U0001F600\n        - remoteSrc: src")
    uri = open_doc(client, project / "skaffold.yaml", text)
    result = await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=9, character=12))
    )
    assert result is not None and result.contents.value.startswith("**remoteSrc**")


async def test_hover_after_a_unicode_line_separator_stays_on_the_editors_line(client: LanguageClient, project: Path):
    """U+2028 ends no line for YAML or the editor: the keys after it keep their line numbers."""
    text = CONFIG.replace("kind: Config", "kind: Config  # a\u2028b")
    uri = open_doc(client, project / "skaffold.yaml", text)
    result = await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=8, character=12))
    )
    assert result is not None and result.contents.value.startswith("**remoteSrc**")
