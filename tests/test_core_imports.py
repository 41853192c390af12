"""The core (config, sync, cluster, inject, skaffold, planner) imports no face (cli, lsp, terminal), nor the
language server's libraries: read from every import statement of every core module (a lazy import
inside a function included), and checked again by importing each module in a fresh interpreter.
The per-package tests (tests/config, tests/inject, tests/planner) also exercise the code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import downstream_sync

PACKAGE = Path(downstream_sync.__file__).parent
CORE = ["config", "sync", "cluster", "inject", "skaffold", "planner.py", "records.py"]
FACES = ("downstream_sync.cli", "downstream_sync.lsp", "downstream_sync.terminal")
FACE_LIBRARIES = ("pygls", "lsprotocol")


def core_modules() -> list[Path]:
    found: list[Path] = []
    for part in CORE:
        path = PACKAGE / part
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def imported_names(path: Path) -> list[str]:
    """The absolute module names that the module at `path` imports (relative imports resolved)."""
    module = ".".join(("downstream_sync", *path.relative_to(PACKAGE).with_suffix("").parts))
    return names_in(path.read_text(), module, path.name == "__init__.py")


def names_in(source: str, module: str, is_package: bool = False) -> list[str]:
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def is_face(name: str) -> bool:
    return (name.split(".")[0] in FACE_LIBRARIES
            or any(name == face or name.startswith(face + ".") for face in FACES))


def test_the_core_modules_are_found():
    modules = {str(p.relative_to(PACKAGE)) for p in core_modules()}
    assert {"sync/apply.py", "cluster/transport.py", "config/__init__.py", "inject/__init__.py", "planner.py"} <= modules


def test_no_core_module_imports_a_face():
    bad = [f"{path.relative_to(PACKAGE)} imports {name}"
           for path in core_modules() for name in imported_names(path) if is_face(name)]
    assert bad == []


def test_the_import_reader_sees_a_face():
    """The reader above must catch the spellings a face import can take, and only those."""
    source = ("from .writer import lstat\n"
              "def later():\n    from ..lsp import server\n    from .. import terminal\n    import pygls.server\n")
    assert [n for n in names_in(source, "downstream_sync.sync.probe") if is_face(n)] == [
        "downstream_sync.lsp", "downstream_sync.lsp.server", "downstream_sync.terminal", "pygls.server"]


def test_importing_every_core_module_loads_no_face():
    names = [".".join(("downstream_sync", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
             for p in core_modules()]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FACE_LIBRARIES!r} or m.startswith({FACES!r}))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
