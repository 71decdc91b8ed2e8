"""Mask agreement: IoU and mean absolute difference between a run's outputs and the reference's."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np


def mask_agreement(mask: np.ndarray, reference: np.ndarray, threshold: float = 0.5) -> tuple[float, float]:
    """``(IoU, mean absolute difference)`` of two masks in [0, 1] (IoU of ``> threshold``; 1.0 when both are empty).

    Raises:
        ValueError: the shapes differ.
    """
    if mask.shape != reference.shape:
        raise ValueError(f"mask: shape {mask.shape} differs from the reference's {reference.shape}")
    a, b = mask > threshold, reference > threshold
    union = np.logical_or(a, b).sum()
    iou = float(np.logical_and(a, b).sum() / union) if union else 1.0
    return iou, float(np.abs(mask.astype(np.float32) - reference.astype(np.float32)).mean())


def read_alpha(path: str | os.PathLike) -> np.ndarray:
    """The mask of an output PNG in [0, 1]: its alpha band (RGBA cutouts) or its grey value (masks)."""
    from PIL import Image  # deferred: PIL stays out of `rmbg --help` start-up

    with Image.open(path) as image:
        band = image.getchannel("A") if image.mode in ("RGBA", "LA") else image.convert("L")
        return np.asarray(band, dtype=np.float32) / 255.0


def folder_agreement(folder: str | os.PathLike, reference: str | os.PathLike) -> list[dict]:
    """Per-photo agreement of the PNG outputs of ``folder`` with those of ``reference``, paired by stem.

    Returns:
        ``[{"photo": stem, "iou": float, "mad": float}, ...]`` for every reference output.

    Raises:
        FileNotFoundError: an output of the reference has no counterpart in ``folder``.
    """
    folder, reference = Path(folder), Path(reference)
    ours = {p.stem: p for p in folder.glob("*.png") if not p.name.startswith(".")}
    rows = []
    for path in sorted(p for p in reference.glob("*.png") if not p.name.startswith(".")):
        if path.stem not in ours:
            raise FileNotFoundError(f"outputs: '{folder}' has no output for '{path.stem}' (the reference '{reference}' has)")
        iou, mad = mask_agreement(read_alpha(ours[path.stem]), read_alpha(path))
        rows.append({"photo": path.stem, "iou": iou, "mad": mad})
    return rows


def summarise(rows: list[dict]) -> dict[str, float]:
    """``iou_mean``, ``iou_min``, ``mad_mean`` and ``worst_photo`` of :func:`folder_agreement`'s rows (NaN when empty)."""
    if not rows:
        return {"iou_mean": math.nan, "iou_min": math.nan, "mad_mean": math.nan, "worst_photo": ""}
    worst = min(rows, key=lambda r: r["iou"])
    return {"iou_mean": float(np.mean([r["iou"] for r in rows])), "iou_min": worst["iou"],
            "mad_mean": float(np.mean([r["mad"] for r in rows])), "worst_photo": worst["photo"]}
