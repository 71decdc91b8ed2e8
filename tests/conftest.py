"""Shared fixtures. Tests are offline and deterministic; real data comes from RMBG_ASSETS."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist (make test: 2 workers on the CI machine's 2 cores) each worker's TensorFlow and
# OpenMP pools get the worker's share of the cores: two workers each running pools as wide as the
# machine oversubscribe it (TensorFlow's pool threads spin while waiting). Set before any test
# imports TensorFlow; explicit settings (the suite's 1- and 2-thread runs) win.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_share))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
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


def assert_same_cutout(ours: np.ndarray, reference: np.ndarray, alpha_tolerance: int, name: str = "") -> None:
    """Two RGBA cutouts of one photo agree: alphas within ``alpha_tolerance`` levels, the photo's
    colours equal wherever both are visible, and (0, 0, 0) wherever one is fully transparent
    (:func:`RMBG.inference.compose.compose` stores invisible pixels as zero, so a one-level alpha
    difference at 0 also changes that pixel's stored colour)."""
    assert ours.shape == reference.shape, name
    diff = np.abs(ours[..., 3].astype(int) - reference[..., 3].astype(int)).max()
    assert diff <= alpha_tolerance, f"{name}: alpha differs by {diff}/255"
    visible = (ours[..., 3] > 0) & (reference[..., 3] > 0)
    np.testing.assert_array_equal(ours[..., :3][visible], reference[..., :3][visible], err_msg=name)
    for cutout in (ours, reference):
        assert not cutout[..., :3][cutout[..., 3] == 0].any(), f"{name}: a fully transparent pixel keeps a colour"


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
    controller makes it and its workers inherit it (caches are written atomically)."""
    import tempfile

    if "PYTEST_XDIST_WORKER" not in os.environ:
        os.environ["RMBG_HOME"] = tempfile.mkdtemp(prefix="rmbg_home_")


# ---- make test on two pytest-xdist workers (the scheduler below) --------------------------------
#: Tests that share machine-wide state stay in one group (one worker, collection order): the
#: notebooks write Data/smoke and Data/test; the Ray tests start local Ray instances.
SHARED_STATE_GROUPS = {"notebooks/": "notebooks", "workspace.ipynb": "notebooks", "tests/distributed/test_ray": "ray"}
#: The modules whose process peaks at several GB (big models built, traced and exported), in one
#: group so that they run one after the other on one worker while the other worker runs the rest:
#: two of them side by side do not fit in the CI machine's 24 GB (a worker reached 13.5 GB when
#: they were spread). Peak RSS of the worker per module, AMD EPYC, 2026-12-03, two-worker runs
#: (``RMBG_TEST_MEMORY_LOG`` below writes these figures); the largest module outside the group,
#: tests/inference/test_official_parity.py, peaked at 7.0 GB, the whole process tree at 14.3 GB:
HEAVY_MODULES = (
    "tests/models/test_tracer_b7_use.py",  # 9.2-9.9 GB
    "tests/weights/test_inspyrenet_reference.py",  # 8.3-10.4 GB
    "tests/models/test_inspyrenet.py",  # 2.6-3.2 GB measured; in the group from the first guess, not re-measured outside it
    "tests/models/test_tracer_b7.py",  # 4.3-6.5 GB
    "tests/export/test_fba_export.py",  # 6.2 GB
    "tests/models/test_resnet50_unet.py",  # 4.9-5.6 GB
    "tests/matting_nets/test_fba_matting.py",  # 4.6-5.0 GB
)
#: Groups handed out first, longest first (from ``--durations``), so the two workers finish
#: together instead of one waiting for a long group started last.
LONGEST_FIRST = ("heavy", "tests/training/test_dvc_pipeline.py", "notebooks", "tests/training/test_training_run.py", "ray")


def xdist_group(nodeid: str) -> str:
    """The test's group (one worker runs a group's tests in order, so a module-scoped model is
    built once): the heavy group, a shared-state group, or its module."""
    path = nodeid.split("::")[0]
    if path in HEAVY_MODULES:
        return "heavy"
    return next((group for prefix, group in SHARED_STATE_GROUPS.items() if path.startswith(prefix)), path)


def pytest_collection_modifyitems(config, items):
    """Puts the longest groups first (with or without xdist; tests are independent)."""
    rank = {group: position for position, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(xdist_group(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """``make test``'s scheduler: whole groups (:func:`xdist_group`) go to one worker, handed out
    in collection order (longest first). Not ``--dist loadgroup`` with ``xdist_group`` marks:
    pytest-xdist 3.8.0 writes the group into ``item._nodeid``, which pytest 9 no longer reads
    (``nodeid`` comes from ``item._id``), so the marks are silently ignored and every test is
    scheduled on its own, splitting modules and the heavy group across both workers."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    config.option.loadscopereorder = False  # keep LONGEST_FIRST (xdist would sort by test count)
    return GroupScheduling(config, log)


def _peak_rss_mb() -> float:
    """This process's peak resident set since the last reset (Linux VmHWM), in MB. Not
    ``ru_maxrss`` (RMBG.benchmark.worker's): that is the peak of the whole process life and
    cannot be reset per module."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.fixture(scope="module", autouse=True)
def _module_memory(request):
    """With ``RMBG_TEST_MEMORY_LOG=file``: appends each module's peak RSS (this process; its
    subprocesses not counted) and wall time, the figures that decide ``HEAVY_MODULES``."""
    log = os.environ.get("RMBG_TEST_MEMORY_LOG")
    if not log:
        yield
        return
    import time

    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    start = time.perf_counter()
    yield
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(log, "a") as handle:
        handle.write(f"{worker}\t{request.node.nodeid}\t{_peak_rss_mb():.0f} MB\t{time.perf_counter() - start:.0f} s\n")
