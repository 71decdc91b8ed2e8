"""Matting-network presets: architecture and (when trained) the packaged weights."""

from __future__ import annotations

from pathlib import Path

from RMBG.weights.sources import WeightFile

#: Folder of the packaged weights (committed when under 3 MB, with their training config and metrics).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

MATTING_NET_PRESETS = {
    "matting_net": {
        "description": "Small trimap-based matting network (image + trimap -> alpha), trained on synthetic composites.",
        "config": {
            "encoder_filters": (16, 32, 48, 64),
            "decoder_filters": (48, 32, 24, 16),
            "context_rates": (2, 4),
            "head_filters": 16,
            "trimap_context": 9,
        },
        # Filled in by the training run (python -m RMBG.matting.train_nets matting): None = untrained.
        "weights": None,
    },
}
