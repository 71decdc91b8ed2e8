"""Swin Transformer (Liu et al., ICCV 2021) as a reusable Keras backbone: hierarchical features
from shifted-window self-attention.

TensorFlow-free on import: the configurations are data (:mod:`swin_presets`); the Keras classes
are imported lazily (``from RMBG.models.swin import SwinTransformer`` imports Keras then).
"""

from __future__ import annotations

from RMBG.lazy import lazy_exports

from RMBG.models.swin.swin_presets import SWIN_CONFIGS

_LAZY = {
    "SwinTransformer": "RMBG.models.swin.swin_transformer",
    "WindowAttention": "RMBG.models.swin.window_attention",
    "PatchMerging": "RMBG.models.swin.patch_merging",
    "PadToMultiple": "RMBG.models.swin.pad_to_multiple",
    "StochasticDepth": "RMBG.models.swin.stochastic_depth",
    "GELU": "RMBG.models.swin.gelu",
    "swin_block": "RMBG.models.swin.swin_block",
}

__getattr__, __dir__, _lazy_names = lazy_exports(__name__, _LAZY)
__all__ = sorted(["SWIN_CONFIGS", *_lazy_names])
