"""Resize a folder of photos, binary masks or soft alpha mattes, each with the right interpolation.

* photos: ``INTER_AREA`` to shrink (no aliasing), Lanczos to enlarge;
* binary masks: area (shrink) or bilinear (enlarge) on the [0, 1] mask, then a threshold at 0.5,
  so a mask stays a mask (or plain nearest neighbour with ``mask_method="nearest"``);
* soft alpha mattes: area (shrink) or bilinear (enlarge), no threshold.

Masks and mattes are written as PNG (lossless) whatever their source format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence, Union

import cv2
import numpy as np

from RMBG.inference.image_io import load_image, load_mask

from ._common import (
    Report,
    binarize,
    check_workers,
    describe_error,
    listing,
    mask_to_uint8,
    parallel_map,
    same_folder,
    write_new_image,
)

Kind = Literal["image", "mask", "alpha"]
Size = Union[int, Sequence[int]]
KINDS = ("image", "mask", "alpha")


def target_size(width: int, height: int, size: Size, *, keep_aspect: bool = True) -> tuple[int, int]:
    """The ``(width, height)`` an image of ``width x height`` gets.

    Args:
        width: current width.
        height: current height.
        size: an int (the longest side with ``keep_aspect``, else a square side) or ``(w, h)``
            (exact, or the box to fit inside with ``keep_aspect``).
        keep_aspect: keep the width/height ratio.
    """
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if size < 1:
            raise ValueError(f"size: expected a positive side length, got {size!r}; for example size=1024")
        if not keep_aspect:
            return int(size), int(size)
        box_w = box_h = int(size)
    else:
        try:
            box_w, box_h = (int(v) for v in size)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(
                f"size: expected an int (longest side) or a (width, height) pair, got {size!r}; "
                "for example size=1024 or size=(640, 480)"
            ) from None
        if box_w < 1 or box_h < 1:
            raise ValueError(f"size: width and height must be positive, got {size!r}")
        if not keep_aspect:
            return box_w, box_h
    scale = min(box_w / width, box_h / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_array(
    array: np.ndarray,
    size: tuple[int, int],
    *,
    kind: Kind = "image",
    mask_method: Literal["area", "nearest"] = "area",
) -> np.ndarray:
    """Resize one array to exactly ``size = (width, height)``.

    Args:
        array: an HxWx3 uint8 photo (``kind="image"``) or an HxW float mask in [0, 1].
        size: ``(width, height)`` of the result.
        kind: ``"image"``, ``"mask"`` (binary result) or ``"alpha"`` (soft result).
        mask_method: for masks: ``"area"`` (area/bilinear then threshold at 0.5) or ``"nearest"``.

    Returns:
        uint8: the photo, or the mask as 0/255, or the matte in [0, 255].
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if mask_method not in ("area", "nearest"):
        raise ValueError(f"mask_method: expected 'area' or 'nearest', got {mask_method!r}")
    width, height = int(size[0]), int(size[1])
    old_height, old_width = array.shape[:2]
    shrink = width <= old_width and height <= old_height
    if (width, height) == (old_width, old_height):
        resized = array
    elif kind == "image":
        resized = cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
    elif kind == "mask" and mask_method == "nearest":
        resized = cv2.resize(array.astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)
    else:
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        resized = cv2.resize(array.astype(np.float32), (width, height), interpolation=interpolation)
    if kind == "image":
        return np.clip(resized, 0, 255).astype(np.uint8)
    resized = np.clip(resized.astype(np.float32), 0.0, 1.0)
    return binarize(resized, 0.5) if kind == "mask" else mask_to_uint8(resized)


def _output_path(source: Path, folder: Path, kind: str) -> Path:
    """Photos keep their name; masks and mattes become ``<stem>.png`` (``.PNG`` is kept as is, so a
    case-insensitive file system never sees two names for one file)."""
    if kind == "image" or source.suffix.lower() == ".png":
        return folder / source.name
    return folder / (source.stem + ".png")


