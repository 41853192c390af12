"""Skaffold profiles on position-carrying nodes: which are active, and applying them to a config.

Owns activation (by name, `-name` to deactivate, `activation` by command or environment), the
overlay of a profile's `build` and its JSON patches (add, replace, remove, move, copy, test), done
copy-on-write so that the original nodes, and their positions, stay as written.
Must not import the loader, the checks, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC

from . import yamlpos as y


class PatchError(ValueError):
    pass


def pointer(path: str) -> list[str]:
    """A JSON pointer ('/build/artifacts/0') as its unescaped tokens."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"path '{path}' must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def profile_nodes(root: y.Node) -> list[tuple[str, y.Node]]:
    """(name, node) of every well-formed profile of a config, in file order."""
    profiles = y.value(root, "profiles")
    if profiles is None or profiles.kind != y.SEQ:
        return []
    out = []
    for p in profiles.value:
        name = y.value(p, "name")
        if y.is_str(name):
            out.append((name.value, p))
    return out


def _activated(profile: y.Node, command: str | None, env: MappingABC[str, str] | None) -> bool:
    activation = y.value(profile, "activation")
    if activation is None or activation.kind != y.SEQ or not activation.value:
        return False
    require_all = y.to_data(y.value(profile, "requiresAllActivations")) is True
    results = []
    for act in activation.value:
        if act.kind != y.MAP:
            continue
        checks = []
        cmd = y.value(act, "command")
        if y.is_str(cmd):
            checks.append(command is not None and cmd.value == command)
        ev = y.value(act, "env")
        if y.is_str(ev):
            checks.append(env is not None and _env_matches(ev.value, env))
        kube = y.value(act, "kubeContext")
        if y.is_str(kube):
            checks.append(False)  # the kube context is not known here
        if checks:
            results.append(all(checks))
    return bool(results) and (all(results) if require_all else any(results))


def _env_matches(spec: str, env: MappingABC[str, str]) -> bool:
    key, _, pattern = spec.partition("=")
    current = env.get(key, "")
    negate = pattern.startswith("!")
    pattern = pattern[1:] if negate else pattern
    if pattern == "":
        hit = current == ""
    else:
        try:
            hit = current == pattern or re.search(pattern, current) is not None
        except re.error:
            hit = current == pattern
    return hit != negate


def active(root: y.Node, requested: list[str], command: str | None = None,
           env: MappingABC[str, str] | None = None) -> list[tuple[str, y.Node]]:
    """The profiles of a config to apply, in file order: named in `requested` (a '-name' there
    deactivates), or auto-activated by `command`/`env`."""
    on = {r for r in requested if not r.startswith("-")}
    off = {r[1:] for r in requested if r.startswith("-")}
    return [(n, p) for n, p in profile_nodes(root)
            if n not in off and (n in on or _activated(p, command, env))]


OVERLAID = ("build", "manifests", "deploy")  # a profile's sections laid over the config's, field by field


def apply(root: y.Node, profile: y.Node) -> tuple[y.Node, list[tuple[y.Node, str]]]:
    """The config with one profile applied; and (node, message) for each patch that failed."""
    failures: list[tuple[y.Node, str]] = []
    for section in OVERLAID:
        overlay = y.value(profile, section)
        if overlay is None or overlay.kind != y.MAP:
            continue
        base = y.value(root, section)
        merged = base if base is not None and base.kind == y.MAP else None
        for key, val in y.items(overlay):
            if y.is_null(val) or (val.kind != y.SCALAR and not val.value):
                continue  # as in Skaffold, an empty field of a profile leaves the config's own
            merged = _set_key(merged or y.clone(overlay, []), key, val)
        if merged is not None and root.kind == y.MAP:
            root = _set_key(root, y.get(profile, section)[0], merged)
    patches = y.value(profile, "patches")
    if patches is not None and patches.kind == y.SEQ:
        for patch in patches.value:
            try:
                root = apply_patch(root, patch)
            except PatchError as e:
                failures.append((y.value(patch, "path") or patch, str(e)))
    return root, failures


