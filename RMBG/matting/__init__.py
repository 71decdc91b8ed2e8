"""Classical matting: trimaps from masks, alpha solvers, foreground estimation and matting metrics.

Nothing here imports TensorFlow; pymatting (numba) is imported by the solvers on first use.
See ``docs/matting.md``.
"""

from __future__ import annotations

from RMBG.matting.closed_form import DEFAULT_MAX_MEGAPIXELS, METHODS, estimate_alpha
from RMBG.matting.foreground import cutout, estimate_foreground
from RMBG.matting.matting_metrics import connectivity_error, gradient_error, matting_metrics, mse, sad
from RMBG.matting.refine import Matte, matte_from_mask
from RMBG.matting.trimap import (
    BACKGROUND,
    FOREGROUND,
    TRIMAP_PRESETS,
    UNKNOWN,
    TrimapConfig,
    get_trimap_config,
    make_trimap,
    split_trimap,
)

__all__ = [
    "BACKGROUND",
    "DEFAULT_MAX_MEGAPIXELS",
    "FOREGROUND",
    "METHODS",
    "Matte",
    "TRIMAP_PRESETS",
    "TrimapConfig",
    "UNKNOWN",
    "connectivity_error",
    "cutout",
    "estimate_alpha",
    "estimate_foreground",
    "get_trimap_config",
    "gradient_error",
    "make_trimap",
    "matte_from_mask",
    "matting_metrics",
    "mse",
    "sad",
    "split_trimap",
]
