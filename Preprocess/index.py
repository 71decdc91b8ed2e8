"""Build the dataset index CSV: one row per image/mask pair, with sizes, category and a seeded split.

The schema, reading and writing belong to :mod:`RMBG.data.index` (``COLUMNS``, ``read_index``,
``write_index``, re-exported here): paths are stored relative to the CSV's folder with forward
slashes, so a dataset folder can be moved or shared between systems.

Every photo and mask is decoded in full while indexing, so a truncated or corrupt file is found
here, named (the photo or the mask, whichever is bad) and left out, not discovered mid-training.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Literal, Sequence, Union

import numpy as np
import pandas as pd

from RMBG.data.index import COLUMNS, SPLITS, read_index, write_index  # noqa: F401  (read_index: re-exported)
from RMBG.inference.image_io import ImageReadError, load_image, load_mask

from ._common import (
    Report,
    category_of,
    describe_error,
    natural_key,
    pair_folders,
    parallel_map,
    portable_relpath,
)

#: A mask is reported as empty when no pixel reaches this level (the usual 0.5 binarisation).
EMPTY_MASK_LEVEL = 0.5
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
    from sklearn.model_selection import train_test_split  # deferred: scikit-learn (~2 s) only for stratified splits

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


def _inspect_pair(pair: tuple[Path, Path]):
    """Decode a photo and its mask in full.

    Returns:
        ``(sizes, problems)``: ``((width, height), (mask_width, mask_height))``, or ``None`` when
        either file is unreadable (the pair is left out); ``problems`` are ``(file, kind, detail)``
        naming the file that is actually bad: ``truncated``, ``unreadable`` (corrupt, not an image)
        or ``empty-mask`` (no foreground pixel; the pair stays in the index).
    """
    image, mask = pair
    problems = []
    sizes = []
    for path, read, other in ((image, load_image, mask), (mask, load_mask, image)):
        try:
            array = read(path)
        except ImageReadError as error:
            kind = "truncated" if "truncated" in error.reason else "unreadable"
            problems.append((path, kind, f"{error.reason}; pair with '{other.name}' left out of the index"))
            continue
        sizes.append((array.shape[1], array.shape[0]))
        if read is load_mask and float(array.max(initial=0.0)) < EMPTY_MASK_LEVEL:
            problems.append((
                path, "empty-mask",
                f"no foreground pixel (highest level {float(array.max(initial=0.0)) * 255:.0f}/255); kept in the index, "
                "remove the pair if the photo does hold an object",
            ))
    return (tuple(sizes) if len(sizes) == 2 else None), problems


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
        workers: threads decoding the photos and masks.
        progress: show a progress bar.
        verbose: print the report.

    Returns:
        The index as a DataFrame (columns :data:`COLUMNS`); ``df.attrs["report"]`` is the
        :class:`Report` with the orphans, duplicate stems, unreadable files (the photo or the
        mask, whichever is bad; the pair is left out), empty masks (kept) and size mismatches.

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

    rows = []
    base = out_csv.parent
    for (image, mask), outcome in parallel_map(_inspect_pair, pairing.pairs, workers=workers, description="index", progress=progress):
        if isinstance(outcome, BaseException):  # not an ImageReadError: a bug or an OS error, named with the pair
            report.add(image, "unreadable", f"{describe_error(outcome)} (pair with '{mask.name}'); pair left out of the index")
            continue
        sizes, problems = outcome
        for file, kind, detail in problems:
            report.add(file, kind, detail)
        if sizes is None:
            continue
        (width, height), (mask_width, mask_height) = sizes
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
    frame = pd.DataFrame(rows, columns=list(COLUMNS[:-1]))
    frame["split"] = assign_splits(list(frame["category"]), split, seed=seed, stratify=stratify, report=report)
    frame = frame[list(COLUMNS)]
    write_index(out_csv, frame.to_dict("records"), overwrite=overwrite)
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
