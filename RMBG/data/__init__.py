"""Datasets for training: the index CSV (:mod:`RMBG.data.index`), the tf.data pipeline over it,
augmentations, synthetic data.

Names are loaded on first use, so ``from RMBG.data import AugmentConfig``, the index module or the
synthetic generator do not import TensorFlow; the pipeline does.
"""

from __future__ import annotations

from RMBG.lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
