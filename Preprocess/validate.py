"""Check a dataset for the problems that quietly spoil training, and optionally fix the masks.

Found: unreadable and truncated files; odd pixel formats (CMYK, 16-bit, palette, alpha,
grayscale photos, colour masks); masks that are not binary (lossy JPEG masks: the fraction of
pixels that are neither 0 nor 255); masks whose size differs from their photo's; empty (all
background) and full (all foreground) masks; images or masks without a partner.

Nothing is changed unless a fix is asked for, and fixes go to ``out_dir`` (or replace the masks
in place only with ``in_place=True``), written atomically as PNG.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np
import pandas as pd
from PIL import Image

from RMBG.inference.image_io import ImageReadError, load_image, load_mask

from ._common import (
    LOSSY_EXTENSIONS,
    Report,
    describe_error,
    listing,
    mask_to_uint8,
    natural_key,
    pair_by_stem,
    parallel_map,
    same_folder,
    write_new_image,
)
from .index import read_index
from .resize import resize_array

#: The ``problem`` values :func:`validate` reports.
PROBLEMS = (
    "unreadable",
    "truncated",
    "mode",
    "non-binary",
    "size-mismatch",
    "empty-mask",
    "full-mask",
    "orphan-image",
    "orphan-mask",
    "duplicate-stem",
    "not-fixed",
)
REPORT_COLUMNS = ["file", "problem", "detail", "fixed"]
MASK_FIXABLE = {"mode", "non-binary", "size-mismatch"}


@dataclass
class _Item:
    image: Path | None
    mask: Path | None
    from_index: bool = False


@dataclass
class _Outcome:
    rows: list[dict] = field(default_factory=list)
    fixed: Path | None = None

    def add(self, file: Path, problem: str, detail: str) -> None:
        self.rows.append({"file": os.fspath(file), "problem": problem, "detail": detail, "fixed": ""})


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth in a PNG header (PIL reads 16-bit colour PNGs as 8-bit RGB without saying so)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(26)
    except OSError:
        return None
    if len(header) == 26 and header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR":
        return header[24]
    return None


def _mode_problem(path: Path, role: str) -> str | None:
    """A description of an unusual pixel format for a photo (``role="image"``) or a mask, else ``None``."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            transparency = "transparency" in image.info
    except Exception:  # unreadable: reported by the full read
        return None
    depth = _png_bit_depth(path)
    if depth is not None and depth > 8:
        return f"{depth}-bit PNG (mode {mode}; scaled to 8 bits when read)"
    if mode.startswith("I;16") or mode in ("I", "F"):
        return f"high bit depth (mode {mode}; scaled to 8 bits when read)"
    if mode == "CMYK":
        return "CMYK colour (converted to RGB when read; colours may shift)"
    if mode == "P":
        return "palette image" + (" with transparency" if transparency else "") + " (converted when read)"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        usage = "dropped when read as a photo" if role == "image" else "used as the mask when it is not constant"
        return f"has an alpha channel (mode {mode}; {usage})"
    if role == "image":
        if mode in ("L", "1"):
            return f"grayscale photo (mode {mode}; read as RGB)"
        if mode != "RGB":
            return f"mode {mode} (converted to RGB when read)"
    elif mode not in ("L", "1"):
        return f"{mode} mask with {len(mode)} channels (its luminance is used)" if mode in ("RGB", "YCbCr") else f"mode {mode} mask"
    return None


def _read_problem(error: BaseException) -> tuple[str, str]:
    reason = describe_error(error)
    return ("truncated" if "truncated" in reason.lower() else "unreadable"), reason


def _aspect_note(photo: tuple[int, int], mask: tuple[int, int]) -> str:
    photo_ratio, mask_ratio = photo[0] / photo[1], mask[0] / mask[1]
    if abs(photo_ratio - mask_ratio) / photo_ratio <= 0.02:
        return f"same aspect ratio, mask is {mask[0] / photo[0]:.2f}x the photo"
    return f"aspect ratio differs ({mask_ratio:.3f} vs {photo_ratio:.3f})"


