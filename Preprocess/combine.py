"""Import public salient-object / matting datasets into one ``images/`` + ``masks/`` dataset folder.

Each layout names the published folder structure of a dataset (see :data:`LAYOUTS`). Pairs are
matched by file stem, renamed ``<category>_<nnnn>`` (numbering continues after the highest
number already used for that category), photos are copied (or linked) with their own format and
masks are written as PNG. Nothing in ``dst_root`` is ever overwritten, and a log
(``combine_log.csv``) records where each file came from, so importing the same source again
skips what is already there.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from RMBG.inference.image_io import load_mask

from ._common import (
    Report,
    check_category,
    copy_no_clobber,
    describe_error,
    listing,
    mask_to_uint8,
    pair_by_stem,
    parallel_map,
    portable_relpath,
    split_category,
    write_new_image,
)

#: Published folder layouts: ``layout -> [(part, images folder, masks folder), ...]``, relative to
#: the dataset's root folder (the one the archive extracts to).
LAYOUTS: dict[str, list[tuple[str, str, str]]] = {
    "duts": [
        ("DUTS-TR", "DUTS-TR/DUTS-TR-Image", "DUTS-TR/DUTS-TR-Mask"),
        ("DUTS-TE", "DUTS-TE/DUTS-TE-Image", "DUTS-TE/DUTS-TE-Mask"),
    ],
    "dis5k": [(name, f"{name}/im", f"{name}/gt") for name in ("DIS-TR", "DIS-VD", "DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")],
    "p3m10k": [
        ("train", "train/blurred_image", "train/mask"),
        ("P3M-500-P", "validation/P3M-500-P/blurred_image", "validation/P3M-500-P/mask"),
        ("P3M-500-NP", "validation/P3M-500-NP/original_image", "validation/P3M-500-NP/mask"),
    ],
    "cod10k": [
        ("Train", "Train/Image", "Train/GT_Object"),
        ("Test", "Test/Image", "Test/GT_Object"),
    ],
    "people": [("people", "images", "masks")],
    "plain": [("plain", "images", "masks")],
}

#: The folder name each archive usually extracts to; ``source`` may be that folder or its parent.
WRAPPERS: dict[str, tuple[str, ...]] = {
    "duts": ("DUTS",),
    "dis5k": ("DIS5K",),
    "p3m10k": ("P3M-10k", "P3M-10K"),
    "cod10k": ("COD10K-v3", "COD10K"),
    "people": ("people_segmentation", "People_Segmentation"),
    "plain": (),
}

DEFAULT_CATEGORY = {"duts": "duts", "dis5k": "dis5k", "p3m10k": "p3m10k", "cod10k": "cod10k", "people": "people"}
LOG_NAME = "combine_log.csv"
LOG_HEADER = ("image", "mask", "source_image", "source_mask", "layout", "part", "category")

Source = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]


@dataclass(frozen=True)
class _Item:
    image: Path
    mask: Path
    part: str


def find_parts(source: Source, layout: str) -> list[tuple[str, Path, Path]]:
    """The ``(part, images folder, masks folder)`` triples of ``layout`` present under ``source``.

    For ``layout="plain"``, ``source`` may also be an ``(images_dir, masks_dir)`` pair.

    Raises:
        ValueError: unknown ``layout``.
        FileNotFoundError: none of the layout's folders is there.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {sorted(LAYOUTS)}, got {layout!r}")
    if not isinstance(source, (str, os.PathLike)):
        pair = list(source)
        if layout != "plain" or len(pair) != 2:
            raise ValueError(
                f"source: a (images_dir, masks_dir) pair is only accepted with layout='plain', got {source!r} with layout={layout!r}"
            )
        return [("plain", Path(pair[0]), Path(pair[1]))]
    root = Path(source)
    if not root.is_dir():
        raise FileNotFoundError(f"source: '{root}' is not a folder; pass the folder the dataset archive extracted to")
    found = []
    for part, images_rel, masks_rel in LAYOUTS[layout]:
        candidates = [root] + [root / wrapper for wrapper in WRAPPERS[layout]]
        choice = None
        for base in candidates:
            if (base / images_rel).is_dir():
                choice = (base / images_rel, base / masks_rel)
                break
        first, _, rest = images_rel.partition("/")
        if choice is None and rest and root.name == first:  # source is the part's own folder
            choice = (root / rest, root / masks_rel.partition("/")[2])
        if choice is not None:
            found.append((part, choice[0], choice[1]))
    if not found:
        expected = ", ".join(f"{images}/ + {masks}/" for _, images, masks in LAYOUTS[layout])
        raise FileNotFoundError(
            f"source: no {layout!r} folders found under '{root}'; expected {expected} "
            "(or pick the layout that matches the folder)"
        )
    return found


def _default_category(layout: str, source: Source) -> str:
    if layout in DEFAULT_CATEGORY:
        return DEFAULT_CATEGORY[layout]
    if isinstance(source, (str, os.PathLike)):
        name = Path(source).resolve().name
    else:
        name = Path(list(source)[0]).resolve().parent.name
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")
    return name if name and re.match(r"[A-Za-z0-9]", name) else "plain"


