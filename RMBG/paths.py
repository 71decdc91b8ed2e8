"""Where RMBG reads shared assets and keeps its cache.

Two environment variables, read each time (never cached in a global), so tests and
notebooks can point them elsewhere:

* ``RMBG_ASSETS``: real data and weights for tests, demos and benchmarks
  (default ``<repository>/../shared/assets``).
* ``RMBG_HOME``: the cache of downloaded and converted weights (default ``~/.cache/rmbg``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def repo_root() -> Path:
    """The folder that holds ``RMBG/``, ``Preprocess/`` and ``Data/``."""
    return REPO_ROOT


def assets_dir() -> Path:
    """The shared assets folder (``$RMBG_ASSETS`` or ``<repo>/../shared/assets``)."""
    value = os.environ.get("RMBG_ASSETS")
    path = Path(value).expanduser() if value else REPO_ROOT.parent / "shared" / "assets"
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    return path


def cache_dir() -> Path:
    """The weights cache (``$RMBG_HOME`` or ``~/.cache/rmbg``); created on demand."""
    value = os.environ.get("RMBG_HOME")
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "rmbg"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The project's ``Data/`` folder."""
    return REPO_ROOT / "Data"
