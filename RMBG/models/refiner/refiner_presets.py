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
        # Trained by `python -m RMBG.matting.train_nets refiner --out DIR --epochs 8 --samples 1500
        # --val-samples 96 --image-size 96 --batch-size 16 --package` (9.8 min on 2 shared CPU cores);
        # its config and metrics are in weights/refiner.config.yaml and .metrics.json.
        "weights": WeightFile(
            filename="refiner.npz",
            md5="953a9e177ee8015d6489b16764549c4b",
            sha256="b8a1c6714529bd514d88163af43a36c1ce473b340e07d754f8652677f6bf3cc0",
            size=1_293_800,
            license="Trained in this project on the Weizmann Horse database (academic research use)",
            description="refiner trained 8 epochs at 96 px on perturbed horse masks; held-out IoU 0.593 -> 0.841.",
        ),
        "params": 316_913,
    },
}
