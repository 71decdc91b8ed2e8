"""Datasets for training: the index CSV (:mod:`RMBG.data.index`), the tf.data pipeline over it,
augmentations, synthetic data.

Names are loaded on first use, so ``from RMBG.data import AugmentConfig``, the index module or the
synthetic generator do not import TensorFlow; the pipeline does.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AugmentConfig": "RMBG.data.augment",
    "augment_pair": "RMBG.data.augment",
    "COLUMNS": "RMBG.data.index",
    "DatasetIndex": "RMBG.data.index",
    "pair_by_stem": "RMBG.data.index",
    "read_index": "RMBG.data.index",
    "write_index": "RMBG.data.index",
    "evaluation_dataset": "RMBG.data.pipeline",
    "load_dataset": "RMBG.data.pipeline",
    "make_dataset": "RMBG.data.pipeline",
    "training_dataset": "RMBG.data.pipeline",
    "synthetic_arrays": "RMBG.data.synthetic",
    "synthetic_sample": "RMBG.data.synthetic",
    "write_synthetic_dataset": "RMBG.data.synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'RMBG.data' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
