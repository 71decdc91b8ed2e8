"""Matting post-processors for :class:`RMBG.inference.remover.Remover` (``post=...``).

Named in :data:`RMBG.inference.postprocess.POSTPROCESSOR_TARGETS` (imported on first use):

=================  ==========================================================================
``trimap-cf``      mask -> trimap (:func:`make_trimap`) -> closed-form alpha
                   (:func:`~RMBG.matting.refine.matte_from_mask`)
``matting-net``    mask -> trimap -> the learned matting network (``matting_net`` preset)
``refine``         mask -> the learned refiner (``refiner`` preset) -> refined mask as alpha
``refine+matting`` refiner, then trimap from the refined mask, then the matting network
``fba``            mask -> trimap (``carvekit`` preset) -> FBA matting (``fba_matting``): alpha and its
                   predicted foreground colours (:func:`RMBG.matting.fba.fba_postprocess`; ``fba_model``
                   takes a ``.pth``, ``max_side`` caps the working size, default 1024)
=================  ==========================================================================

Options (``Remover(post=..., post_options={...})``, all optional):

* ``trimap``: trimap preset name (``"rembg"`` default, ``"carvekit"``);
* ``trimap_threshold``: confidence ``t`` in (0.5, 1): foreground where ``mask > t``, background
  where ``mask < 1 - t`` (sets ``fg_threshold = 255 t`` and ``bg_threshold = 255 (1 - t)``);
* ``trimap_dilation``, ``trimap_erosion``: square sides in pixels (override the preset's
  ``dilation`` and both ``erosion`` / ``bg_erosion``);
* ``foreground_estimation``: also estimate halo-free foreground colours (default True);
* ``matting_model`` / ``refiner_model``: a registry name (pretrained), a ``.keras`` path or a
  Keras model (defaults: ``"matting_net"`` / ``"refiner"``);
* ``max_side``: long side the learned nets work at (larger photos are scaled down, default 512:
  the nets were trained on 96 px crops);
* ``refine_band``: the refiner may change the mask only within this fraction of the long side
  from the mask's edge (default 0.02; None: everywhere).

Every post-processor returns ``(alpha HxW float32, foreground HxWx3 float32 in [0, 1] or None)``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import cv2
import numpy as np

from RMBG.matting.closed_form import MIN_SOLVE_SIDE, check_rgb, estimate_alpha
from RMBG.matting.foreground import estimate_foreground
from RMBG.matting.refine import DEFAULT_TRIMAP_PRESET
from RMBG.matting.trimap import BACKGROUND, FOREGROUND, TrimapConfig, get_trimap_config, make_trimap, mask_levels
from RMBG.registry import load_model

logger = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 512
#: The refiner changes the mask only this close to its edge (fraction of the long side).
DEFAULT_REFINE_BAND = 0.02


def trimap_config_from_options(
    trimap: str | TrimapConfig = DEFAULT_TRIMAP_PRESET,
    trimap_threshold: float | None = None,
    trimap_dilation: int | None = None,
    trimap_erosion: int | None = None,
) -> TrimapConfig:
    """The :class:`TrimapConfig` the options describe (see the module docstring).

    Raises:
        ValueError: ``trimap_threshold`` outside (0.5, 1), or a bad preset / size.
    """
    config = get_trimap_config(trimap)
    changes: dict[str, Any] = {}
    if trimap_threshold is not None:
        if not 0.5 < float(trimap_threshold) < 1.0:
            raise ValueError(
                f"trimap_threshold: expected a confidence in (0.5, 1), e.g. 0.9 (foreground above it, background "
                f"below 1 - it), got {trimap_threshold!r}"
            )
        changes["fg_threshold"] = 255.0 * float(trimap_threshold)
        changes["bg_threshold"] = 255.0 * (1.0 - float(trimap_threshold))
    if trimap_dilation is not None:
        changes["dilation"] = trimap_dilation
    if trimap_erosion is not None:
        changes["erosion"] = trimap_erosion
        changes["bg_erosion"] = trimap_erosion
    return dataclasses.replace(config, **changes) if changes else config


def resolve_model(model: Any, default: str):
    """A Keras model from ``model`` (None -> ``default``): a registry name or ``.keras`` path
    (through the registry's shared model cache) or a model object."""
    return load_model(default if model is None else model, task=None)  # matting/refinement models too


def _check_foreground_flag(foreground_estimation: Any) -> bool:
    if not isinstance(foreground_estimation, (bool, np.bool_)):
        raise TypeError(f"foreground_estimation: expected True or False, got {foreground_estimation!r}")
    return bool(foreground_estimation)


def trimap_cf(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    trimap: str | TrimapConfig = DEFAULT_TRIMAP_PRESET,
    trimap_threshold: float | None = None,
    trimap_dilation: int | None = None,
    trimap_erosion: int | None = None,
    foreground_estimation: bool = True,
    method: str = "cf",
) -> tuple[np.ndarray, np.ndarray | None]:
    """``post="trimap-cf"``: trimap from the mask, closed-form alpha, optional foreground colours.

    Where matting has nothing to solve the mask itself is returned as the alpha (the result of
    ``post="none"``), with a logged warning: a mask that holds no object (the empty cutout), an
    object that fills the photo (no background left), a photo thinner than the solver's window
    (:data:`~RMBG.matting.closed_form.MIN_SOLVE_SIDE`).
    """
    config = trimap_config_from_options(trimap, trimap_threshold, trimap_dilation, trimap_erosion)
    estimate = _check_foreground_flag(foreground_estimation)
    check_rgb(image)
    mask = np.asarray(mask)
    levels = mask_levels(mask, name="mask")  # validates dtype, shape and range
    if np.issubdtype(mask.dtype, np.floating):  # what post="none" gives: the mask itself
        plain = np.clip(mask.reshape(levels.shape), 0.0, 1.0).astype(np.float32)
    else:
        plain = levels / np.float32(255.0)
    height, width = image.shape[:2]
    if plain.shape != (height, width):
        raise ValueError(f"mask: its size {plain.shape[1]}x{plain.shape[0]} differs from the image's {width}x{height} (WxH)")
    if min(height, width) < MIN_SOLVE_SIDE:
        logger.warning("post trimap-cf: the %dx%d photo is thinner than the %d pixels matting needs in each "
                       "direction; its mask is kept as the alpha", width, height, MIN_SOLVE_SIDE)
        return plain, None
    trimap_array = make_trimap(plain, config, warn=False)
    if not (trimap_array == FOREGROUND).any():
        logger.warning("post trimap-cf: the %dx%d photo's mask holds no object (no level above %s survives the "
                       "erosion); the cutout is empty, as without --post", width, height, config.fg_threshold)
        return plain, None
    if not (trimap_array == BACKGROUND).any():
        logger.warning("post trimap-cf: the object fills the %dx%d photo (no background is left in the trimap); "
                       "its mask is kept as the alpha", width, height)
        return plain, None
    alpha = estimate_alpha(image, trimap_array, method=method)
    return alpha, estimate_foreground(image, alpha) if estimate else None


def edge_band(mask: np.ndarray, band: int) -> np.ndarray:
    """Boolean ``HxW``: pixels within ``band`` pixels of the mask's 0.5 edge, or not confident
    (``0.05 < mask < 0.95``). Outside it the coarse mask is kept."""
    binary = (np.asarray(mask) > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    near_edge = cv2.dilate(binary, kernel) != cv2.erode(binary, kernel)
    return near_edge | ((mask > 0.05) & (mask < 0.95))


def refine_mask(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    refiner_model: Any = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
    refine_band: float | None = DEFAULT_REFINE_BAND,
) -> np.ndarray:
    """The refiner's mask (HxW float32) for a photo and its coarse mask.

    Args:
        refine_band: keep the refiner's output only within this fraction of the photo's long side
            from the coarse mask's edge (and where the mask is unsure); elsewhere the confident
            coarse mask stays. ``None``: take the refiner's output everywhere.
    """
    # deferred: TensorFlow only for the matting-net post-processor
    from RMBG.models.matting_net.matting_net_segmenter import predict_full

    model = resolve_model(refiner_model, "refiner")
    if getattr(model, "guide", None) != "mask":
        raise ValueError(f"refiner_model: expected a refiner (guide='mask'), got a model with guide={getattr(model, 'guide', None)!r}")
    mask = np.asarray(mask, np.float32)
    refined = predict_full(model, image, mask, max_side=max_side)
    if refine_band is None:
        return refined
    if not 0 < float(refine_band) <= 1:
        raise ValueError(f"refine_band: expected a fraction of the long side in (0, 1] or None, got {refine_band!r}")
    band = max(1, int(round(float(refine_band) * max(mask.shape))))
    return np.where(edge_band(mask, band), refined, mask).astype(np.float32)


def net_alpha(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    trimap: str | TrimapConfig = DEFAULT_TRIMAP_PRESET,
    trimap_threshold: float | None = None,
    trimap_dilation: int | None = None,
    trimap_erosion: int | None = None,
    matting_model: Any = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha, trimap)``: the matting network's alpha from a trimap made of ``mask``."""
    # deferred: TensorFlow only for the matting-net post-processor
    from RMBG.models.matting_net.matting_net_segmenter import predict_full

    model = resolve_model(matting_model, "matting_net")
    if getattr(model, "guide", None) != "trimap":
        raise ValueError(f"matting_model: expected a matting net (guide='trimap'), got guide={getattr(model, 'guide', None)!r}")
    trimap_array = make_trimap(mask, trimap_config_from_options(trimap, trimap_threshold, trimap_dilation, trimap_erosion))
    return predict_full(model, image, trimap_array, max_side=max_side), trimap_array


def matting_net(image: np.ndarray, mask: np.ndarray, *, foreground_estimation: bool = True, **options: Any):
    """``post="matting-net"``: trimap from the mask, alpha from the matting network."""
    estimate = _check_foreground_flag(foreground_estimation)
    alpha, _ = net_alpha(image, mask, **options)
    return alpha, estimate_foreground(image, alpha) if estimate else None


def refine(
    image: np.ndarray, mask: np.ndarray, *, foreground_estimation: bool = False, refiner_model: Any = None,
    max_side: int | None = DEFAULT_MAX_SIDE, refine_band: float | None = DEFAULT_REFINE_BAND,
):
    """``post="refine"``: the refined mask is the alpha (foreground colours only on request)."""
    estimate = _check_foreground_flag(foreground_estimation)
    alpha = refine_mask(image, mask, refiner_model=refiner_model, max_side=max_side, refine_band=refine_band)
    return alpha, estimate_foreground(image, alpha) if estimate else None


def refine_then_matting(
    image: np.ndarray, mask: np.ndarray, *, foreground_estimation: bool = True, refiner_model: Any = None,
    refine_band: float | None = DEFAULT_REFINE_BAND, **options: Any
):
    """``post="refine+matting"``: refiner, then trimap from the refined mask and the matting network."""
    estimate = _check_foreground_flag(foreground_estimation)
    refined = refine_mask(image, mask, refiner_model=refiner_model, max_side=options.get("max_side", DEFAULT_MAX_SIDE),
                          refine_band=refine_band)
    alpha, _ = net_alpha(image, refined, **options)
    return alpha, estimate_foreground(image, alpha) if estimate else None

