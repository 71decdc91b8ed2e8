"""Evaluation reports: per-image CSV, summary JSON, curves CSV and PNG plots.

One run of :func:`write_report` fills an output folder with

* ``per_image.csv``: one row per image (name, size and every metric),
* ``summary.json``: dataset metrics, protocol, skipped files and orphans,
* ``curves.csv``: the mean PR, F-measure and E-measure curves over the 256 thresholds,
* ``pr_curve.png`` and ``fmeasure_curve.png``.

:func:`compare_methods` overlays several such runs (or in-memory curves) on one PR plot and one
F-measure plot and tabulates their summaries, to compare models.

Every file is written atomically (temporary file in the same folder, then a rename). Plots use
matplotlib's object API with the Agg canvas, so no global backend is changed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np

from RMBG.atomic import atomic_write, atomic_write_bytes
from RMBG.evaluation.sod_metrics import LOWER_IS_BETTER, METRIC_KEYS, METRIC_LABELS, NUM_THRESHOLDS

PathLike = Union[str, os.PathLike]
Curves = Mapping[str, np.ndarray]

#: File names inside a report folder.
ROWS_FILE = "per_image.csv"
SUMMARY_FILE = "summary.json"
CURVES_FILE = "curves.csv"
PR_PLOT_FILE = "pr_curve.png"
FMEASURE_PLOT_FILE = "fmeasure_curve.png"

_CURVE_COLUMNS = ("threshold", "precision", "recall", "fmeasure", "emeasure")


def _atomic_write_text(path: PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy types, paths and tuples converted for strict JSON; NaN/inf become null."""
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(item) for item in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_rows_csv(rows: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """Write per-image rows as CSV (columns: those of the first row, then any others).

    Args:
        rows: the evaluator's rows (``name``, ``height``, ``width`` and the metrics).
        path: the CSV file to create.

    Returns:
        The path written.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    if not columns:
        columns = ["name", "height", "width", *METRIC_KEYS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: to_jsonable(row.get(key, "")) for key in columns})
    return _atomic_write_text(path, buffer.getvalue())


def write_summary_json(summary: Mapping[str, Any], path: PathLike) -> Path:
    """Write ``summary`` as indented, strict JSON (NaN written as null)."""
    text = json.dumps(to_jsonable(summary), indent=2, allow_nan=False, ensure_ascii=False)
    return _atomic_write_text(path, text + "\n")


def _validate_curves(curves: Curves, argument: str) -> dict[str, np.ndarray]:
    """The PR/F curves of ``curves`` as float arrays of equal length; explains what is missing."""
    missing = [key for key in ("precision", "recall", "fmeasure") if key not in curves]
    if missing:
        raise ValueError(
            f"{argument}: the curves lack {missing}; pass SODEvaluator.curves() or read_curves_csv(...)"
        )
    result = {key: np.asarray(value, dtype=np.float64) for key, value in curves.items()}
    length = result["precision"].shape
    for key in ("recall", "fmeasure"):
        if result[key].shape != length:
            raise ValueError(f"{argument}: '{key}' has shape {result[key].shape}, 'precision' has {length}")
    if "thresholds" not in result:
        result["thresholds"] = np.arange(length[0])
    return result


def write_curves_csv(curves: Curves, path: PathLike) -> Path:
    """Write the mean curves (by ascending threshold) as CSV, readable by :func:`read_curves_csv`."""
    data = _validate_curves(curves, "curves")
    emeasure = data.get("emeasure", np.full_like(data["precision"], np.nan))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CURVE_COLUMNS)
    for index in range(data["precision"].shape[0]):
        writer.writerow([
            int(data["thresholds"][index]),
            repr(float(data["precision"][index])),
            repr(float(data["recall"][index])),
            repr(float(data["fmeasure"][index])),
            repr(float(emeasure[index])),
        ])
    return _atomic_write_text(path, buffer.getvalue())


def read_curves_csv(path: PathLike) -> dict[str, np.ndarray]:
    """Read a ``curves.csv`` written by :func:`write_curves_csv` (or a report folder holding one)."""
    source = Path(path)
    if source.is_dir():
        source = source / CURVES_FILE
    if not source.is_file():
        raise FileNotFoundError(f"path: no curves file at '{source}'; pass a report folder or its {CURVES_FILE}")
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in _CURVE_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"path: '{source}' lacks the column(s) {missing}; it is not a curves file")
        records = list(reader)
    result = {column: np.array([float(record[column]) for record in records]) for column in _CURVE_COLUMNS}
    result["thresholds"] = result.pop("threshold").astype(int)
    return result


def _new_axes(title: str, xlabel: str, ylabel: str):
    """A fresh figure and axes on an Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: matplotlib (~0.5 s) only for plots
    from matplotlib.figure import Figure  # deferred: matplotlib (~0.5 s) only for plots

    figure = Figure(figsize=(6.0, 5.0), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    return figure, axes


def _save_figure(figure, path: PathLike) -> Path:
    figure.tight_layout()
    return atomic_write(path, lambda handle: figure.savefig(handle, format="png"))


def _as_method_curves(curves_by_method: Mapping[str, Curves] | Curves) -> dict[str, dict[str, np.ndarray]]:
    if not isinstance(curves_by_method, Mapping) or not curves_by_method:
        raise ValueError("curves_by_method: expected a non-empty mapping {method name: curves}")
    if "precision" in curves_by_method:  # a single method's curves passed directly
        curves_by_method = {"method": curves_by_method}  # type: ignore[dict-item]
    return {
        str(name): _validate_curves(curves, f"curves_by_method[{name!r}]")
        for name, curves in curves_by_method.items()
    }


def pr_figure(curves_by_method: Mapping[str, Curves], *, title: str = "Precision-recall"):
    """A matplotlib Figure with the PR curve of each method (recall on x); the max-F point is marked.

    Args:
        curves_by_method: ``{method name: curves}`` with ``precision``, ``recall`` and ``fmeasure``.
        title: the plot title.
    """
    methods = _as_method_curves(curves_by_method)
    figure, axes = _new_axes(title, "recall", "precision")
    for name, curves in methods.items():
        (line,) = axes.plot(curves["recall"], curves["precision"], label=name, linewidth=1.5)
        best = int(np.argmax(curves["fmeasure"]))
        axes.plot(curves["recall"][best], curves["precision"][best], "o", color=line.get_color(), markersize=5)
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.legend(loc="lower left")
    return figure


def fmeasure_figure(curves_by_method: Mapping[str, Curves], *, title: str = "F-measure vs threshold"):
    """A matplotlib Figure with F-measure (beta^2 = 0.3) against the threshold 0..255 per method."""
    methods = _as_method_curves(curves_by_method)
    figure, axes = _new_axes(title, "threshold (normalised prediction, 0-255)", "F-measure")
    for name, curves in methods.items():
        label = f"{name} (max {np.max(curves['fmeasure']):.3f})"
        axes.plot(curves["thresholds"], curves["fmeasure"], label=label, linewidth=1.5)
    axes.set_xlim(0, NUM_THRESHOLDS - 1)
    axes.set_ylim(0.0, 1.02)
    axes.legend(loc="lower center")
    return figure


def plot_pr_curves(curves_by_method: Mapping[str, Curves], path: PathLike, *, title: str = "Precision-recall") -> Path:
    """Write the PR curves of one or more methods, overlaid, as a PNG (see :func:`pr_figure`)."""
    return _save_figure(pr_figure(curves_by_method, title=title), path)


def plot_fmeasure_curves(
    curves_by_method: Mapping[str, Curves], path: PathLike, *, title: str = "F-measure vs threshold"
) -> Path:
    """Write F-measure vs threshold of one or more methods, overlaid, as a PNG (see :func:`fmeasure_figure`)."""
    return _save_figure(fmeasure_figure(curves_by_method, title=title), path)


def write_report(
    out_dir: PathLike,
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    curves: Curves | None,
    *,
    method: str = "model",
    plots: bool = True,
) -> dict[str, Path]:
    """Write a complete report folder.

    Args:
        out_dir: the folder (created if needed); existing report files are replaced.
        rows: per-image rows.
        summary: dataset summary (written as given).
        curves: mean curves from :meth:`SODEvaluator.curves`; None when no image was scored
            (no curves file and no plots are written then).
        method: the method's name in the plot legends.
        plots: write the PNG plots.

    Returns:
        ``{"rows": ..., "summary": ..., "curves": ..., "pr_plot": ..., "fmeasure_plot": ...}``,
        the paths actually written.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "rows": write_rows_csv(rows, folder / ROWS_FILE),
        "summary": write_summary_json(summary, folder / SUMMARY_FILE),
    }
    if curves is not None:
        written["curves"] = write_curves_csv(curves, folder / CURVES_FILE)
        if plots:
            written["pr_plot"] = plot_pr_curves(
                {method: curves}, folder / PR_PLOT_FILE, title=f"Precision-recall: {method}"
            )
            written["fmeasure_plot"] = plot_fmeasure_curves(
                {method: curves}, folder / FMEASURE_PLOT_FILE, title=f"F-measure vs threshold: {method}"
            )
    return written


def _load_method(name: str, source: PathLike | Curves) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """Curves and (if available) summary of one method given as a report folder or curves mapping."""
    if isinstance(source, Mapping):
        return _validate_curves(source, f"methods[{name!r}]"), None
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"methods[{name!r}]: '{folder}' is not a report folder; pass the --out folder of an evaluation "
            "or SODEvaluator.curves()"
        )
    summary = None
    summary_path = folder / SUMMARY_FILE
    if summary_path.is_file():
        with open(summary_path, encoding="utf-8") as handle:
            summary = json.load(handle)
    return read_curves_csv(folder / CURVES_FILE), summary


def compare_methods(methods: Mapping[str, PathLike | Curves], out_dir: PathLike) -> dict[str, Path]:
    """Overlay several methods on one PR plot and one F-measure plot, and tabulate their summaries.

    Args:
        methods: ``{method name: report folder written by write_report, or a curves mapping}``.
        out_dir: where ``compare_pr_curve.png``, ``compare_fmeasure_curve.png`` and (when summaries
            are available) ``comparison.csv`` are written.

    Returns:
        The paths written.
    """
    if not methods:
        raise ValueError("methods: expected at least one {name: report folder or curves}")
    loaded = {name: _load_method(name, source) for name, source in methods.items()}
    folder = Path(out_dir)
    curves_by_method = {name: curves for name, (curves, _) in loaded.items()}
    written = {
        "pr_plot": plot_pr_curves(curves_by_method, folder / "compare_pr_curve.png"),
        "fmeasure_plot": plot_fmeasure_curves(curves_by_method, folder / "compare_fmeasure_curve.png"),
    }
    table = []
    for name, (_, summary) in loaded.items():
        if summary is None:
            continue
        metrics = summary.get("metrics", summary)  # a summary.json of write_report, or bare metrics
        row = {"method": name, "count": metrics.get("count", "")}
        row.update({key: metrics.get(key, "") for key in METRIC_KEYS})
        table.append(row)
    if table:
        written["table"] = write_rows_csv(table, folder / "comparison.csv")
    return written


def format_summary(summary: Mapping[str, Any]) -> str:
    """A plain-text table of the metrics in ``summary`` (one per line, with direction hints)."""
    lines = []
    for key in METRIC_KEYS:
        if key not in summary or summary[key] is None:
            continue
        arrow = "lower is better" if key in LOWER_IS_BETTER else "higher is better"
        value = float(summary[key])
        text = f"{value:.2f}" if key == "hce" else f"{value:.4f}"
        lines.append(f"  {METRIC_LABELS[key]:<20} {text:>9}   ({arrow})")
    return "\n".join(lines)
