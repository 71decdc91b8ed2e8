"""Tables, targets, plots and ``summary.md`` of a benchmark run (CSV files written atomically).

Medians over the repeats for wall, CPU seconds and time to the first mask; the maximum over the
repeats for peak RSS (a limit is about the worst run). Ratios are the baseline's median wall
divided by the command's, per condition (or per photo size).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

from RMBG.atomic import atomic_write_bytes
from RMBG.benchmark.machine import Machine

#: issue 9's targets: (label, summary key, comparison, bound, unit).
TARGETS = (
    ("default command >= 2.0x rembg whole-process wall, photos, cold", "ratio_cold", ">=", 2.0, "x"),
    ("default command >= 2.5x rembg whole-process wall, photos, warm", "ratio_warm", ">=", 2.5, "x"),
    ("masks IoU >= 0.99 vs Keras fp32 on every photo (min over photos)", "iou_min", ">=", 0.99, ""),
    ("time to the first written mask <= 1.5 s, cold", "first_cold", "<=", 1.5, "s"),
    ("time to the first written mask <= 1.5 s, warm", "first_warm", "<=", 1.5, "s"),
    ("peak RSS <= 500 MB on the photos", "rss_photos", "<=", 500.0, "MB"),
    ("peak RSS <= 1.2 GB on one 24 MP photo", "rss_24mp", "<=", 1200.0, "MB"),
    ("server idle RSS <= 400 MB", "serve_idle", "<=", 400.0, "MB"),
)


def summarise_runs(runs, agreement, baseline: str, by: Sequence[str]):
    """One row per ``by`` group of the successful runs: medians, max peak RSS, IoU and the ratio to ``baseline``."""
    import pandas as pd  # deferred: pandas (~0.5 s) only when the tables are built

    ok = runs[runs["status"] == "ok"] if "status" in runs else runs.iloc[0:0]
    if ok.empty:
        return pd.DataFrame()
    keys = list(by)
    table = ok.groupby(keys, dropna=False, sort=False).agg(
        tool=("tool", "first"), photos=("photos", "first"), runs=("wall_s", "size"), wall_s=("wall_s", "median"),
        wall_s_min=("wall_s", "min"), wall_s_max=("wall_s", "max"), cpu_s=("cpu_s", "median"),
        peak_rss_mb=("peak_rss_mb", "max"), first_output_s=("first_output_s", "median"), argv=("argv", "first"),
    ).reset_index()
    if "engine" in ok:  # ("engine" is a keyword of agg itself)
        engines = ok.groupby(keys, dropna=False, sort=False)["engine"].agg(lambda v: " / ".join(sorted({e for e in v if e})))
        table["engine"] = engines.reset_index(drop=True).values
    if "cached_after_evict_mb" in ok:
        cached = ok.groupby(keys, dropna=False, sort=False)["cached_after_evict_mb"].median().reset_index(drop=True)
        table["cached_after_evict_mb"] = cached.values
    table["wall_s_per_photo"] = table["wall_s"] / table["photos"]
    table["cpu_s_per_photo"] = table["cpu_s"] / table["photos"]
    _add_ratio(table, baseline, [k for k in keys if k != "command"])
    if agreement is not None and not agreement.empty:
        mp_key = "megapixels" if "megapixels" in keys else None
        table = _add_iou(table, agreement, mp_key)
    return table


def _add_ratio(table, baseline: str, group_keys: list[str]) -> None:
    table["ratio_to_baseline"] = math.nan
    groups = table.groupby(group_keys, dropna=False, sort=False) if group_keys else [(None, table)]
    for _, group in groups:
        base = group[group["command"] == baseline]
        if not base.empty:
            table.loc[group.index, "ratio_to_baseline"] = float(base["wall_s"].iloc[0]) / group["wall_s"]


def _add_iou(table, agreement, mp_key: str | None):
    """``table`` with ``iou_mean``, ``iou_min``, ``mad_mean`` and ``worst_photo`` per command (and photo size)."""
    keys = ["command"] + ([mp_key] if mp_key else [])
    sized = agreement["megapixels"].notna()
    source = agreement[sized] if mp_key else agreement[~sized]
    if source.empty:
        return table
    if mp_key:
        source = source.astype({mp_key: float})
        table = table.astype({mp_key: float})
    grouped = source.groupby(keys, dropna=False)
    stats = grouped.agg(iou_mean=("iou", "mean"), iou_min=("iou", "min"), mad_mean=("mad", "mean")).reset_index()
    worst = source.loc[grouped["iou"].idxmin(), keys + ["photo"]].rename(columns={"photo": "worst_photo"})
    return table.merge(stats.merge(worst, on=keys, how="left"), on=keys, how="left")


def target_values(processes, megapixels, serve: dict | None, default: str) -> dict[str, float]:
    """The measured value of each :data:`TARGETS` key for the ``default`` command (NaN: not measured)."""
    values = {key: math.nan for _, key, *_ in TARGETS}
    if processes is not None and not processes.empty:
        rows = processes[processes["command"] == default]
        for condition in ("cold", "warm"):
            row = rows[rows["condition"] == condition]
            if not row.empty:
                values[f"ratio_{condition}"] = float(row["ratio_to_baseline"].iloc[0])
                values[f"first_{condition}"] = float(row["first_output_s"].iloc[0])
        if not rows.empty:
            values["rss_photos"] = float(rows["peak_rss_mb"].max())
            if "iou_min" in rows:
                values["iou_min"] = float(rows["iou_min"].min())
    if megapixels is not None and not megapixels.empty:
        row = megapixels[(megapixels["command"] == default) & (megapixels["megapixels"] == 24) & (megapixels["photos"] == 1)]
        if not row.empty:
            values["rss_24mp"] = float(row["peak_rss_mb"].iloc[0])
    if serve and "idle_rss_mb" in serve:
        values["serve_idle"] = float(serve["idle_rss_mb"])
    return values


def targets_table(values: dict[str, float]):
    """The targets with the measured values and whether each is met."""
    import pandas as pd  # deferred: pandas (~0.5 s) only when the tables are built

    rows = []
    for label, key, op, bound, unit in TARGETS:
        value = values.get(key, math.nan)
        met = "not measured" if math.isnan(value) else ("yes" if (value >= bound if op == ">=" else value <= bound) else "**no**")
        rows.append({"target": label, "bound": f"{op} {bound:g} {unit}".strip(), "measured": value, "met": met})
    return pd.DataFrame(rows)


def markdown_table(table, columns: Sequence[str], headers: Sequence[str] | None = None) -> str:
    """A Markdown table of ``columns`` (4 significant digits; NaN and None left empty)."""
    present = [c for c in columns if c in table]
    if table is None or table.empty or not present:
        return "(nothing measured)\n"
    names = [headers[list(columns).index(c)] for c in present] if headers else present
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(present)]
    for _, row in table[present].iterrows():
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append("" if math.isnan(value) else f"{value:.4g}")
            else:
                cells.append("" if value is None else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(table, path: Path) -> Path:
    """``table`` as CSV at ``path``, written atomically."""
    return atomic_write_bytes(path, table.to_csv(index=False).encode())


def plot_wall_per_size(megapixels, path: Path) -> Path | None:
    """Median whole-process wall seconds per photo against the photo's megapixels, one line per command."""
    if megapixels is None or megapixels.empty:
        return None
    import matplotlib  # deferred: matplotlib (~0.5 s) only for plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib (~0.5 s) only for plots

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for command, group in megapixels.sort_values("megapixels").groupby("command", sort=False):
        axes[0].plot(group["megapixels"], group["wall_s_per_photo"], marker="o", label=command)
        axes[1].plot(group["megapixels"], group["peak_rss_mb"], marker="o", label=command)
    axes[0].set_ylabel("whole-process wall s per photo (median)")
    axes[1].set_ylabel("peak RSS, MB (max)")
    for ax in axes:
        ax.set_xlabel("photo size, megapixels")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_processes(processes, path: Path) -> Path | None:
    """Median whole-process wall per command, cold and warm."""
    if processes is None or processes.empty:
        return None
    import matplotlib  # deferred: matplotlib (~0.5 s) only for plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib (~0.5 s) only for plots

    pivot = processes.pivot_table(index="command", columns="condition", values="wall_s", sort=False)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(pivot) + 1.8))
    pivot.plot.barh(ax=ax)
    ax.set_xlabel("whole-process wall s (median)")
    ax.invert_yaxis()
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt  # deferred: matplotlib (~0.5 s) only for plots

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


