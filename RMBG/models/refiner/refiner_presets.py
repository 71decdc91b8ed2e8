"""Refiner presets: architecture and (when trained) the packaged weights."""

from __future__ import annotations

from pathlib import Path

from RMBG.weights.sources import WeightFile

#: Folder of the packaged weights (committed when under 3 MB, with their training config and metrics).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

REFINER_PRESETS = {
    "refiner": {
        "description": "Small CascadePSP-style mask refiner (image + coarse mask -> refined mask), trained on perturbed horse masks.",
        "config": {
            "scales": (4, 1),
            "encoder_filters": (16, 32, 64),
            "decoder_filters": (32, 24, 16),
            "context_rates": (2, 4),
            "head_filters": 16,
        },
        # Filled in by the training run (python -m RMBG.matting.train_nets refiner): None = untrained.
        "weights": None,
    },
}