def _gather(
    images_dir: str | os.PathLike | None, masks_dir: str | os.PathLike | None, report: Report
) -> list[_Item]:
    """The (image, mask) items to check, from folders or an index CSV."""
    def is_csv(value: str | os.PathLike | None) -> bool:
        return value is not None and Path(value).suffix.lower() == ".csv"

    if is_csv(images_dir) and is_csv(masks_dir):
        raise ValueError(f"masks_dir: got a second index CSV ('{masks_dir}'); pass one index CSV, or two folders")
    if is_csv(images_dir) or is_csv(masks_dir):
        index_csv, other = (Path(images_dir), masks_dir) if is_csv(images_dir) else (Path(masks_dir), images_dir)  # type: ignore[arg-type]
        items = [_Item(row.image_path, row.mask_path, True) for row in read_index(index_csv)]
        if other is not None:  # restrict the check to the photos in that folder
            folder = Path(other).resolve()
            items = [item for item in items if item.image is not None and item.image.resolve().parent == folder]
        return items
    if images_dir is None:
        raise ValueError("images_dir: expected a folder of images or an index CSV, got None")
    images = listing(images_dir, "images_dir")
    if masks_dir is None:
        return [_Item(path, None) for path in sorted(images, key=lambda p: natural_key(p.name))]
    pairing = pair_by_stem(images, listing(masks_dir, "masks_dir"))
    pairing.report_into(report)
    return [_Item(image, mask) for image, mask in pairing.pairs]


