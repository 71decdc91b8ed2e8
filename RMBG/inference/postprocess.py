"""Mask post-processing applied at the photo's full size, before composing the output.

Each post-processor takes ``(image HxWx3 uint8, mask HxW float32)`` plus options and returns
``(alpha HxW float32 in [0, 1], foreground HxWx3 or None)``. ``"none"`` keeps the mask as the
alpha; matting and refinement register further names from :mod:`RMBG.matting`.
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

Postprocessor = Callable[..., tuple[np.ndarray, "np.ndarray | None"]]

POSTPROCESSORS: dict[str, Postprocessor] = {}

#: Modules that register further post-processors when imported.
_POST_MODULES = ("RMBG.matting.postprocessors",)


def register_postprocessor(name: str, function: Postprocessor) -> None:
    """Make ``function`` available as ``post=name``."""
    POSTPROCESSORS[name] = function


def _none(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, None]:
    return mask, None


register_postprocessor("none", _none)

for _module in _POST_MODULES:
    importlib.import_module(_module)


def postprocess(name: str, image: np.ndarray, mask: np.ndarray, **options) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply post-processor ``name``; an unknown name raises listing the valid ones."""
    if name not in POSTPROCESSORS:
        raise ValueError(f"post: expected one of {sorted(POSTPROCESSORS)}, got {name!r}")
    return POSTPROCESSORS[name](image, mask, **options)
