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
    while a weight conversion done by one test is reused by the next. Under pytest-xdist the
    controller makes it and its workers inherit it (their caches are written atomically)."""
    import tempfile

    if "PYTEST_XDIST_WORKER" not in os.environ:
        os.environ["RMBG_HOME"] = tempfile.mkdtemp(prefix="rmbg_home_")


#: Tests that share machine-wide state run in one pytest-xdist group (one worker, collection
#: order): the notebooks (Data/smoke, Data/test) and the Ray tests (local Ray instances, /tmp/ray).
SHARED_STATE_GROUPS = {"notebooks/": "notebooks", "workspace.ipynb": "notebooks", "tests/distributed/": "ray"}
#: The longest groups (from `make test`'s --durations) are handed out first, so the two workers of
#: `make test` finish together instead of one waiting for a long group started last.
LONGEST_FIRST = (
    "tests/training/test_dvc_pipeline.py",
    "notebooks",
    "tests/training/test_training_run.py",
    "tests/weights/test_inspyrenet_reference.py",
    "tests/models/test_inspyrenet.py",
    "tests/runtime/test_runtime.py",
    "ray",
    "tests/models/test_tracer_b7.py",
    "tests/models/test_tracer_b7_use.py",
    "tests/inference/test_official_parity.py",
    "tests/training/test_training_model.py",
)


def xdist_group(nodeid: str) -> str:
    """The test's group: its module, or the shared-state group its path belongs to."""
    path = nodeid.split("::")[0]
    return next((group for prefix, group in SHARED_STATE_GROUPS.items() if path.startswith(prefix)), path)


def pytest_collection_modifyitems(config, items):
    """``make test`` runs on two pytest-xdist workers with ``--dist loadgroup``: a module stays on
    one worker (its module-scoped model is built once), shared-state groups stay together, and
    the longest groups start first. Without xdist only the order changes (tests are independent)."""
    rank = {group: position for position, group in enumerate(LONGEST_FIRST)}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item.nodeid)))
    items.sort(key=lambda item: rank.get(xdist_group(item.nodeid), len(rank)))
