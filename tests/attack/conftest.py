"""Fixtures for the attack tests: the engine tests' helpers (a real app-server, sessions)."""

import importlib.util
import pathlib
import sys

_ENGINE = pathlib.Path(__file__).resolve().parent.parent / "engine"
sys.path.insert(0, str(_ENGINE))
_spec = importlib.util.spec_from_file_location("engine_fixtures", _ENGINE / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
container, project, helper, make_session = _mod.container, _mod.project, _mod.helper, _mod.make_session
