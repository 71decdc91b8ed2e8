"""Shared fixtures. Tests are offline and deterministic; real data comes from RMBG_ASSETS."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A local Ray started by a test binds the loopback address only (Ray otherwise uses the machine's
# network address); read by ray when it is imported, so it is set before any test imports it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Runtime artefacts built during the run measure parity on 2 probe photos, not 18 (the 18-photo
# check of every engine is tests/inference/test_official_parity.py).
os.environ.setdefault("RMBG_PARITY_PROBES", "2")

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


def pytest_configure(config):
    """One fresh RMBG_HOME for the whole run, so no test reads or writes a user's cache,
    while a weight conversion done by one test is reused by the next."""
    import tempfile

    os.environ["RMBG_HOME"] = tempfile.mkdtemp(prefix="rmbg_home_")