def apply_patch(root: y.Node, patch: y.Node) -> y.Node:
    if patch.kind != y.MAP:
        raise PatchError("a patch must be a mapping with 'op', 'path' and 'value'")
    op_node, path_node = y.value(patch, "op"), y.value(patch, "path")
    op = op_node.value if y.is_str(op_node) else "replace"
    if not y.is_str(path_node):
        raise PatchError("a patch needs a 'path' string")
    tokens = pointer(path_node.value)
    value = y.value(patch, "value")
    if op in ("add", "replace", "test") and value is None:
        raise PatchError(f"'{op}' needs a 'value'")
    if op == "add":
        return _edit(root, tokens, "add", value)
    if op == "replace":
        return _edit(root, tokens, "replace", value)
    if op == "remove":
        return _edit(root, tokens, "remove", None)
    if op in ("move", "copy"):
        src = y.value(patch, "from")
        if not y.is_str(src):
            raise PatchError(f"'{op}' needs a 'from' path")
        moved = _lookup(root, pointer(src.value))
        if op == "move":
            root = _edit(root, pointer(src.value), "remove", None)
        return _edit(root, tokens, "add", moved)
    if op == "test":
        return root
    raise PatchError(f"unknown patch op '{op}'")


def _lookup(node: y.Node, tokens: list[str]) -> y.Node:
    for t in tokens:
        node = _child(node, t)
    return node


def _child(node: y.Node, token: str) -> y.Node:
    if node.kind == y.MAP:
        hit = y.get(node, token)
        if hit is None:
            raise PatchError(f"no key '{token}' at line {node.start.line + 1}")
        return hit[1]
    if node.kind == y.SEQ:
        index = _index(node, token, extra=0)
        return node.value[index]
    raise PatchError(f"cannot go into {y.kind_name(node)} at line {node.start.line + 1}")


def _index(node: y.Node, token: str, extra: int) -> int:
    if token == "-" and extra:
        return len(node.value)
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f"'{token}' is not a list index")
    index = int(token)
    if index >= len(node.value) + extra:
        raise PatchError(f"index {index} is past the end of the list of {len(node.value)} at line {node.start.line + 1}")
    return index


def _edit(node: y.Node, tokens: list[str], op: str, value: y.Node | None) -> y.Node:
    if not tokens:
        if op == "remove":
            raise PatchError("cannot remove the whole config")
        return value
    token, rest = tokens[0], tokens[1:]
    if rest:
        child = _child(node, token)
        return _replace_child(node, token, _edit(child, rest, op, value))
    if node.kind == y.MAP:
        hit = y.get(node, token)
        if op == "remove":
            if hit is None:
                raise PatchError(f"no key '{token}' to remove at line {node.start.line + 1}")
            return y.clone(node, [(k, v) for k, v in node.value if k is not hit[0]])
        if op == "replace" and hit is None:
            raise PatchError(f"no key '{token}' to replace at line {node.start.line + 1}")
        key = hit[0] if hit else y.Node(y.SCALAR, token, value._start, value._start)
        return _set_key(node, key, value)
    if node.kind == y.SEQ:
        items = list(node.value)
        if op == "add":
            items.insert(_index(node, token, extra=1), value)
        elif op == "replace":
            items[_index(node, token, extra=0)] = value
        else:
            del items[_index(node, token, extra=0)]
        return y.clone(node, items)
    raise PatchError(f"cannot patch inside {y.kind_name(node)} at line {node.start.line + 1}")


def _replace_child(node: y.Node, token: str, new: y.Node) -> y.Node:
    if node.kind == y.MAP:
        return _set_key(node, y.get(node, token)[0], new)
    items = list(node.value)
    items[int(token)] = new
    return y.clone(node, items)


def _set_key(node: y.Node, key: y.Node, value: y.Node) -> y.Node:
    """A copy of mapping `node` where `key` (matched by its text) holds `value`; merged keys are
    made explicit first."""
    pairs = list(y.items(node))
    for i, (k, _) in enumerate(pairs):
        if k.kind == y.SCALAR and k.value == key.value:
            pairs[i] = (k, value)
            return y.clone(node, pairs)
    return y.clone(node, pairs + [(key, value)])
