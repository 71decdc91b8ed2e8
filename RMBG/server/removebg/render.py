"""The answer of ``POST /removebg``: a photo and its matte → encoded bytes plus remove.bg's headers.

Order: ``roi`` and ``semitransparency`` on the matte → cutout → ``scale``/``position`` → ``crop``
(+ ``crop_margin``) → background (``bg_color`` or a background image, resized to cover the
result) → ``channels`` and ``format``.
"""

from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from RMBG.inference.compose import compose
from RMBG.inference.image_io import encode_image
from RMBG.server.errors import ApiError
from RMBG.server.removebg.layout import (
    SUBJECT_THRESHOLD,
    apply_roi,
    composite_over,
    cover_resize,
    crop_to_subject,
    place_subject,
    subject_box,
)
from RMBG.server.removebg.params import RemoveBgParams


@dataclass
class RemoveBgResult:
    """What the endpoint answers: encoded bytes plus the values of remove.bg's headers."""

    content: bytes
    media_type: str
    extension: str
    width: int
    height: int
    foreground: tuple[int, int, int, int] | None  # top, left, width, height
    x_type: str | None
    credits_charged: float = 0.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        """``X-Width``, ``X-Height``, ``X-Type``, ``X-Credits-Charged`` and ``X-Foreground-*``."""
        headers = {"X-Width": str(self.width), "X-Height": str(self.height), "X-Credits-Charged": f"{self.credits_charged:g}"}
        if self.x_type is not None:
            headers["X-Type"] = self.x_type
        if self.foreground is not None:
            top, left, width, height = self.foreground
            headers.update({"X-Foreground-Top": str(top), "X-Foreground-Left": str(left),
                            "X-Foreground-Width": str(width), "X-Foreground-Height": str(height)})
        headers.update(self.extra_headers)
        return headers

    def json_body(self) -> dict:
        """remove.bg's JSON answer (``Accept: application/json``)."""
        data: dict[str, Any] = {"result_b64": base64.b64encode(self.content).decode("ascii")}
        if self.foreground is not None:
            top, left, width, height = self.foreground
            data.update({"foreground_top": top, "foreground_left": left, "foreground_width": width, "foreground_height": height})
        return {"data": data}


def _zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def cutout_layer(params: RemoveBgParams, image: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None,
                 original_size: tuple[int, int] | None) -> np.ndarray:
    """The RGBA cutout after ``roi``, ``semitransparency``, ``scale``/``position`` and ``crop``."""
    if params.roi is not None:
        alpha = apply_roi(alpha, params.roi, original_size)
    if not params.semitransparency:  # binarise at 0.5 (uint8: 128 is the first value that rounds from >= 0.5)
        alpha = np.where(alpha >= (128 if alpha.dtype == np.uint8 else 0.5), np.uint8(255), np.uint8(0))
    layer = compose(image, alpha, "rgba", foreground=foreground)
    del alpha
    box = subject_box(layer[..., 3])
    if box is None:
        raise ApiError(400, "unknown_foreground", "Could not identify foreground in image.",
                       f"the {params.model} model found no subject (no pixel with alpha above {SUBJECT_THRESHOLD:g}); "
                       "try another model or a photo with a clear subject")
    layer = place_subject(layer, box, params.scale, params.position)
    if params.crop:
        layer = crop_to_subject(layer, params.crop_margin)
    return layer


def with_background(params: RemoveBgParams, layer: np.ndarray, background: np.ndarray | None) -> np.ndarray:
    """``layer`` over ``bg_color`` or the background image (resized to cover it), or ``layer`` itself."""
    if params.bg_color is not None:
        return composite_over(layer, np.broadcast_to(np.array(params.bg_color, np.uint8), layer.shape))
    if background is not None:
        height, width = layer.shape[:2]
        bg = cover_resize(background, width, height)
        return composite_over(layer, np.dstack([bg, np.full(bg.shape[:2], 255, np.uint8)]))
    return layer


def encode_result(params: RemoveBgParams, layer: np.ndarray, final: np.ndarray) -> tuple[bytes, str, str]:
    """``(content, media type, extension)`` for ``channels`` and ``format``."""
    if params.format == "zip":
        files = {"color.jpg": encode_image(final[..., :3], "jpeg"), "alpha.png": encode_image(final[..., 3], "png")}
        return _zip(files), "application/zip", "zip"
    if params.channels == "alpha":
        matte = layer[..., 3]
        if params.format == "jpg":
            return encode_image(matte, "jpeg"), "image/jpeg", "jpg"
        if params.format == "webp":
            return encode_image(matte, "webp"), "image/webp", "webp"
        return encode_image(matte, "png"), "image/png", "png"
    opaque = bool(final[..., 3].min() == 255)
    if params.format == "jpg" or (params.format == "auto" and opaque):
        rgb = final[..., :3] if opaque else composite_over(final, np.broadcast_to(np.uint8(255), final.shape))[..., :3]
        return encode_image(rgb, "jpeg"), "image/jpeg", "jpg"
    if params.format == "webp":
        return encode_image(final, "webp"), "image/webp", "webp"
    return encode_image(final, "png"), "image/png", "png"


def render(
    params: RemoveBgParams,
    image: np.ndarray,
    alpha: np.ndarray,
    foreground: np.ndarray | None = None,
    background: np.ndarray | None = None,
    original_size: tuple[int, int] | None = None,
) -> RemoveBgResult:
    """Turn a photo and its matte into the answer the request asked for (order: the module docstring).

    Args:
        params: the validated request.
        image: the photo (already fitted to ``size``), HxWx3 uint8.
        alpha: its matte, HxW float in [0, 1], or uint8 0..255 (:func:`~RMBG.server.removebg.layout.matte_to_uint8`).
        foreground: estimated foreground colours from the post-processor, or ``None``.
        background: a decoded background image (HxWx3 uint8), or ``None``.
        original_size: (width, height) of the photo as uploaded, for ``roi`` in pixels.

    Raises:
        ApiError: 400 ``unknown_foreground`` when the matte holds no subject, ``roi_*`` for a bad roi.
    """
    layer = cutout_layer(params, image, alpha, foreground, original_size)
    height, width = layer.shape[:2]
    final_box = subject_box(layer[..., 3])
    foreground_box = None if final_box is None else (final_box[1], final_box[0], final_box[2] - final_box[0], final_box[3] - final_box[1])
    final = with_background(params, layer, background)
    content, media_type, extension = encode_result(params, layer, final)
    return RemoveBgResult(content, media_type, extension, width, height, foreground_box, params.x_type)
