"""Experiment tracking with MLflow: every train, evaluate, export and benchmark run, optionally.

``--track mlflow [--tracking-uri URI] [--experiment NAME]`` on those commands; without a URI the
store is a local SQLite database ``mlflow.db`` (artefacts in ``mlartifacts/``) in the parent of
the run's output folder, so it works offline with no server (``mlflow ui --backend-store-uri
sqlite:///<folder>/mlflow.db``). See ``docs/mlops.md``.

Tracking never stops the work it records: a store that cannot be used is one
:class:`TrackingWarning` at the start, a failure later one warning, and the run goes on untracked.
Imports neither TensorFlow nor MLflow until a run is tracked.
"""

from __future__ import annotations

from RMBG.lazy import lazy_exports

_EXPORTS = {
    "TrackingOptions": "RMBG.tracking.options",
    "TrackingWarning": "RMBG.tracking.options",
    "add_tracking_arguments": "RMBG.tracking.options",
    "options_from_args": "RMBG.tracking.options",
    "Tracker": "RMBG.tracking.tracker",
    "start_tracker": "RMBG.tracking.tracker",
    "tracked_command": "RMBG.tracking.commands",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