PROCESS_COLUMNS = ("command", "engine", "condition", "runs", "wall_s", "wall_s_min", "wall_s_max", "ratio_to_baseline", "cpu_s",
                   "peak_rss_mb", "first_output_s", "iou_mean", "iou_min", "worst_photo", "cached_after_evict_mb")
MODEL_COLUMNS = ("label", "status", "per_image_s", "images_per_s", "cpu_per_image_s", "first_call_s", "peak_rss_mb",
                 "iou_mean", "iou_min", "mad_mean")
STAGE_COLUMNS = ("set", "megapixels", "stage", "seconds_per_photo", "png_mb")
MP_COLUMNS = ("megapixels", "command", "engine", "photos", "runs", "wall_s", "ratio_to_baseline", "cpu_s", "peak_rss_mb",
              "first_output_s", "iou_min")


def summary_markdown(machine: Machine, command_line: str, revision: str, tables: dict, serve: dict | None,
                     errors: list[str], skipped: list[str], load_end: float = math.nan) -> str:
    """``summary.md``: the machine, the command, the tables, the targets and every error."""
    lines = ["# Benchmark summary", "", f"- Machine: {machine.describe()} at the start, {load_end:.2f} at the end",
             f"- Versions: Python {machine.python}, "
             + ", ".join(f"{k} {v}" for k, v in machine.versions.items()), f"- RMBG revision: {revision or 'unknown'}",
             f"- Command: `{command_line}`", ""]
    lines += ["## Whole process on the photos (median of the runs; peak RSS: max)", "",
              markdown_table(tables.get("processes"), PROCESS_COLUMNS)]
    lines += ["## Whole process per photo size (warm)", "", markdown_table(tables.get("megapixels"), MP_COLUMNS)]
    if serve:
        lines += ["## Server", "", markdown_table(_one_row(serve), ("command", "ready_s", "idle_rss_mb", "first_request_s",
                                                                   "request_s_median", "rss_after_requests_mb"))]
    lines += ["## Targets (issue 9), for the default command", "", markdown_table(tables["targets"], ("target", "bound", "measured", "met"))]
    for name, title, columns in (("model", "Model latency (in-process)", MODEL_COLUMNS),
                                 ("stages", "Stages of one photo (serial)", STAGE_COLUMNS)):
        if tables.get(name) is not None and not tables[name].empty:
            lines += [f"## {title}", "", markdown_table(tables[name], columns)]
    if skipped:
        lines += ["## Not run", ""] + [f"- {s}" for s in skipped] + [""]
    if errors:
        lines += ["## Errors", ""] + [f"- {e}" for e in errors] + [""]
    return "\n".join(lines)


def _one_row(values: dict):
    import pandas as pd  # deferred: pandas (~0.5 s) only when the tables are built

    return pd.DataFrame([values])