def resize(
    src: str | os.PathLike,
    dst: str | os.PathLike | None,
    size: Size,
    *,
    keep_aspect: bool = True,
    kind: Kind = "image",
    in_place: bool = False,
    mask_method: Literal["area", "nearest"] = "area",
    workers: int | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> Report:
    """Resize every image in ``src`` into ``dst`` (a new folder), or in place when asked explicitly.

    Photos keep their format (EXIF orientation is applied, so the pixels are upright; alpha is
    dropped, as everywhere photos are read); masks and mattes are written as ``<stem>.png``.
    Existing files in ``dst`` are never replaced: they are reported and skipped. Unreadable files
    are reported and skipped; the rest goes on.

    Args:
        src: folder of images, masks or mattes.
        dst: output folder (created); must differ from ``src`` unless ``in_place``. ``None`` only
            with ``in_place=True``.
        size: the longest side (int, with ``keep_aspect``) or ``(width, height)``.
        keep_aspect: keep the aspect ratio (fit inside ``size``).
        kind: ``"image"``, ``"mask"`` (stays binary 0/255) or ``"alpha"`` (soft).
        in_place: replace the files in ``src`` (atomically). A JPEG mask becomes ``<stem>.png``
            and the JPEG is removed once the PNG is written.
        mask_method: ``"area"`` (area/bilinear then threshold) or ``"nearest"``, for masks.
        workers: threads (``None`` = CPU count, at most 8).
        progress: show a progress bar.
        verbose: print the report.

    Returns:
        A :class:`Report` with counts ``files``, ``written``, ``unchanged``, ``skipped`` and the
        problems; ``report.outputs`` lists the files written.

    Raises:
        ValueError: ``dst`` is ``src`` without ``in_place``, or a bad ``size``/``kind``.
        FileNotFoundError: ``src`` is not a folder.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}; use 'image' for photos, 'mask' for binary masks, 'alpha' for mattes")
    target_size(100, 100, size, keep_aspect=keep_aspect)  # validates size early
    check_workers(workers)
    source = Path(src)
    files = listing(source, "src")
    if in_place:
        if dst is not None and not same_folder(dst, source):
            raise ValueError(
                f"dst: in_place=True writes into src ('{source}'), but dst='{dst}' was also given; "
                "pass dst=None (or dst=src) for in place, or in_place=False to write a new folder"
            )
        destination = source
    else:
        if dst is None:
            raise ValueError("dst: expected an output folder, got None; pass a new folder, or in_place=True to replace the files")
        destination = Path(dst)
        if same_folder(destination, source):
            raise ValueError(
                f"dst: '{dst}' is the source folder; pass a new folder, or in_place=True to replace the files in place"
            )
        destination.mkdir(parents=True, exist_ok=True)

    report = Report(f"resize {kind}s {source} -> {destination} (size={size}, keep_aspect={keep_aspect})")
    report.counts.update(files=len(files), written=0, unchanged=0, skipped=0)
    if in_place:
        # Two sources with one output name (a.jpg and a.png masks) would overwrite each other.
        outputs: dict[Path, list[Path]] = {}
        for path in files:
            outputs.setdefault(_output_path(path, destination, kind), []).append(path)
        clashes = {p for paths in outputs.values() if len(paths) > 1 for p in paths}
        for path in sorted(clashes):
            report.add(path, "name-clash", f"another file would also be written as '{_output_path(path, destination, kind).name}'; skipped")
            report.count("skipped")
        files = [p for p in files if p not in clashes]

    def work(path: Path) -> tuple[str, Path]:
        output = _output_path(path, destination, kind)
        if not in_place and os.path.lexists(output):
            raise FileExistsError(f"'{output}' already exists in dst; not overwritten")
        if kind == "image":
            array = load_image(path)
        else:
            array = load_mask(path)
        height, width = array.shape[:2]
        new_size = target_size(width, height, size, keep_aspect=keep_aspect)
        if in_place and new_size == (width, height) and output == path:
            return "unchanged", path
        result = resize_array(array, new_size, kind=kind, mask_method=mask_method)
        write_new_image(output, result, replace=in_place)
        if in_place and output != path:
            os.unlink(path)  # the PNG that replaces it is complete
        return "written", output

    for path, outcome in parallel_map(work, files, workers=workers, description=f"resize {kind}s", progress=progress):
        if isinstance(outcome, BaseException):
            problem = "exists" if isinstance(outcome, FileExistsError) else "unreadable"
            report.add(path, problem, describe_error(outcome) + "; skipped")
            report.count("skipped")
            continue
        status, output = outcome
        report.count(status)
        if status == "written":
            report.outputs.append(output)
    report.outputs.sort()
    report.problems.sort(key=lambda p: p.file)
    if verbose:
        print(report.summary())
    return report
