"""Build the dataset index CSV: one row per image/mask pair, with sizes, category and a seeded split.

The CSV (columns :data:`COLUMNS`) stores paths relative to its own folder with forward slashes,
so a dataset folder can be moved or shared between systems; :func:`read_index` resolves them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable, Literal, Sequence, Union

import numpy as np
import pandas as pd

from ._common import (
    Report,
    category_of,
    describe_error,
    natural_key,
    pair_folders,
    parallel_map,
    portable_relpath,
    image_size,
    write_text_atomic,
)

#: The index CSV's columns, in order.
COLUMNS = ["image", "mask", "category", "width", "height", "mask_width", "mask_height", "split"]
SPLITS = ("train", "val", "test")
CategoryFrom = Union[Literal["prefix", "folder"], Callable[[str], str]]


def _check_split(split: Sequence[float]) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in split)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or any(v < 0 or not np.isfinite(v) for v in values) or abs(sum(values) - 1.0) > 1e-6 or values[0] <= 0:
        raise ValueError(
            f"split: expected (train, val, test) fractions >= 0 that sum to 1 with train > 0, got {split!r}; "
            "for example split=(0.8, 0.1, 0.1)"
        )
    return values  # type: ignore[return-value]


def _split_once(indices: np.ndarray, labels: np.ndarray | None, count: int, seed: int, report: Report, step: str):
    """Take ``count`` of ``indices`` out (stratified by ``labels`` when given); returns (rest, taken)."""
    from sklearn.model_selection import train_test_split

    if count <= 0:
        return indices, indices[:0]
    if labels is not None:
        try:
            rest, taken = train_test_split(indices, test_size=count, random_state=seed, stratify=labels)
            return np.sort(rest), np.sort(taken)
        except ValueError as error:
            report.notes.append(f"stratified {step} split impossible ({error}); that step is not stratified")
    rest, taken = train_test_split(indices, test_size=count, random_state=seed)
    return np.sort(rest), np.sort(taken)


def assign_splits(
    categories: Sequence[str],
    split: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    stratify: bool = False,
    report: Report | None = None,
) -> list[str]:
    """Seeded ``train``/``val``/``test`` labels for ``len(categories)`` rows.

    Counts are rounded from the fractions (at least one training row is kept). With ``stratify``,
    each split keeps the category proportions (scikit-learn's ``train_test_split``); when a
    category is too small for that, the step falls back to a plain seeded split and says so in
    ``report.notes``.
    """
    train, val, test = _check_split(split)
    report = report if report is not None else Report("split")
    total = len(categories)
    labels = np.asarray(categories, dtype=object)
    result = np.full(total, "train", dtype=object)
    if total == 0:
        return []
    n_test = int(round(total * test))
    n_val = int(round(total * val))
    while n_test + n_val >= total and (n_test or n_val):
        if n_val >= n_test and n_val:
            n_val -= 1
        else:
            n_test -= 1
    everything = np.arange(total)
    rest, test_rows = _split_once(everything, labels if stratify else None, n_test, seed, report, "test")
    _, val_rows = _split_once(rest, labels[rest] if stratify else None, n_val, seed, report, "val")
    result[test_rows] = "test"
    result[val_rows] = "val"
    return list(result)


def _category_function(category_from: CategoryFrom, images_dir: Path) -> Callable[[str], str]:
    if callable(category_from):
        return category_from
    if category_from == "prefix":
        return category_of
    if category_from == "folder":
        name = images_dir.resolve().parent.name
        return lambda stem: name
    raise ValueError(
        f"category_from: expected 'prefix', 'folder' or a function of the file stem, got {category_from!r}"
    )


def index(
    images_dir: str | os.PathLike,
    masks_dir: str | os.PathLike,
    out_csv: str | os.PathLike,
    *,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: bool = False,
    category_from: CategoryFrom = "prefix",
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> pd.DataFrame:
    """Pair images and masks by file stem and write the index CSV.

    Args:
        images_dir: folder of photos.
        masks_dir: folder of masks (paired by stem, any extension).
        out_csv: the CSV to write; paths in it are relative to its folder.
        split: ``(train, val, test)`` fractions.
        seed: random seed of the split.
        stratify: keep the category proportions in every split.
        category_from: ``"prefix"`` (the file-name prefix before the last ``_<digits>``),
            ``"folder"`` (the name of the folder holding ``images_dir``), or a function of the stem.
        overwrite: replace an existing ``out_csv`` (otherwise it is an error).
        workers: threads reading the image headers.
        progress: show a progress bar.
        verbose: print the report.

    Returns:
        The index as a DataFrame (columns :data:`COLUMNS`); ``df.attrs["report"]`` is the
        :class:`Report` with the orphans, unreadable files and size mismatches.

    Raises:
        FileExistsError: ``out_csv`` exists and ``overwrite`` is false.
        FileNotFoundError: a folder is missing.
        ValueError: a bad ``split`` or ``category_from``.
    """
    _check_split(split)
    images_dir, masks_dir, out_csv = Path(images_dir), Path(masks_dir), Path(out_csv)
    category_function = _category_function(category_from, images_dir)
    if out_csv.exists() and not overwrite:
        raise FileExistsError(f"out_csv: '{out_csv}' already exists; pass overwrite=True to replace it, or another path")
    pairing = pair_folders(images_dir, masks_dir)
    report = Report(f"index {images_dir} + {masks_dir} -> {out_csv}")
    pairing.report_into(report)

    def sizes(pair: tuple[Path, Path]) -> tuple[tuple[int, int], tuple[int, int]]:
        return image_size(pair[0]), image_size(pair[1])

    rows = []
    base = out_csv.parent
    for (image, mask), outcome in parallel_map(sizes, pairing.pairs, workers=workers, description="index", progress=progress):
        if isinstance(outcome, BaseException):
            report.add(image, "unreadable", f"{describe_error(outcome)}; pair left out of the index")
            continue
        (width, height), (mask_width, mask_height) = outcome
        if (width, height) != (mask_width, mask_height):
            report.add(image, "size-mismatch", f"photo {width}x{height}, mask {mask_width}x{mask_height} ('{mask.name}')")
        rows.append(
            {
                "image": portable_relpath(image, base),
                "mask": portable_relpath(mask, base),
                "category": category_function(image.stem),
                "width": width,
                "height": height,
                "mask_width": mask_width,
                "mask_height": mask_height,
            }
        )
    rows.sort(key=lambda row: natural_key(row["image"]))
    frame = pd.DataFrame(rows, columns=COLUMNS[:-1])
    frame["split"] = assign_splits(list(frame["category"]), split, seed=seed, stratify=stratify, report=report)
    frame = frame[COLUMNS]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    write_text_atomic(out_csv, buffer.getvalue(), replace=overwrite)
    report.problems.sort(key=lambda p: (p.problem, natural_key(p.file)))
    report.counts["pairs"] = len(frame)
    for name in SPLITS:
        report.counts[name] = int((frame["split"] == name).sum())
    report.counts["categories"] = int(frame["category"].nunique())
    report.outputs.append(out_csv)
    frame.attrs["report"] = report
    if verbose:
        print(report.summary())
    return frame


def read_index(index_csv: str | os.PathLike) -> pd.DataFrame:
    """Read an index CSV; adds ``image_path`` and ``mask_path`` columns with absolute paths.

    Raises:
        FileNotFoundError: the CSV is missing.
        ValueError: a required column is missing.
    """
    path = Path(index_csv)
    if not path.is_file():
        raise FileNotFoundError(f"index_csv: '{path}' is not a file; build one with Preprocess.index()")
    frame = pd.read_csv(path)
    missing = [c for c in ("image", "mask") if c not in frame.columns]
    if missing:
        raise ValueError(f"index_csv: '{path}' lacks the column(s) {missing}; expected the columns {COLUMNS}")
    base = path.parent.resolve()
    frame["image_path"] = [base / p for p in frame["image"]]
    frame["mask_path"] = [base / p for p in frame["mask"]]
    return frame
