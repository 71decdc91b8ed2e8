"""What to track and where: the ``--track`` / ``--tracking-uri`` / ``--experiment`` options."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

#: ``--track`` values.
TRACKERS = ("none", "mlflow")
#: File names of the default local store, in the parent folder of a run's outputs.
STORE_DB = "mlflow.db"
STORE_ARTIFACTS = "mlartifacts"


class TrackingWarning(UserWarning):
    """Tracking could not be done; the tracked work went on without it."""


@dataclass(frozen=True)
class TrackingOptions:
    """Where a run is tracked.

    Attributes:
        track: ``"mlflow"`` or ``"none"``.
        tracking_uri: an MLflow tracking URI (``sqlite:///path.db``, ``http://host:5000``,
            ``databricks``...), or ``None`` for the default local store (:func:`default_store`).
        experiment: the MLflow experiment name, or ``None`` for ``rmbg-<command>``.
    """

    track: str = "none"
    tracking_uri: str | None = None
    experiment: str | None = None

    def __post_init__(self) -> None:
        if self.track not in TRACKERS:
            raise ValueError(f"--track: expected one of {TRACKERS}, got {self.track!r}")
        if self.experiment is not None and not self.experiment.strip():
            raise ValueError("--experiment: expected a name, got an empty value (omit it for rmbg-<command>)")

    @property
    def enabled(self) -> bool:
        """Whether anything is tracked."""
        return self.track != "none"


def default_store(output: str | os.PathLike) -> tuple[str, str]:
    """``(tracking URI, artefact root URI)`` of the default local store of a run whose outputs go
    to the folder ``output``: ``<parent>/mlflow.db`` and ``<parent>/mlartifacts``."""
    parent = Path(output).expanduser().resolve().parent
    return f"sqlite:///{parent / STORE_DB}", (parent / STORE_ARTIFACTS).as_uri()


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--track``, ``--tracking-uri`` and ``--experiment`` to a command's parser."""
    group = parser.add_argument_group("experiment tracking (docs/mlops.md)")
    group.add_argument("--track", choices=TRACKERS, default="none",
                       help="record the run in MLflow (default none)")
    group.add_argument("--tracking-uri", default=None, metavar="URI",
                       help="MLflow tracking URI (default: sqlite mlflow.db beside the output folder)")
    group.add_argument("--experiment", default=None, metavar="NAME",
                       help="MLflow experiment (default rmbg-<command>)")


def options_from_args(args: argparse.Namespace) -> TrackingOptions:
    """The :class:`TrackingOptions` of parsed arguments (``none`` when the command has no flags)."""
    return TrackingOptions(
        track=getattr(args, "track", "none") or "none",
        tracking_uri=getattr(args, "tracking_uri", None),
        experiment=getattr(args, "experiment", None),
    )