def validate(
    images_dir: str | os.PathLike | None,
    masks_dir: str | os.PathLike | None = None,
    *,
    fix_threshold: bool = False,
    fix_size: bool = False,
    out_dir: str | os.PathLike | None = None,
    in_place: bool = False,
    threshold: int = 128,
    limit: int | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> pd.DataFrame:
    """Check photos and masks; report every problem; fix the masks if asked.

    Args:
        images_dir: folder of photos, or an index CSV (then ``masks_dir`` must be ``None`` or a
            folder that restricts the check to the photos in it).
        masks_dir: folder of masks paired by file stem, an index CSV, or ``None`` (photos only).
        fix_threshold: write non-binary masks, and masks in odd formats, thresholded at ``threshold``.
        fix_size: write masks whose size differs from their photo's resized to the photo's size
            (area to shrink, bilinear to enlarge, then a threshold at 0.5).
        out_dir: where fixed masks go, as ``<stem>.png``. Required for a fix unless ``in_place``.
        in_place: replace the masks themselves (a JPEG mask becomes ``<stem>.png``, and the JPEG
            is removed once the PNG is written; not possible for masks listed in an index CSV).
        threshold: 0-255; mask pixels ``>= threshold`` are foreground.
        limit: check only the first ``limit`` pairs.
        overwrite: replace files already in ``out_dir``.
        workers: threads.
        progress: show a progress bar.
        verbose: print the report.

    Returns:
        A DataFrame with columns ``file, problem, detail, fixed`` (one row per problem; ``fixed``
        is the written file, or ``""``). ``df.attrs["report"]`` holds the :class:`Report` with counts.

    Raises:
        ValueError: a fix without ``out_dir`` or ``in_place``, both, ``out_dir`` equal to the
            masks folder, or a bad ``threshold``/``limit``.
        FileNotFoundError: a folder or the index CSV is missing.
    """
    fixing = fix_threshold or fix_size
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= 255:
        raise ValueError(f"threshold: expected an integer from 1 to 255, got {threshold!r}; for example threshold=128")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit: expected a positive integer or None, got {limit!r}")
    if fixing and out_dir is None and not in_place:
        raise ValueError(
            "out_dir: a fix was asked (fix_threshold/fix_size) but out_dir is None; pass out_dir='fixed_masks', "
            "or in_place=True to replace the masks themselves"
        )
    if out_dir is not None and in_place:
        raise ValueError(f"out_dir: got '{out_dir}' together with in_place=True; pass one or the other")
    if out_dir is not None and masks_dir is not None and Path(masks_dir).suffix.lower() != ".csv" and same_folder(out_dir, masks_dir):
        raise ValueError(
            f"out_dir: '{out_dir}' is the masks folder; pass a new folder, or in_place=True to replace the masks"
        )

    report = Report(f"validate {images_dir}" + (f" + {masks_dir}" if masks_dir is not None else ""))
    items = _gather(images_dir, masks_dir, report)
    if limit is not None:
        items = items[:limit]
    output_folder = Path(out_dir) if out_dir is not None else None

    def check(item: _Item) -> _Outcome:
        outcome = _Outcome()
        photo_size = None
        if item.image is not None:
            mode = _mode_problem(item.image, "image")
            try:
                photo = load_image(item.image)
                photo_size = (photo.shape[1], photo.shape[0])
                del photo
            except (ImageReadError, OSError) as error:
                outcome.add(item.image, *_read_problem(error))
            else:
                if mode:
                    outcome.add(item.image, "mode", mode)
        if item.mask is None:
            return outcome
        try:
            mask = load_mask(item.mask)
        except (ImageReadError, OSError) as error:
            outcome.add(item.mask, *_read_problem(error))
            return outcome
        fixable = []
        mode = _mode_problem(item.mask, "mask")
        if mode:
            outcome.add(item.mask, "mode", mode)
            fixable.append("mode")
        values = mask_to_uint8(mask)
        soft = float(np.count_nonzero((values != 0) & (values != 255))) / values.size
        if soft > 0:
            cause = " (lossy JPEG mask)" if item.mask.suffix.lower() in LOSSY_EXTENSIONS else ""
            outcome.add(item.mask, "non-binary", f"{soft:.1%} of pixels are neither 0 nor 255{cause}")
            fixable.append("non-binary")
        foreground = values >= threshold
        if not foreground.any():
            outcome.add(item.mask, "empty-mask", f"no pixel >= {threshold}: the mask is all background")
        elif foreground.all():
            outcome.add(item.mask, "full-mask", f"every pixel >= {threshold}: the mask is all foreground")
        mask_size = (mask.shape[1], mask.shape[0])
        if photo_size is not None and mask_size != photo_size:
            outcome.add(
                item.mask,
                "size-mismatch",
                f"mask {mask_size[0]}x{mask_size[1]}, photo {photo_size[0]}x{photo_size[1]} "
                f"('{item.image.name}'; {_aspect_note(photo_size, mask_size)})",
            )
            fixable.append("size-mismatch")
        wanted = (fix_threshold and ("non-binary" in fixable or "mode" in fixable)) or (fix_size and "size-mismatch" in fixable)
        if not wanted:
            return outcome
        if in_place:
            target = item.mask.with_suffix(".png") if item.mask.suffix.lower() != ".png" else item.mask
            if target != item.mask and item.from_index:
                outcome.add(item.mask, "not-fixed", "the index CSV names this non-PNG mask, so it cannot become .png in place; use out_dir")
                return outcome
            if target != item.mask and os.path.lexists(target):
                outcome.add(item.mask, "not-fixed", f"'{target.name}' already exists next to it; use out_dir")
                return outcome
        else:
            target = output_folder / f"{item.mask.stem}.png"  # type: ignore[operator]
        if fix_size and photo_size is not None and mask_size != photo_size:
            fixed = resize_array(mask, photo_size, kind="mask")
        else:
            fixed = np.where(values >= threshold, np.uint8(255), np.uint8(0))
        try:
            write_new_image(target, fixed, replace=in_place or overwrite)
        except FileExistsError:
            outcome.add(item.mask, "not-fixed", f"'{target}' already exists in out_dir; pass overwrite=True to replace it")
            return outcome
        if in_place and target != item.mask:
            os.unlink(item.mask)
        outcome.fixed = target
        for row in outcome.rows:
            if row["file"] == os.fspath(item.mask) and row["problem"] in MASK_FIXABLE:
                row["fixed"] = os.fspath(target)
        return outcome

    rows: list[dict] = [dict(p.__dict__, fixed="") for p in report.problems]
    fixed_count = 0
    for item, outcome in parallel_map(check, items, workers=workers, description="validate", progress=progress):
        if isinstance(outcome, BaseException):  # an unexpected failure: still reported, the rest goes on
            rows.append({"file": os.fspath(item.mask or item.image), "problem": "unreadable", "detail": describe_error(outcome), "fixed": ""})
            continue
        rows.extend(outcome.rows)
        if outcome.fixed is not None:
            fixed_count += 1
            report.outputs.append(outcome.fixed)
    order = {name: i for i, name in enumerate(PROBLEMS)}
    rows.sort(key=lambda row: (natural_key(Path(row["file"]).name), row["file"], order.get(row["problem"], 99)))
    frame = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    report.problems = []
    for row in rows:
        report.add(row["file"], row["problem"], row["detail"] + (f" -> fixed: {row['fixed']}" if row["fixed"] else ""))
    report.counts["images"] = sum(item.image is not None for item in items)
    report.counts["masks"] = sum(item.mask is not None for item in items)
    report.counts["problems"] = len(rows)
    report.counts["files with problems"] = int(frame["file"].nunique()) if len(frame) else 0
    if fixing:
        report.counts["masks fixed"] = fixed_count
    report.outputs.sort()
    frame.attrs["report"] = report
    if verbose:
        print(report.summary(max_problems=15))
    return frame


def problem_counts(frame: pd.DataFrame) -> pd.Series:
    """How many files have each problem, from a :func:`validate` table."""
    return frame.groupby("problem")["file"].nunique().sort_values(ascending=False)
