"""Refine a segmentation mask into an alpha matte: the ``post="trimap-cf"`` step of removal.

``matte_from_mask`` = :func:`RMBG.matting.trimap.make_trimap` (soft mask -> trimap) +
:func:`RMBG.matting.closed_form.estimate_alpha` (trimap -> alpha, large-photo strategy included) +
optionally :func:`RMBG.matting.foreground.estimate_foreground` (alpha -> halo-free colours).

Imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, NamedTuple

import numpy as np

from RMBG.matting.closed_form import Method, check_rgb, estimate_alpha
from RMBG.matting.foreground import DEFAULT_FOREGROUND_MEGAPIXELS, estimate_foreground
from RMBG.matting.trimap import TrimapConfigLike, get_trimap_config, make_trimap

#: Trimap preset used when none is given: rembg's (it gave the lower SAD on GT01 with a
#: simulated coarse mask and a narrower, cheaper unknown band; docs/matting.md).
DEFAULT_TRIMAP_PRESET = "rembg"


class Matte(NamedTuple):
    """Result of :func:`matte_from_mask` (a tuple ``(alpha, foreground, trimap)``)."""

    alpha: np.ndarray
    """``HxW`` float32 alpha in [0, 1] at the photo's size."""
    foreground: np.ndarray | None
    """``HxWx3`` float32 foreground colours in [0, 1], or None when not requested."""
    trimap: np.ndarray
    """``HxW`` uint8 trimap (0/128/255) that was solved."""


def matte_from_mask(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    trimap_config: TrimapConfigLike = DEFAULT_TRIMAP_PRESET,
    method: Method = "cf",
    foreground_estimation: bool = True,
    max_megapixels: float | None = None,
    foreground_megapixels: float = DEFAULT_FOREGROUND_MEGAPIXELS,
    upsample: Literal["guided", "linear"] = "guided",
    solver_kwargs: Mapping[str, Any] | None = None,
) -> Matte:
    """Alpha matte (and foreground colours) of ``image`` from a soft segmentation ``mask``.

    Args:
        image: ``HxWx3`` photo, uint8 RGB (or float in [0, 1]).
        mask: ``HxW`` soft mask at the photo's size, float in [0, 1] (or uint8 / bool), e.g.
            ``Remover.predict_mask``'s output.
        trimap_config: a :class:`RMBG.matting.trimap.TrimapConfig` or a preset name
            (``"rembg"``, ``"carvekit"``).
        method: alpha solver, ``"cf"`` (closed form), ``"knn"`` or ``"sm"``.
        foreground_estimation: also estimate the foreground colours (for halo-free cutouts).
        max_megapixels: resolution cap of the alpha solve (None: the method's default).
        foreground_megapixels: resolution cap of the foreground estimate.
        upsample: ``"guided"`` or ``"linear"`` upsampling of a downscaled alpha solve.
        solver_kwargs: extra keyword arguments for the pymatting solver.

    Returns:
        ``Matte(alpha, foreground, trimap)``; ``foreground`` is None unless requested.

    Raises:
        ValueError: ``mask`` and ``image`` sizes differ; the trimap made from the mask has no
            foreground (nothing above the threshold: no object to matte) or no background (the
            object fills the frame); bad arguments. Messages say which and what to change.
        TypeError: wrong array types or dtypes.
    """
    check_rgb(image)
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask: expected an HxW numpy array, got {type(mask).__name__}")
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(
            f"mask: its size {mask.shape[1] if mask.ndim > 1 else '?'}x{mask.shape[0]} differs from the "
            f"image's {image.shape[1]}x{image.shape[0]} (WxH); resize the mask to the photo's size first"
        )
    config = get_trimap_config(trimap_config)
    trimap = make_trimap(mask, config)
    alpha = estimate_alpha(
        image, trimap, method=method, max_megapixels=max_megapixels, upsample=upsample,
        solver_kwargs=solver_kwargs,
    )
    foreground = (
        estimate_foreground(image, alpha, max_megapixels=foreground_megapixels) if foreground_estimation else None
    )
    return Matte(alpha, foreground, trimap)
