"""Training: config, losses, metrics, callbacks and the resumable ``train(config)`` loop.

``from RMBG.training import TrainConfig, train``. Names load on first use, so reading or
printing a config does not import TensorFlow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "RMBG.training.config",
    "DeepSupervisionBCE": "RMBG.training.losses",
    "HybridLoss": "RMBG.training.losses",
    "get_loss": "RMBG.training.losses",
    "MaskMAE": "RMBG.training.metrics",
    "FBeta": "RMBG.training.metrics",
    "MaskIoU": "RMBG.training.metrics",
    "default_metrics": "RMBG.training.metrics",
    "AtomicCheckpoint": "RMBG.training.callbacks",
    "ResumableEarlyStopping": "RMBG.training.callbacks",
    "ResumableReduceLROnPlateau": "RMBG.training.callbacks",
    "ScalarTensorBoard": "RMBG.training.callbacks",
    "SyncBatchNormStatistics": "RMBG.training.callbacks",
    "TrainResult": "RMBG.training.trainer",
    "train": "RMBG.training.trainer",
    "evaluate_masks": "RMBG.training.trainer",
    "build_model": "RMBG.training.trainer",
    "compile_model": "RMBG.training.trainer",
    "dtype_policy": "RMBG.training.trainer",
    "freeze_encoder": "RMBG.training.trainer",
    "folded_batchnorm_layers": "RMBG.training.trainer",
    "recalibrate_folded_batchnorm": "RMBG.training.trainer",
    "read_log": "RMBG.training.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'RMBG.training' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
