"""The geometry of a remove.bg result: ``roi``, subject box, ``scale``/``position``, ``crop`` and compositing.

Arrays in, arrays out; imports neither FastAPI nor TensorFlow.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from RMBG.server.errors import ApiError

#: Alpha above which a pixel counts as subject for ``crop``, ``scale``, ``position`` and ``X-Foreground-*``.
SUBJECT_THRESHOLD = 0.05

#: Largest margin on each side for ``crop_margin`` (remove.bg: 50% of the subject or 500 px).
MAX_MARGIN_PX = 500
MAX_MARGIN_FRACTION = 0.5

#: Pixels composited at once by :func:`composite_over` (about 20 MB of float32 temporaries).
COMPOSITE_BAND_PIXELS = 1 << 18


def matte_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """A matte in [0, 1] (float) as uint8 0..255 (``round(a * 255)``), converted in bands of
    :data:`COMPOSITE_BAND_PIXELS` so that no full-size float temporary is made; uint8 passes through."""
    if alpha.dtype == np.uint8:
        return alpha
    height, width = alpha.shape
    out = np.empty((height, width), np.uint8)
    rows = max(1, COMPOSITE_BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = np.multiply(alpha[top:top + rows], 255.0, dtype=np.float32)
        np.clip(band, 0.0, 255.0, out=band)
        band += 0.5
        out[top:top + rows] = band
    return out


def subject_box(alpha8: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (exclusive ends) of pixels with alpha above :data:`SUBJECT_THRESHOLD`."""
    mask = alpha8 > int(SUBJECT_THRESHOLD * 255)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _to_px(length: tuple[float, str], reference: int) -> float:
    value, unit = length
    return value * reference / 100.0 if unit == "%" else value


def apply_roi(alpha: np.ndarray, roi: Sequence[tuple[float, str]], original_size: tuple[int, int] | None = None) -> np.ndarray:
    """Zero the matte outside the region of interest ``x1 y1 x2 y2``.

    Pixel coordinates refer to the image as uploaded (``original_size`` = (width, height)); they
    are scaled when ``size`` made the working image smaller.
    """
    height, width = alpha.shape
    orig_w, orig_h = original_size or (width, height)
    x1, y1, x2, y2 = (_to_px(roi[0], orig_w), _to_px(roi[1], orig_h), _to_px(roi[2], orig_w), _to_px(roi[3], orig_h))
    text = " ".join(f"{v:g}{u}" for v, u in roi)
    if x2 > orig_w or y2 > orig_h:
        raise ApiError(400, "roi_exceeds_bounds", "ROI exceeds image bounds",
                       f"roi: {text!r} reaches past the {orig_w}x{orig_h} image")
    sx, sy = width / orig_w, height / orig_h
    ix1, iy1, ix2, iy2 = int(round(x1 * sx)), int(round(y1 * sy)), int(round(x2 * sx)), int(round(y2 * sy))
    if ix2 <= ix1 or iy2 <= iy1:
        raise ApiError(400, "roi_region_empty", "ROI region is empty", f"roi: {text!r} defines an empty region; x2 must exceed x1 and y2 y1")
    out = np.zeros_like(alpha)
    out[iy1:iy2, ix1:ix2] = alpha[iy1:iy2, ix1:ix2]
    return out


