"""The run folder: its file names, the resume point, the CSV log and the resume check.

Imports no TensorFlow. Every file is written atomically (:mod:`RMBG.atomic`), so a kill at any
moment leaves either the previous version or the new one.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from RMBG.atomic import atomic_write_bytes
from RMBG.training.config import TrainConfig

#: File names inside a run folder.
RUN_FILES = {
    "config": "config.yaml",
    "run_info": "run_info.json",
    "log": "log.csv",
    "best": "best.keras",
    "last": "last.keras",
    "metrics": "metrics.json",
    "tensorboard": "tensorboard",
    "backup": "backup",
    "state": "state",
    "tracking": "tracking.json",
}

#: Config fields that may change when a run is resumed.
RESUMABLE_CHANGES = frozenset({"epochs"})


def run_paths(folder: Path) -> dict[str, Path]:
    """Absolute paths of a run folder's files (:data:`RUN_FILES`)."""
    return {key: folder / name for key, name in RUN_FILES.items()}


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (values JSON cannot hold are written with ``str``)."""
    return atomic_write_bytes(path, json.dumps(data, indent=2, default=str).encode("utf-8"))


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """The JSON content of ``path``, or ``default`` when the file is absent."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def backed_up_epoch(backup_dir: Path) -> int:
    """The number of epochs ``BackupAndRestore`` has saved in ``backup_dir`` (0 if none)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = Path(backup_dir) / name
        if path.is_file():
            try:
                return int(json.loads(path.read_text(encoding="utf-8"))["epoch"])
            except (ValueError, KeyError, TypeError):
                continue
    return 0


def read_log(path: Path) -> dict[str, list[float]]:
    """The CSV log as columns (empty when absent); ``epoch`` as ints, empty cells as NaN."""
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
    if "epoch" in columns:
        columns["epoch"] = [int(v) for v in columns["epoch"]]
    return columns


def trim_log(path: Path, keep_before_epoch: int) -> None:
    """Drop the CSV log rows of epochs >= ``keep_before_epoch`` (they are re-run after a resume)."""
    path = Path(path)
    if not path.is_file():
        return
    if keep_before_epoch <= 0:
        path.unlink()
        return
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    column = header.index("epoch") if "epoch" in header else 0
    kept = [r for r in body if r and int(float(r[column])) < keep_before_epoch]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def check_resume(saved_path: Path, config: TrainConfig, run_dir: Path) -> None:
    """Refuse to resume ``run_dir`` with settings other than the saved ones (only
    :data:`RESUMABLE_CHANGES` may differ).

    Raises:
        ValueError: naming every changed setting, its saved and new value, and the fix.
    """
    saved = TrainConfig.from_yaml(saved_path).to_dict()
    current = config.to_dict()
    changed = sorted(k for k in current if saved.get(k) != current[k] and k not in RESUMABLE_CHANGES)
    if changed:
        details = "; ".join(f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in changed)
        raise ValueError(
            f"run_dir: '{run_dir}' holds an interrupted run with different settings ({details}); "
            f"only {sorted(RESUMABLE_CHANGES)} may change on resume. Use a new run_dir, or the saved settings "
            f"(python -m RMBG train --config {saved_path})"
        )
