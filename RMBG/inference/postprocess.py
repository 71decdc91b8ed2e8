"""Mask post-processing applied at the photo's full size, before composing the output.

Each post-processor takes ``(image HxWx3 uint8, mask HxW float32)`` plus options and returns
``(alpha HxW float32 in [0, 1], foreground HxWx3 or None)``. The table below names them as
``"module:function"``: choosing one (the CLI's ``--post`` choices, the server's list) imports
nothing, and a post-processor's code (pymatting, the matting networks) is imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Callable, Iterator

import numpy as np

Postprocessor = Callable[..., tuple[np.ndarray, "np.ndarray | None"]]

#: name → ``"module:function"`` (or a callable added by :func:`register_postprocessor`) (see :mod:`RMBG.matting.postprocessors` for each one's options).
POSTPROCESSOR_TARGETS = {
    "none": "RMBG.inference.postprocess:keep_mask",
    "trimap-cf": "RMBG.matting.postprocessors:trimap_cf",
    "matting-net": "RMBG.matting.postprocessors:matting_net",
    "refine": "RMBG.matting.postprocessors:refine",
    "refine+matting": "RMBG.matting.postprocessors:refine_then_matting",
    "fba": "RMBG.matting.fba:fba_postprocess",
}


def keep_mask(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, None]:
    """``post="none"``: the mask is the alpha."""
    return mask, None


class _Table(Mapping):
    """The post-processors by name; a function is imported when it is looked up."""

    def __getitem__(self, name: str) -> Postprocessor:
        target = POSTPROCESSOR_TARGETS[name]
        if callable(target):
            return target
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)

    def __iter__(self) -> Iterator[str]:
        return iter(POSTPROCESSOR_TARGETS)

    def __len__(self) -> int:
        return len(POSTPROCESSOR_TARGETS)

    def __contains__(self, name: object) -> bool:
        return name in POSTPROCESSOR_TARGETS


POSTPROCESSORS: Mapping[str, Postprocessor] = _Table()


def register_postprocessor(name: str, function: Postprocessor | str) -> None:
    """Add a post-processor at run time (a callable, or ``"module:function"``), e.g. a user's own."""
    POSTPROCESSOR_TARGETS[name] = function


def postprocess(name: str, image: np.ndarray, mask: np.ndarray, **options) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply post-processor ``name``; an unknown name raises listing the valid ones."""
    if name not in POSTPROCESSORS:
        raise ValueError(f"post: expected one of {sorted(POSTPROCESSORS)}, got {name!r}")
    return POSTPROCESSORS[name](image, mask, **options)