def _read_log(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _highest_number(dst_root: Path, category: str, log: list[dict[str, str]]) -> int:
    highest = 0
    names = [p.stem for folder in ("images", "masks") if (dst_root / folder).is_dir() for p in (dst_root / folder).iterdir()]
    names += [Path(row["image"]).stem for row in log]
    for stem in names:
        parts = split_category(stem.lstrip("."))
        if parts is not None and parts[0] == category:
            highest = max(highest, parts[1])
    return highest


def _select(items: list[_Item], limit: int | None, seed: int | None) -> list[_Item]:
    if limit is None or limit >= len(items):
        return items
    if seed is None:
        return items[:limit]
    chosen = np.random.default_rng(seed).choice(len(items), size=limit, replace=False)
    return [items[i] for i in sorted(chosen)]


def combine(
    source: Source,
    dst_root: str | os.PathLike,
    *,
    layout: str,
    category: str | None = None,
    limit: int | None = None,
    link: bool = False,
    seed: int | None = None,
    workers: int | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> Report:
    """Import a dataset from its published layout into ``dst_root/images`` and ``dst_root/masks``.

    Args:
        source: the folder the dataset extracted to (for ``"plain"``: a folder holding
            ``images/`` and ``masks/``, or an ``(images_dir, masks_dir)`` pair).
        dst_root: the dataset folder to add to (created if needed).
        layout: one of :data:`LAYOUTS`: ``"duts"``, ``"dis5k"``, ``"p3m10k"``, ``"cod10k"``,
            ``"people"``, ``"plain"``.
        category: file-name prefix of the imported files (default: the layout's name; for
            ``"plain"`` the source folder's name).
        limit: import at most this many pairs (the first ones in name order, or a seeded sample).
        link: symlink photos (and PNG masks) instead of copying them.
        seed: with ``limit``, pick a random sample with this seed instead of the first pairs.
        workers: threads.
        progress: show a progress bar.
        verbose: print the report.

    Returns:
        A :class:`Report`: counts (``pairs found``, ``selected``, ``already imported``,
        ``imported``, ``failed``), the orphans and failures, and ``outputs`` (the new photos).

    Raises:
        ValueError: unknown layout, bad category or limit.
        FileNotFoundError: no folder of the layout under ``source``.
    """
    parts = find_parts(source, layout)
    category = check_category(category if category is not None else _default_category(layout, source))
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit: expected a positive integer or None, got {limit!r}")
    dst_root = Path(dst_root)
    shown = os.fspath(source) if isinstance(source, (str, os.PathLike)) else " + ".join(map(os.fspath, source))
    report = Report(f"combine {layout} {shown} -> {dst_root} as {category}_N")

    items: list[_Item] = []
    for part, images_dir, masks_dir in parts:
        if not masks_dir.is_dir():
            report.add(masks_dir, "missing-folder", f"the masks folder of part {part} is missing; part skipped")
            continue
        pairing = pair_by_stem(listing(images_dir, "source"), listing(masks_dir, "source"))
        pairing.report_into(report)
        items.extend(_Item(image, mask, part) for image, mask in pairing.pairs)
    report.counts["pairs found"] = len(items)
    selected = _select(items, limit, seed)
    report.counts["selected"] = len(selected)

    log_path = dst_root / LOG_NAME
    log = _read_log(log_path)
    done = {row["source_image"]: row["image"] for row in log}
    todo = []
    for item in selected:
        key = item.image.resolve().as_posix()
        if key in done:
            report.count("already imported")
        else:
            todo.append(item)
    report.counts.setdefault("already imported", 0)

    first = _highest_number(dst_root, category, log) + 1
    digits = max(4, len(str(first + len(todo) - 1)))
    images_out, masks_out = dst_root / "images", dst_root / "masks"
    images_out.mkdir(parents=True, exist_ok=True)
    masks_out.mkdir(parents=True, exist_ok=True)
    plan = [(item, f"{category}_{number:0{digits}d}") for number, item in enumerate(todo, start=first)]

    def work(entry: tuple[_Item, str]) -> tuple[Path, Path]:
        item, stem = entry
        mask_target = masks_out / f"{stem}.png"
        image_target = images_out / f"{stem}{item.image.suffix.lower()}"
        if item.mask.suffix.lower() == ".png":
            if link:
                os.symlink(item.mask.resolve(), mask_target)
            else:
                copy_no_clobber(item.mask, mask_target)
        else:
            write_new_image(mask_target, mask_to_uint8(load_mask(item.mask)))
        try:
            if link:
                os.symlink(item.image.resolve(), image_target)
            else:
                copy_no_clobber(item.image, image_target)
        except BaseException:
            os.unlink(mask_target)  # ours, just written: no half pair is left behind
            raise
        return image_target, mask_target

    new_log = not log_path.exists()
    with open(log_path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if new_log:
            writer.writerow(LOG_HEADER)
        for (item, stem), outcome in parallel_map(work, plan, workers=workers, description=f"combine {layout}", progress=progress):
            if isinstance(outcome, BaseException):
                report.add(item.image, "failed", f"{describe_error(outcome)}; pair not imported")
                report.count("failed")
                continue
            image_target, mask_target = outcome
            writer.writerow(
                (
                    portable_relpath(image_target, dst_root),
                    portable_relpath(mask_target, dst_root),
                    item.image.resolve().as_posix(),
                    item.mask.resolve().as_posix(),
                    layout,
                    item.part,
                    category,
                )
            )
            handle.flush()
            report.count("imported")
            report.outputs.append(image_target)
    report.counts.setdefault("imported", 0)
    report.counts.setdefault("failed", 0)
    report.outputs.sort()
    if verbose:
        print(report.summary())
    return report
