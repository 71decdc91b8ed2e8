"""Dataset overview plots: the category distribution and a grid of seeded samples (photo | mask overlay).

Figures are drawn with matplotlib's Agg canvas directly (no pyplot, no global backend change),
so this works headless and inside notebooks alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from RMBG.atomic import atomic_path
from RMBG.inference.image_io import load_image, load_mask

from ._common import (
    Report,
    category_of,
    describe_error,
    pair_folders,
)
from .index import SPLITS, read_index
from .resize import resize_array, target_size

DISTRIBUTION_NAME = "category_distribution.png"
SAMPLES_NAME = "samples.png"
SPLIT_COLOURS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868"}


def _load_table(source: str | os.PathLike) -> pd.DataFrame:
    """``image_path``, ``mask_path``, ``category`` (and ``split`` when known) from a CSV or a dataset root."""
    path = Path(source)
    if path.is_file():
        return read_index(path).to_frame()
    if path.is_dir() and (path / "index.csv").is_file():
        return read_index(path / "index.csv").to_frame()
    if path.is_dir() and (path / "images").is_dir() and (path / "masks").is_dir():
        pairing = pair_folders(path / "images", path / "masks")
        return pd.DataFrame(
            {
                "image_path": [image for image, _ in pairing.pairs],
                "mask_path": [mask for _, mask in pairing.pairs],
                "category": [category_of(image.stem) for image, _ in pairing.pairs],
            }
        )
    raise FileNotFoundError(
        f"source: '{path}' is neither an index CSV nor a dataset folder with index.csv or images/ + masks/; "
        "pass the index CSV that Preprocess.index wrote, or the dataset root"
    )


def _save(figure, target: Path, overwrite: bool) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: matplotlib (~0.5 s) only for plots

    FigureCanvasAgg(figure)
    with atomic_path(target, clobber=overwrite, suffix=".png") as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    return target


def _distribution_figure(table: pd.DataFrame, title: str):
    from matplotlib.figure import Figure  # deferred: matplotlib (~0.5 s) only for plots

    categories = sorted(table["category"].astype(str).unique())
    figure = Figure(figsize=(max(4.0, 0.6 * len(categories) + 2.5), 3.6), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(categories))
    if "split" in table.columns:
        bottom = np.zeros(len(categories))
        for split in SPLITS:
            counts = table[table["split"] == split]["category"].astype(str).value_counts().reindex(categories, fill_value=0)
            axes.bar(positions, counts.values, bottom=bottom, label=split, color=SPLIT_COLOURS[split])
            bottom += counts.values
        totals = bottom
        axes.legend(title="split", fontsize="small")
    else:
        totals = table["category"].astype(str).value_counts().reindex(categories, fill_value=0).values
        axes.bar(positions, totals, color=SPLIT_COLOURS["train"])
    for x, total in zip(positions, totals):
        axes.annotate(str(int(total)), (x, total), ha="center", va="bottom", fontsize="small")
    axes.set_xticks(positions, categories, rotation=30 if len(categories) > 4 else 0, ha="right" if len(categories) > 4 else "center")
    axes.set_ylabel("pairs")
    axes.set_title(f"{title}: {len(table)} pairs, {len(categories)} categor{'y' if len(categories) == 1 else 'ies'}")
    axes.margins(y=0.12)
    return figure


def _overlay(photo: np.ndarray, mask: np.ndarray, colour=(255, 40, 40), opacity: float = 0.5) -> np.ndarray:
    height, width = photo.shape[:2]
    if mask.shape != (height, width):
        mask = resize_array(mask, (width, height), kind="alpha").astype(np.float32) / 255.0
    weight = (mask * opacity)[..., None]
    return np.clip(photo * (1 - weight) + np.asarray(colour, np.float32) * weight, 0, 255).astype(np.uint8)


def plot(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    samples: int = 8,
    seed: int = 0,
    max_side: int = 256,
    overwrite: bool = False,
    verbose: bool = True,
) -> list[Path]:
    """Save ``category_distribution.png`` and ``samples.png`` into ``out_dir``.

    Args:
        source: an index CSV, or a dataset root (with ``index.csv``, or ``images/`` + ``masks/``).
        out_dir: output folder (created).
        samples: number of photo | overlay pairs in the grid (seeded random choice).
        seed: random seed of the sample choice.
        max_side: thumbnails are shrunk to this longest side.
        overwrite: replace existing plot files (otherwise an error, before anything is drawn).
        verbose: print the files written and the samples that could not be read.

    Returns:
        The two PNG paths: ``[distribution, samples]``.

    Raises:
        FileNotFoundError: ``source`` is neither an index CSV nor a dataset folder.
        FileExistsError: a plot file exists and ``overwrite`` is false.
        ValueError: the dataset is empty, or a bad ``samples``.
    """
    from matplotlib.figure import Figure  # deferred: matplotlib (~0.5 s) only for plots

    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ValueError(f"samples: expected a positive integer, got {samples!r}; for example samples=8")
    table = _load_table(source)
    if table.empty:
        raise ValueError(f"source: '{source}' lists no image/mask pairs; nothing to plot")
    folder = Path(out_dir)
    targets = [folder / DISTRIBUTION_NAME, folder / SAMPLES_NAME]
    if not overwrite:
        existing = [str(t) for t in targets if t.exists()]
        if existing:
            raise FileExistsError(f"out_dir: {existing} already exist; pass overwrite=True to replace them, or another out_dir")
    folder.mkdir(parents=True, exist_ok=True)
    report = Report(f"plot {source} -> {folder}")
    source_path = Path(source)
    title = source_path.parent.name if source_path.name == "index.csv" else source_path.stem if source_path.is_file() else source_path.name
    _save(_distribution_figure(table, title), targets[0], overwrite)

    order = np.random.default_rng(seed).permutation(len(table))
    tiles = []
    for row in order:
        if len(tiles) == samples:
            break
        record = table.iloc[int(row)]
        try:
            photo = load_image(record["image_path"])
            mask = load_mask(record["mask_path"])
        except Exception as error:  # a bad pair is reported and another one is drawn
            report.add(record["image_path"], "unreadable", describe_error(error) + "; another sample drawn")
            continue
        width, height = target_size(photo.shape[1], photo.shape[0], max_side)
        if (width, height) != (photo.shape[1], photo.shape[0]) and max(photo.shape[:2]) > max_side:
            photo = resize_array(photo, (width, height), kind="image")
        tiles.append((Path(record["image_path"]).name, str(record["category"]), photo, _overlay(photo, mask)))
    columns = 2 if len(tiles) > 1 else 1
    rows = max(1, int(np.ceil(len(tiles) / columns)))
    figure = Figure(figsize=(2 * columns * 2.4, rows * 2.1), layout="constrained")
    grid = figure.subplots(rows, 2 * columns, squeeze=False)
    for axes in grid.ravel():
        axes.set_axis_off()
    for number, (name, category, photo, overlay) in enumerate(tiles):
        row, column = divmod(number, columns)
        grid[row][2 * column].imshow(photo)
        grid[row][2 * column].set_title(name, fontsize=7)
        grid[row][2 * column + 1].imshow(overlay)
        grid[row][2 * column + 1].set_title(f"mask ({category})", fontsize=7)
    figure.suptitle(f"{len(tiles)} samples (seed {seed}): photo | mask overlay", fontsize=9)
    if not tiles:
        report.notes.append("no sample could be read; the grid is empty")
    _save(figure, targets[1], overwrite)
    report.outputs.extend(targets)
    report.counts["pairs"] = len(table)
    report.counts["samples"] = len(tiles)
    if verbose:
        print(report.summary())
    return targets
