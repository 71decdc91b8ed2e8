"""Training: config, tasks (segmentation, matting, refinement), losses, metrics, callbacks and
the one resumable ``train(config)`` loop.

``from RMBG.training import TrainConfig, train``. Names load on first use, so reading or
printing a config does not import TensorFlow.
"""

from __future__ import annotations

from RMBG.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "RMBG.training.config",
    "DeepSupervisionBCE": "RMBG.training.losses",
    "HybridLoss": "RMBG.training.losses",
    "get_loss": "RMBG.training.losses",
    "MaskMAE": "RMBG.training.metrics",
    "FBeta": "RMBG.training.metrics",
    "MaskIoU": "RMBG.training.metrics",
    "UnknownRegionL1": "RMBG.training.metrics",
    "Task": "RMBG.training.tasks",
    "get_task": "RMBG.training.tasks",
    "default_metrics": "RMBG.training.metrics",
    "AtomicCheckpoint": "RMBG.training.callbacks",
    "ResumableEarlyStopping": "RMBG.training.callbacks",
    "ResumableReduceLROnPlateau": "RMBG.training.callbacks",
    "ScalarTensorBoard": "RMBG.training.callbacks",
    "SyncBatchNormStatistics": "RMBG.training.callbacks",
    "TrainResult": "RMBG.training.trainer",
    "train": "RMBG.training.trainer",
    "evaluate_masks": "RMBG.training.trainer",
    "build_model": "RMBG.training.build",
    "compile_model": "RMBG.training.build",
    "dtype_policy": "RMBG.training.build",
    "freeze_encoder": "RMBG.training.finetune",
    "folded_batchnorm_layers": "RMBG.training.finetune",
    "recalibrate_folded_batchnorm": "RMBG.training.finetune",
    "read_log": "RMBG.training.run_dir",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
