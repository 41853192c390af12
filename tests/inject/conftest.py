"""Fixtures for the injection tests; the equipment itself is in injecttools.py."""

import json

import pytest

from injecttools import SEED_IMAGE_CONFIG, SEED_SKAFFOLD, registry  # noqa: F401  (fixture)


@pytest.fixture
def seed_project(tmp_path):
    """The seed's skaffold.yaml and its node-example image config (as a file), in one folder."""
    (tmp_path / "skaffold.yaml").write_text(SEED_SKAFFOLD)
    (tmp_path / "node-example.json").write_text(json.dumps(SEED_IMAGE_CONFIG))
    return tmp_path
