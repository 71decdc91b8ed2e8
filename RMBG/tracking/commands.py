"""Tracking for the one-shot commands (``evaluate``, ``export``, ``benchmark``): one decorator.

::

    @tracked_command("evaluate")
    def run(args): ...

With ``--track mlflow`` the run starts before the command (an unusable store is a warning then),
its arguments become params, and when it returns what it wrote is logged: the numbers of
``summary.json`` as metrics, its CSV tables, plots, reports and exported files as artefacts. The
command's exit code decides the run's status (``FINISHED`` for 0, else ``FAILED``). Without
``--track`` the command runs untouched.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from RMBG.tracking.options import TrackingWarning, options_from_args
from RMBG.tracking.tracker import Tracker, start_tracker

#: The argument naming each command's output (a folder, or a file for ``export``).
OUTPUT_ARGUMENTS = {"evaluate": "out", "export": "output", "benchmark": "output"}
#: File suffixes logged as artefacts from an output folder.
ARTEFACT_SUFFIXES = (".csv", ".json", ".md", ".png", ".svg", ".txt", ".yaml")
_TRACKING_ARGUMENTS = {"track", "tracking_uri", "experiment", "func", "command"}


def numeric_leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """``(dotted.name, value)`` of every finite number in nested mappings (lists are skipped)."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from numeric_leaves(value, f"{prefix}{key}.")
    elif isinstance(data, (int, float)) and not isinstance(data, bool) and math.isfinite(data):
        yield prefix[:-1], float(data)


def command_params(args: argparse.Namespace) -> dict[str, Any]:
    """A command's arguments as params (tracking flags and internals left out)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in _TRACKING_ARGUMENTS}


def output_of(kind: str, args: argparse.Namespace) -> Path:
    """The command's output folder: ``--out`` / ``--output`` (an export file's folder), or the
    working folder when the command writes none."""
    value = getattr(args, OUTPUT_ARGUMENTS[kind], None)
    if value is None:
        return Path.cwd() / kind
    path = Path(value)
    return path.parent if kind == "export" and path.suffix else path


def log_outputs(tracker: Tracker, kind: str, args: argparse.Namespace) -> None:
    """Log what the command wrote (see the module docstring)."""
    value = getattr(args, OUTPUT_ARGUMENTS[kind], None)
    if value is None:
        return
    path = Path(value)
    if kind == "export":
        tracker.log_artifacts([path], artifact_path="export")
        if path.is_file():
            tracker.log_metrics({"export_bytes": path.stat().st_size})
        return
    summary = path / "summary.json"
    if summary.is_file():
        tracker.log_metrics(dict(numeric_leaves(json.loads(summary.read_text(encoding="utf-8")))))
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in ARTEFACT_SUFFIXES) if path.is_dir() else []
    tracker.log_artifacts(files, artifact_path=kind)


def tracked_command(kind: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Decorate a command's ``run(args) -> exit code`` so that ``--track mlflow`` records it.

    Args:
        kind: ``"evaluate"``, ``"export"`` or ``"benchmark"`` (:data:`OUTPUT_ARGUMENTS`).

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind not in OUTPUT_ARGUMENTS:
        raise ValueError(f"kind: expected one of {sorted(OUTPUT_ARGUMENTS)}, got {kind!r}")

    def decorate(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            options = options_from_args(args)
            if not options.enabled:
                return command(args)
            output = output_of(kind, args)
            tracker = start_tracker(options, output=output, kind=kind, run_name=output.name)
            tracker.log_params(command_params(args))
            try:
                code = command(args)
            except BaseException as error:
                tracker.set_tags({"error": f"{type(error).__name__}: {error}"[:5000]})
                tracker.finish("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
                raise
            tracker.set_tags({"exit_code": code})
            try:
                log_outputs(tracker, kind, args)
            except (OSError, ValueError) as error:  # an unreadable output must not fail the command
                warnings.warn(f"tracking: cannot read the {kind} outputs ({error}); they are not logged",
                              TrackingWarning, stacklevel=2)
            tracker.finish("FINISHED" if not code else "FAILED")
            return code

        return run

    return decorate
