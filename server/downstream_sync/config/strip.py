"""A Skaffold config without its `download` stanzas, for stock Skaffold (which rejects unknown fields).

Owns `strip_download`: every `download` key of an artifact (in `build.artifacts`, in a profile's
`build.artifacts`, and in the artifacts a profile patch adds) is removed, and so is every profile
patch whose path goes into a `download` stanza. Everything else is kept as the YAML library
composes it: keys in order, tags, anchors and aliases (comments are not kept; the copy is for
Skaffold, not for people). Must not import pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import yaml

from . import profiles as prof

__all__ = ["strip_download", "StripError"]

_Loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
_Dumper = getattr(yaml, "CSafeDumper", None) or yaml.SafeDumper


class StripError(Exception):
    """The config is not YAML that can be rewritten; the message says where."""


def _get(node, key: str):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _drop_key(node, key: str) -> int:
    if not isinstance(node, yaml.MappingNode):
        return 0
    before = len(node.value)
    node.value = [(k, v) for k, v in node.value if not (isinstance(k, yaml.ScalarNode) and k.value == key)]
    return before - len(node.value)


def _strip_artifacts(seq) -> int:
    if not isinstance(seq, yaml.SequenceNode):
        return 0
    return sum(_drop_key(art, "download") for art in seq.value)


def _strip_build(build) -> int:
    return _strip_artifacts(_get(build, "artifacts"))


def _strip_patches(patches) -> int:
    """Removes the patches that go into a download stanza; strips the artifacts others add."""
    if not isinstance(patches, yaml.SequenceNode):
        return 0
    kept, removed = [], 0
    for patch in patches.value:
        path, value = _get(patch, "path"), _get(patch, "value")
        try:
            tokens = prof.pointer(path.value) if isinstance(path, yaml.ScalarNode) else None
        except prof.PatchError:
            tokens = None
        if tokens and len(tokens) >= 4 and tokens[:2] == ["build", "artifacts"] and tokens[3] == "download":
            removed += 1
            continue
        if tokens == ["build"]:
            removed += _strip_build(value)
        elif tokens == ["build", "artifacts"]:
            removed += _strip_artifacts(value)
        elif tokens and len(tokens) == 3 and tokens[:2] == ["build", "artifacts"]:
            removed += _drop_key(value, "download")
        kept.append(patch)
    patches.value = kept
    return removed


def strip_download(text: str) -> tuple[str, int]:
    """The config `text` without download stanzas, and how many stanzas and patches were removed.
    A text with nothing to remove comes back unchanged."""
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as error:
        raise StripError(f"not YAML that can be rewritten: {error}") from None
    removed = 0
    for root in documents:
        api = _get(root, "apiVersion")
        if not (isinstance(api, yaml.ScalarNode) and api.value.startswith("skaffold/")):
            continue
        removed += _strip_build(_get(root, "build"))
        profiles = _get(root, "profiles")
        for profile in profiles.value if isinstance(profiles, yaml.SequenceNode) else []:
            removed += _strip_build(_get(profile, "build"))
            removed += _strip_patches(_get(profile, "patches"))
    if not removed:
        return text, 0
    out = yaml.serialize_all(documents, Dumper=_Dumper, explicit_start=len(documents) > 1,
                             allow_unicode=True)
    return out, removed