def resize_rgba(layer: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGBA uint8 layer with premultiplied alpha (no dark fringes)."""
    if layer.shape[1] == width and layer.shape[0] == height:
        return layer
    a = layer[..., 3:4].astype(np.float32) / 255.0
    premultiplied = np.concatenate([layer[..., :3].astype(np.float32) * a, a * 255.0], axis=2)
    shrinking = width * height < layer.shape[0] * layer.shape[1]
    resized = cv2.resize(premultiplied, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    alpha = np.clip(resized[..., 3:4], 0.0, 255.0)
    safe = np.where(alpha > 0, alpha / 255.0, 1.0)
    rgb = np.where(alpha > 0, resized[..., :3] / safe, 0.0)
    return np.clip(np.concatenate([rgb, alpha], axis=2) + 0.5, 0, 255).astype(np.uint8)


def _paste(canvas: np.ndarray, piece: np.ndarray, left: int, top: int) -> None:
    """Copy ``piece`` into ``canvas`` at (left, top), clipped to the canvas."""
    ch, cw = canvas.shape[:2]
    ph, pw = piece.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + pw, cw), min(top + ph, ch)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = piece[y0 - top:y1 - top, x0 - left:x1 - left]


def place_subject(layer: np.ndarray, box: tuple[int, int, int, int], scale: float | None, position) -> np.ndarray:
    """remove.bg's ``scale`` and ``position`` on the original canvas.

    ``scale`` resizes the subject so that it fills that fraction of the canvas along its limiting
    side; ``position`` puts it at ``(x, y)`` fractions of the free space (0 = left/top,
    0.5 = centred, 1 = right/bottom); ``"original"`` keeps the subject's centre where it was.
    """
    if scale is None and position == "original":
        return layer
    height, width = layer.shape[:2]
    x0, y0, x1, y1 = box
    box_w, box_h = x1 - x0, y1 - y0
    factor = scale * min(width / box_w, height / box_h) if scale is not None else 1.0
    new_w, new_h = max(1, int(round(box_w * factor))), max(1, int(round(box_h * factor)))
    subject = resize_rgba(layer[y0:y1, x0:x1], new_w, new_h)
    if position == "original":
        left, top = int(round((x0 + x1) / 2 - new_w / 2)), int(round((y0 + y1) / 2 - new_h / 2))
    else:
        px, py = position
        left, top = int(round(px * (width - new_w))), int(round(py * (height - new_h)))
    canvas = np.zeros_like(layer)
    _paste(canvas, subject, left, top)
    return canvas


def crop_to_subject(layer: np.ndarray, margin: Sequence[tuple[float, str]]) -> np.ndarray:
    """Crop to the subject plus ``margin`` (top, right, bottom, left); space past the photo is transparent.

    Percentages are of the subject's height (top, bottom) or width (left, right); each side is
    capped at 50% of the subject's size and at 500 px, as remove.bg documents.
    """
    box = subject_box(layer[..., 3])
    if box is None:
        return layer
    x0, y0, x1, y1 = box
    box_w, box_h = x1 - x0, y1 - y0
    top, right, bottom, left = (
        int(round(min(_to_px(m, ref), MAX_MARGIN_FRACTION * ref, MAX_MARGIN_PX)))
        for m, ref in zip(margin, (box_h, box_w, box_h, box_w))
    )
    canvas = np.zeros((box_h + top + bottom, box_w + left + right, 4), np.uint8)
    cx0, cy0 = x0 - left, y0 - top
    _paste(canvas, layer, -cx0, -cy0)
    return canvas


def cover_resize(background: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to fill ``width`` x ``height`` keeping the aspect ratio, centred, cropping the overflow."""
    bh, bw = background.shape[:2]
    if (bw, bh) == (width, height):
        return background
    factor = max(width / bw, height / bh)
    new_w, new_h = max(width, int(math.ceil(bw * factor))), max(height, int(math.ceil(bh * factor)))
    resized = cv2.resize(background, (new_w, new_h), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return resized[top:top + height, left:left + width]


def _composite_block(layer: np.ndarray, background: np.ndarray) -> np.ndarray:
    fa = layer[..., 3:4].astype(np.float32)
    fa /= 255.0
    ba = background[..., 3:4].astype(np.float32)
    ba /= 255.0
    transmitted = 1.0 - fa
    out_a = fa + ba * transmitted
    rgb = layer[..., :3] * fa
    rgb += background[..., :3] * ba * transmitted  # same operation order as the unbanded formula
    np.divide(rgb, out_a, out=rgb, where=out_a > 0)
    rgb[np.broadcast_to(out_a <= 0, rgb.shape)] = 0.0
    out = np.empty(layer.shape[:2] + (4,), np.uint8)
    np.clip(rgb + 0.5, 0, 255, out=rgb)
    out[..., :3] = rgb
    out[..., 3:4] = np.clip(out_a * 255.0 + 0.5, 0, 255)
    return out


def composite_over(layer: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Porter-Duff "over": RGBA ``layer`` over an RGBA ``background`` of the same size → RGBA uint8.

    Works in bands of :data:`COMPOSITE_BAND_PIXELS` pixels, so its float32 temporaries stay a few
    tens of MB whatever the image size (a 25 MP image at once needed about 2.5 GB).
    """
    height, width = layer.shape[:2]
    out = np.empty((height, width, 4), np.uint8)
    rows = max(1, COMPOSITE_BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        out[top:top + rows] = _composite_block(layer[top:top + rows], background[top:top + rows])
    return out
