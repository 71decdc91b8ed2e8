"""Foreground colours behind a soft alpha, and halo-free RGBA cutouts.

A photo pixel at the object's edge is a mix ``I = alpha F + (1 - alpha) B`` of the object's colour
``F`` and the background's ``B``. Writing ``I`` with ``alpha`` as a cutout keeps ``B`` in the edge
pixels: a coloured halo once the cutout sits on a new background. :func:`estimate_foreground`
recovers ``F`` with pymatting's multi-level foreground estimation (Germer, Uelwer, Conrad, Harmeling,
"Fast Multi-Level Foreground Estimation", ICPR 2020; ``estimate_foreground_ml``) and
:func:`cutout` writes ``F`` instead of ``I``.

Large photos: ``F`` is needed only where ``0 < alpha < 1``; elsewhere it equals the photo (alpha 1)
or does not matter (alpha 0, returned as the photo too). So the estimate runs on the bounding box
of the fractional pixels plus ``margin`` (``band_only``), downscaled to ``max_megapixels`` when
larger. A downscaled estimate is brought back at the fractional pixels only: ``F`` and ``B`` are
interpolated bilinearly, then corrected with the smallest change that makes them explain the
full-resolution colour exactly (``r = I - alpha F - (1 - alpha) B``;
``F += alpha r / (alpha^2 + (1 - alpha)^2)``, ``B += (1 - alpha) r / (alpha^2 + (1 - alpha)^2)``, the
minimum-norm solution of the compositing equation for ``(dF, dB)``), which restores the
full-resolution texture. pymatting has no such step; it is written here with numpy.

Imports no TensorFlow; pymatting (numba) is imported on first use.
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from RMBG.matting.closed_form import DEFAULT_MARGIN, as_rgb_float, check_rgb, plan_crop, sample_at, scaled_size
from RMBG.matting.trimap import check_unit_float

logger = logging.getLogger(__name__)

#: Default resolution cap of the foreground estimate (megapixels of the region it processes).
DEFAULT_FOREGROUND_MEGAPIXELS = 2.0


def as_alpha(alpha: np.ndarray, *, name: str = "alpha") -> np.ndarray:
    """Check an alpha matte and return it as ``HxW`` float32 in [0, 1].

    Accepted: float in [0, 1] (the project's contract; round-off within
    :data:`RMBG.matting.trimap.FLOAT_TOLERANCE` is clipped) or uint8 (divided by 255).

    Raises:
        TypeError: not a numpy array, or another dtype.
        ValueError: wrong shape, NaN, or float values outside [0, 1].
    """
    if not isinstance(alpha, np.ndarray):
        raise TypeError(f"{name}: expected an HxW numpy array, got {type(alpha).__name__}")
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[..., 0]
    if alpha.ndim != 2 or alpha.shape[0] == 0 or alpha.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty HxW array, got shape {alpha.shape}")
    if alpha.dtype == np.uint8:
        return alpha.astype(np.float32) * np.float32(1.0 / 255.0)
    if not np.issubdtype(alpha.dtype, np.floating):
        raise TypeError(f"{name}: expected dtype float (0-1) or uint8 (0-255), got {alpha.dtype}")
    if check_unit_float(alpha, name, "clip it, or divide 8-bit data by 255"):
        return np.clip(alpha, 0.0, 1.0).astype(np.float32, copy=False)
    return alpha.astype(np.float32, copy=False)


def _check_same_size(image: np.ndarray, alpha: np.ndarray) -> None:
    if alpha.shape != image.shape[:2]:
        raise ValueError(
            f"alpha: its size {alpha.shape[1]}x{alpha.shape[0]} differs from the image's "
            f"{image.shape[1]}x{image.shape[0]} (WxH); resize the alpha to the photo's size"
        )


def estimate_foreground(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    max_megapixels: float = DEFAULT_FOREGROUND_MEGAPIXELS,
    band_only: bool = True,
    margin: int = DEFAULT_MARGIN,
    regularization: float = 1e-5,
) -> np.ndarray:
    """Foreground colours ``F`` of ``image`` under ``alpha``.

    Args:
        image: ``HxWx3`` photo, uint8 RGB or float in [0, 1].
        alpha: ``HxW`` alpha matte at the photo's size, float in [0, 1] or uint8.
        max_megapixels: largest region processed at full resolution (see the module doc).
        band_only: process only the bounding box of the fractional-alpha pixels plus ``margin``
            (True) or the whole photo (False, still capped by ``max_megapixels``).
        margin: context kept around the fractional pixels, in full-resolution pixels.
        regularization: pymatting's smoothness weight ``epsilon`` (default 1e-5, pymatting's).

    Returns:
        ``HxWx3`` float32 foreground in [0, 1]. It equals the photo wherever alpha is exactly 0 or 1
        (where alpha is 0 the foreground colour is undefined and the photo's colour is returned).
        An alpha with no fractional pixel returns the photo as is (logged at INFO).

    Raises:
        TypeError, ValueError: bad arrays, sizes or arguments (the message names them).
    """
    if not (isinstance(max_megapixels, (int, float)) and max_megapixels > 0):
        raise ValueError(f"max_megapixels: expected a positive number, got {max_megapixels!r}")
    if not isinstance(margin, (int, np.integer)) or margin < 0:
        raise ValueError(f"margin: expected an int >= 0 (pixels), got {margin!r}")
    foreground = as_rgb_float(image)
    alpha = as_alpha(alpha)
    _check_same_size(image, alpha)
    fractional = (alpha > 0.0) & (alpha < 1.0)
    if not fractional.any():
        logger.info("estimate_foreground: alpha has no fractional pixel; the foreground is the photo itself")
        return foreground
    # deferred: pymatting compiles numba kernels on first import (~45 s in a fresh environment)
    from pymatting.foreground.estimate_foreground_ml import estimate_foreground_ml

    started = time.perf_counter()
    (top, bottom, left, right), scale = plan_crop(fractional, int(margin), float(max_megapixels), band_only)
    crop_alpha = alpha[top:bottom, left:right]
    crop_colour = foreground[top:bottom, left:right]
    height, width = crop_alpha.shape
    rows, cols = np.nonzero(fractional[top:bottom, left:right])
    colours = crop_colour[rows, cols]
    if scale < 1.0:
        low_h, low_w = scaled_size(height, width, scale)
        low_image = cv2.resize(crop_colour, (low_w, low_h), interpolation=cv2.INTER_AREA)
        low_alpha = cv2.resize(crop_alpha, (low_w, low_h), interpolation=cv2.INTER_AREA)
        low_f, low_b = estimate_foreground_ml(
            low_image, low_alpha, regularization=regularization, return_background=True
        )
        scale_y, scale_x = low_h / height, low_w / width
        f = sample_at(np.asarray(low_f, np.float32), rows, cols, scale_y, scale_x)
        b = sample_at(np.asarray(low_b, np.float32), rows, cols, scale_y, scale_x)
        a = crop_alpha[rows, cols][:, None]
        residual = colours - a * f - (1.0 - a) * b
        f += residual * (a / (a * a + (1.0 - a) ** 2))
        values = f
    else:
        estimated = estimate_foreground_ml(crop_colour, crop_alpha, regularization=regularization)
        values = np.asarray(estimated, np.float32)[rows, cols]
    foreground[rows + top, cols + left] = np.clip(values, 0.0, 1.0)
    logger.debug(
        "estimate_foreground: %dx%d region at scale %.3f, %d fractional pixels, %.2f s",
        width, height, scale, len(rows), time.perf_counter() - started,
    )
    return foreground


def cutout(
    image: np.ndarray,
    alpha: np.ndarray,
    foreground: np.ndarray | None = None,
    **foreground_kwargs: object,
) -> np.ndarray:
    """An ``HxWx4`` uint8 RGBA cutout without colour halos.

    Args:
        image: ``HxWx3`` photo, uint8 RGB or float in [0, 1].
        alpha: ``HxW`` alpha matte at the photo's size, float in [0, 1] or uint8.
        foreground: ``HxWx3`` foreground colours (float in [0, 1] or uint8) from
            :func:`estimate_foreground`; estimated here when None.
        **foreground_kwargs: passed to :func:`estimate_foreground` when it runs.

    Returns:
        RGBA uint8: RGB is the foreground colour, A the alpha (both x255, rounded half up). Fully transparent
        pixels get RGB 0 (their colour is undefined; zeros also compress best).

    Raises:
        TypeError, ValueError: bad arrays or sizes (the message names them).
    """
    check_rgb(image)
    alpha = as_alpha(alpha)
    _check_same_size(image, alpha)
    if foreground is None:
        foreground = estimate_foreground(image, alpha, **foreground_kwargs)  # type: ignore[arg-type]
    else:
        if foreground_kwargs:
            raise ValueError(
                f"foreground_kwargs {sorted(foreground_kwargs)} are only used when foreground is None"
            )
        check_rgb(foreground, name="foreground")
        if foreground.shape != image.shape:
            raise ValueError(
                f"foreground: shape {foreground.shape} differs from the image's {image.shape}"
            )
    rgba = np.empty(alpha.shape + (4,), np.uint8)
    if foreground.dtype == np.uint8:
        rgba[..., :3] = foreground
    else:
        rgba[..., :3] = np.clip(foreground * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgba[rgba[..., 3] == 0, :3] = 0
    return rgba
