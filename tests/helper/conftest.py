"""Fixtures for the helper's tests; the helpers themselves are in helper_procs.py."""

from helper_procs import bridge, run_helper  # noqa: F401  (fixtures)
