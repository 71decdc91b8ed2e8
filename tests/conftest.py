"""Shared fixtures. Tests are offline and deterministic; real data comes from RMBG_ASSETS."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from RMBG.paths import assets_dir  # noqa: E402


def require_asset(*parts: str) -> Path:
    """Path of a file or folder under RMBG_ASSETS; skips the test with a clear reason if absent."""
    path = assets_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"asset {path} is absent (set RMBG_ASSETS to the shared assets folder to run this test)")
    return path


@pytest.fixture
def assets() -> Path:
    """The shared assets folder; skips when it is absent."""
    return require_asset()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty RMBG_HOME unless it sets one, so no test reads a user's cache."""
    monkeypatch.setenv("RMBG_HOME", str(tmp_path_factory.mktemp("rmbg_home")))
