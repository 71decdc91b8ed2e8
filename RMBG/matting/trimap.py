"""Trimaps from soft segmentation masks, and the shared rules for reading trimaps.

A trimap is an ``HxW`` uint8 array at the photo's size: ``0`` = known background, ``128`` =
unknown (to be solved by a matting method), ``255`` = known foreground.

:func:`make_trimap` builds one from a soft mask (a salient-object model's probability map) in four
vectorised OpenCV steps, all on 8-bit probability *levels* (``mask * 255``), the unit both
reference tools use:

1. candidates: foreground where ``level > fg_threshold``, background where ``level < bg_threshold``;
   every level in between is an uncertain probability and becomes unknown;
2. ``erosion``: the foreground candidates are eroded with an ``erosion x erosion`` square, so a band
   inside the object's edge becomes unknown;
3. ``bg_erosion``: the background candidates are eroded likewise;
4. ``dilation``: background within a ``dilation x dilation`` square of any foreground candidate
   becomes unknown (a band outside the object's edge).

Two presets reproduce the reference tools (sources checked against their code):

* ``"carvekit"``: CarveKit's ``TrimapGenerator(prob_threshold=231, kernel_size=30, erosion_iters=5)``
  (``carvekit/trimap/generator.py``, ``cv_gen.py``, ``add_ops.py`` in OPHoperHPO's
  image-background-remove-tool / freezed_carvekit_2023, Apache-2.0). It binarises the mask at
  ``> 231``, dilates that binary mask with a ``(2 * kernel_size + 1)`` = 61x61 square of ones (so
  ``kernel_size=30`` is the band's *offset* in pixels, not the kernel's side) and marks the
  dilation ring unknown, marks every level ``0 < level <= 231`` unknown, then erodes the known
  foreground with a 3x3 square 5 times (= one 11x11 erosion) and marks what was removed unknown.
  Hence ``fg_threshold=231, bg_threshold=1`` (background only where the 8-bit level is 0),
  ``dilation=61, erosion=11, bg_erosion=0``.
* ``"rembg"``: rembg's ``alpha_matting_cutout`` defaults (``alpha_matting_foreground_threshold=240``,
  ``alpha_matting_background_threshold=10``, ``alpha_matting_erode_size=10``): foreground
  ``mask > 240`` and background ``mask < 10``, each eroded with a 10x10 square of ones
  (``scipy.ndimage.binary_erosion``), the rest unknown. Hence ``fg_threshold=240, bg_threshold=10,
  erosion=10, bg_erosion=10, dilation=0``.

Border convention (one documented difference from rembg): the image border never erodes a known
region here (OpenCV's default border for erosion). rembg erodes its *foreground* at the border too
(``binary_erosion``'s ``border_value=0``), so an object cut by the frame loses up to 5 known pixels
along the frame there; it keeps them here. Its background erosion (``border_value=1``) and CarveKit
match this module exactly. With an even square side (rembg's 10) the structuring element's centre is
at index ``side // 2``, as in both OpenCV and SciPy, so the band is ``side // 2`` pixels wide on the
top/left of a region and ``side // 2 - 1`` on its bottom/right.

Trimaps read from files or other tools are split by :func:`split_trimap`: values that are not
exactly background/unknown/foreground (a JPEG-saved trimap, say) are binned with pymatting's
thresholds (``<= 0.1`` background, ``>= 0.9`` foreground, the rest unknown, in [0, 1] units) and a
warning says how many pixels were binned.

Imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Mapping, Union

import cv2
import numpy as np

logger = logging.getLogger(__name__)

#: Trimap values.
BACKGROUND = 0
UNKNOWN = 128
FOREGROUND = 255

#: Binning of trimap values in [0, 1] units (pymatting's ``trimap_split`` uses the same thresholds):
#: ``value <= TRIMAP_BG_MAX`` is background, ``value >= TRIMAP_FG_MIN`` is foreground.
TRIMAP_BG_MAX = 0.1
TRIMAP_FG_MIN = 0.9

#: Float inputs may leave [0, 1] by this much (round-off of resizing or blurring); such values are
#: clipped. Anything further out is rejected.
FLOAT_TOLERANCE = 1e-3


def check_unit_float(values: np.ndarray, name: str, hint: str) -> bool:
    """Validate a float array against [0, 1] (within :data:`FLOAT_TOLERANCE`).

    Returns:
        True when some values lie (within the tolerance) outside [0, 1] and must be clipped.

    Raises:
        ValueError: NaN, or values further than the tolerance outside [0, 1]; ``hint`` says what to do.
    """
    low, high = float(np.min(values)), float(np.max(values))
    if np.isnan(low) or np.isnan(high):
        raise ValueError(f"{name}: contains NaN")
    if low < -FLOAT_TOLERANCE or high > 1.0 + FLOAT_TOLERANCE:
        raise ValueError(f"{name}: float values must lie in [0, 1], got values in [{low:.6g}, {high:.6g}] ({hint})")
    return low < 0.0 or high > 1.0


@dataclass(frozen=True)
class TrimapConfig:
    """How :func:`make_trimap` turns a soft mask into a trimap.

    Thresholds are 8-bit probability levels (0-255), the unit of CarveKit and rembg; a float mask
    in [0, 1] is compared as ``mask * 255``. Morphology sizes are sides of square structuring
    elements in pixels at the mask's resolution; 0 or 1 disables the step.

    Attributes:
        fg_threshold: a pixel is a foreground candidate where ``level > fg_threshold``.
        bg_threshold: a pixel is a background candidate where ``level < bg_threshold``. Levels in
            ``[bg_threshold, fg_threshold]`` are uncertain and always unknown.
        erosion: side of the square that erodes the foreground candidates (band inside the edge).
        dilation: side of the square that dilates the foreground candidates into the background
            (band outside the edge).
        bg_erosion: side of the square that erodes the background candidates.
    """

    fg_threshold: float = 240.0
    bg_threshold: float = 10.0
    erosion: int = 10
    dilation: int = 0
    bg_erosion: int = 10

    def __post_init__(self) -> None:
        for name in ("fg_threshold", "bg_threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
                raise TypeError(f"{name}: expected a number of 8-bit levels (0-255), got {value!r}")
            if not 0.0 <= float(value) <= 255.0:
                raise ValueError(
                    f"{name}: expected 8-bit levels in [0, 255], got {value!r} "
                    "(a threshold in [0, 1] must be multiplied by 255)"
                )
        if self.bg_threshold > self.fg_threshold:
            raise ValueError(
                f"bg_threshold ({self.bg_threshold}) is above fg_threshold ({self.fg_threshold}): a pixel "
                "would be both foreground and background; choose bg_threshold <= fg_threshold"
            )
        for name in ("erosion", "dilation", "bg_erosion"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"{name}: expected a square side in pixels (an int >= 0; 0 disables it), got {value!r}"
                )


#: Named presets, see the module docstring for their sources.
TRIMAP_PRESETS: Mapping[str, TrimapConfig] = {
    "carvekit": TrimapConfig(fg_threshold=231, bg_threshold=1, erosion=11, dilation=61, bg_erosion=0),
    "rembg": TrimapConfig(fg_threshold=240, bg_threshold=10, erosion=10, dilation=0, bg_erosion=10),
}

TrimapConfigLike = Union[TrimapConfig, str]


def get_trimap_config(config: TrimapConfigLike) -> TrimapConfig:
    """A :class:`TrimapConfig` from itself or a preset name.

    Raises:
        ValueError: ``config`` names no preset.
        TypeError: ``config`` is neither a name nor a ``TrimapConfig``.
    """
    if isinstance(config, TrimapConfig):
        return config
    if isinstance(config, str):
        try:
            return TRIMAP_PRESETS[config.lower()]
        except KeyError:
            raise ValueError(
                f"trimap_config: unknown preset {config!r}; choose one of {sorted(TRIMAP_PRESETS)} "
                "or pass a TrimapConfig"
            ) from None
    raise TypeError(f"trimap_config: expected a preset name or a TrimapConfig, got {type(config).__name__}")


def mask_levels(mask: np.ndarray, *, name: str = "mask") -> np.ndarray:
    """A soft mask as float32 8-bit levels in [0, 255].

    ``uint8`` masks are taken as levels, ``bool`` masks as 0/255, float masks must lie in [0, 1]
    (round-off within :data:`FLOAT_TOLERANCE` is clipped) and are multiplied by 255 (rounded to 1/1000 of a level, so a mask that came from 8-bit data
    gives back exact integers and compares with integer thresholds exactly).

    Raises:
        TypeError: ``mask`` is not a numpy array or has another dtype.
        ValueError: wrong shape, NaN, or float values outside [0, 1].
    """
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array HxW, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2 or mask.shape[0] == 0 or mask.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty HxW array, got shape {mask.shape}")
    if mask.dtype == np.bool_:
        return mask.astype(np.float32) * 255.0
    if mask.dtype == np.uint8:
        return mask.astype(np.float32)
    if np.issubdtype(mask.dtype, np.floating):
        values = mask.astype(np.float32)
        if check_unit_float(values, name, "divide 8-bit data by 255, or pass it as uint8"):
            np.clip(values, 0.0, 1.0, out=values)
        return np.round(values * 255.0, 3)
    raise TypeError(f"{name}: expected dtype uint8, bool or float in [0, 1], got {mask.dtype}")


def _square(side: int) -> np.ndarray:
    return np.ones((side, side), np.uint8)


def make_trimap(
    mask: np.ndarray,
    config: TrimapConfigLike = "rembg",
    *,
    fg_threshold: float | None = None,
    bg_threshold: float | None = None,
    erosion: int | None = None,
    dilation: int | None = None,
    bg_erosion: int | None = None,
    warn: bool = True,
) -> np.ndarray:
    """A trimap from a soft mask.

    Args:
        mask: ``HxW`` soft mask, float in [0, 1], uint8 levels or bool.
        config: a :class:`TrimapConfig` or a preset name from :data:`TRIMAP_PRESETS`
            (``"rembg"`` by default).
        fg_threshold, bg_threshold, erosion, dilation, bg_erosion: override single fields of
            ``config`` (see :class:`TrimapConfig`).
        warn: log a warning when the trimap has no foreground or no background (callers that
            handle those cases themselves pass False).

    Returns:
        ``HxW`` uint8 trimap with values 0 (background), 128 (unknown) and 255 (foreground).
        A trimap without foreground or without background is returned as is, with a logged
        warning (the matting solvers reject it with a ValueError).

    Raises:
        TypeError, ValueError: a bad mask, config or override (the message names it).
    """
    base = get_trimap_config(config)
    overrides = {
        key: value
        for key, value in dict(
            fg_threshold=fg_threshold, bg_threshold=bg_threshold, erosion=erosion,
            dilation=dilation, bg_erosion=bg_erosion,
        ).items()
        if value is not None
    }
    cfg = dataclasses.replace(base, **overrides) if overrides else base
    levels = mask_levels(mask)

    fg_candidate = (levels > cfg.fg_threshold).astype(np.uint8)
    bg_candidate = (levels < cfg.bg_threshold).astype(np.uint8)
    del levels

    # OpenCV's default borders make the outside of the image neutral: it neither erodes a known
    # region nor dilates into it.
    known_fg = cv2.erode(fg_candidate, _square(cfg.erosion)) if cfg.erosion > 1 else fg_candidate
    known_bg = cv2.erode(bg_candidate, _square(cfg.bg_erosion)) if cfg.bg_erosion > 1 else bg_candidate
    if cfg.dilation > 1:
        near_fg = cv2.dilate(fg_candidate, _square(cfg.dilation))
        known_bg = known_bg & (near_fg ^ 1)

    trimap = np.full(fg_candidate.shape, UNKNOWN, np.uint8)
    trimap[known_bg.view(bool)] = BACKGROUND
    trimap[known_fg.view(bool)] = FOREGROUND
    if warn and not known_fg.any():
        logger.warning(
            "make_trimap: the trimap has no foreground (no mask level above %s survives an erosion of %d); "
            "matting it will fail. Lower fg_threshold or erosion if the mask does hold an object.",
            cfg.fg_threshold, cfg.erosion,
        )
    if warn and not known_bg.any():
        logger.warning(
            "make_trimap: the trimap has no background (no mask level below %s survives the erosion/dilation); "
            "matting it will fail. Raise bg_threshold or lower bg_erosion/dilation.",
            cfg.bg_threshold,
        )
    return trimap


def split_trimap(trimap: np.ndarray, *, name: str = "trimap") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean ``(is_fg, is_bg, is_unknown)`` masks of a trimap.

    Accepted: uint8 (or another integer dtype) with values in [0, 255], canonical values
    0/128/255; float in [0, 1], canonical values 0/0.5/1. Any other value is binned in [0, 1]
    units: ``<= 0.1`` background, ``>= 0.9`` foreground, else unknown (pymatting's thresholds),
    and a warning gives the number of such pixels.

    Raises:
        TypeError: not a numpy array, or a bool/complex dtype.
        ValueError: wrong shape, NaN, or values outside the range of the dtype's convention.
    """
    if not isinstance(trimap, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array HxW, got {type(trimap).__name__}")
    if trimap.ndim == 3 and trimap.shape[2] == 1:
        trimap = trimap[..., 0]
    if trimap.ndim != 2 or trimap.shape[0] == 0 or trimap.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty HxW array, got shape {trimap.shape}")
    if np.issubdtype(trimap.dtype, np.integer):
        if trimap.dtype != np.uint8:
            low, high = int(trimap.min()), int(trimap.max())
            if low < 0 or high > 255:
                raise ValueError(
                    f"{name}: integer trimaps must hold 8-bit values 0/128/255, got values in [{low}, {high}]"
                )
        # The same thresholds on integer levels: <= 25.5 and >= 229.5.
        is_fg = trimap >= 230
        is_bg = trimap <= 25
        n_off = trimap.size - sum(int(np.count_nonzero(trimap == value)) for value in (BACKGROUND, UNKNOWN, FOREGROUND))
    elif np.issubdtype(trimap.dtype, np.floating):
        check_unit_float(trimap, name, "trimaps are 0/0.5/1 as floats: pass 8-bit trimaps as uint8, or divide by 255")
        is_fg = trimap >= TRIMAP_FG_MIN
        is_bg = trimap <= TRIMAP_BG_MAX
        # 128/255 (a uint8 trimap divided by 255) is canonical too.
        half, half_8bit = trimap.dtype.type(0.5), trimap.dtype.type(128 / 255)
        canonical = (trimap == 0) | (trimap == 1) | (trimap == half) | (trimap == half_8bit)
        n_off = int(canonical.size - np.count_nonzero(canonical))
        del canonical
    else:
        raise TypeError(f"{name}: expected dtype uint8 (0/128/255) or float (0/0.5/1), got {trimap.dtype}")
    is_unknown = ~(is_fg | is_bg)
    if n_off:
        logger.warning(
            "%s: %d pixels are not exactly background/unknown/foreground; binned with thresholds "
            "<= %.1f background, >= %.1f foreground (in [0, 1] units), the rest unknown",
            name, n_off, TRIMAP_BG_MAX, TRIMAP_FG_MIN,
        )
    return is_fg, is_bg, is_unknown
