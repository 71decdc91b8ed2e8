"""One call from a folder of photos and a folder of masks to a training-ready dataset folder.

The dataset layout it produces (the contract the tf.data pipeline reads)::

    <dst_root>/images/<category>_<nnnn>.<ext>
    <dst_root>/masks/<category>_<nnnn>.png        binary 0/255, at the photo's size
    <dst_root>/index.csv                          columns of Preprocess.index.COLUMNS,
                                                  paths relative to <dst_root>
"""

from __future__ import annotations

import os
from pathlib import Path

from .combine import combine
from .index import index
from .resize import resize
from .validate import validate


def prepare_dataset(
    images_dir: str | os.PathLike,
    masks_dir: str | os.PathLike,
    dst_root: str | os.PathLike,
    *,
    category: str,
    limit: int | None = None,
    seed: int = 0,
    size: int | None = None,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    stratify: bool = False,
    rebuild: bool = False,
    workers: int | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> Path:
    """Import, check, fix and index a dataset; returns the path of ``<dst_root>/index.csv``.

    Steps: :func:`~Preprocess.combine.combine` (layout ``"plain"``: copies renamed
    ``<category>_<nnnn>``, masks as PNG), :func:`~Preprocess.validate.validate` with both fixes
    in place on those copies (masks thresholded at 128 and resized to their photo's size), an
    optional :func:`~Preprocess.resize.resize` of photos and masks to a longest side ``size``, then
    :func:`~Preprocess.index.index` with a seeded split. The source folders are only read.

    When ``index.csv`` already exists it is returned as is (the dataset was prepared before)
    unless ``rebuild=True``; importing again skips the pairs already imported (``combine_log.csv``).

    Args:
        images_dir: folder of photos.
        masks_dir: folder of masks paired by file stem.
        dst_root: the dataset folder to create or add to.
        category: file-name prefix (e.g. ``"horse"``).
        limit: import at most this many pairs (a seeded random sample).
        seed: seed of the sample and of the split.
        size: if given, shrink or enlarge photos and masks to this longest side.
        split: ``(train, val, test)`` fractions.
        stratify: stratify the split by category.
        rebuild: redo the steps and rewrite ``index.csv`` even if it exists.
        workers: threads.
        progress: show progress bars.
        verbose: print each step's report.

    Returns:
        The path of ``index.csv``.
    """
    root = Path(dst_root)
    index_csv = root / "index.csv"
    if index_csv.is_file() and not rebuild:
        if verbose:
            print(f"{index_csv} exists: reusing the prepared dataset (pass rebuild=True to redo it)")
        return index_csv
    options = {"workers": workers, "progress": progress, "verbose": verbose}
    combine((images_dir, masks_dir), root, layout="plain", category=category, limit=limit, seed=seed if limit else None, **options)
    validate(root / "images", root / "masks", fix_threshold=True, fix_size=True, in_place=True, **options)
    if size is not None:
        resize(root / "images", None, size, kind="image", in_place=True, **options)
        resize(root / "masks", None, size, kind="mask", in_place=True, **options)
    index(root / "images", root / "masks", index_csv, split=split, seed=seed, stratify=stratify, overwrite=True, **options)
    return index_csv
