"""Fixtures of the Profile API tests (helpers.py holds the project and the server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve.helpers import build_served


@pytest.fixture(scope="module")
def served_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small project, built once per module."""
    return build_served(tmp_path_factory.mktemp("served"))
