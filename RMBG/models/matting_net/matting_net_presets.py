"""Matting-network presets: architecture and the packaged weights (data only)."""

from __future__ import annotations

from RMBG.registry.preset import Preset
from RMBG.weights.sources import WeightFile

#: Folder of the packaged weights, relative to the RMBG package (committed when under 3 MB, with
#: their training config and metrics).
WEIGHTS_DIR = "models/matting_net/weights"

MATTING_NET_PRESETS = {
    "matting_net": Preset(
        name="matting_net", family="matting_net", task="matting",
        description="Small trimap-based matting network (image + trimap -> alpha), trained on synthetic composites.",
        builder="RMBG.models.matting_net.matting_net_segmenter:build_matting_net",
        importer="RMBG.models.matting_net.matting_net_segmenter:load_packaged_weights",
        weights_dirs=(WEIGHTS_DIR,),
        config={
            "encoder_filters": (16, 32, 48, 64),
            "decoder_filters": (48, 32, 24, 16),
            "context_rates": (2, 4),
            "head_filters": 16,
            "trimap_context": 9,
        },
        # Trained by `python -m RMBG.matting.train_nets matting --out DIR --epochs 8 --samples 1024
        # --val-samples 96 --image-size 96 --batch-size 16 --package` (8.6 min on 2 shared CPU cores);
        # its config and metrics are in weights/matting_net.config.yaml and .metrics.json.
        weights=WeightFile(
            filename="matting_net.npz",
            md5="69b6d4be44e7acb7e66c228bf4bdd9e7",
            sha256="13c90af917d5845bc1c34de37d7ee9cca07a55eb0c7d2db9da9abc9094604389",
            size=1_738_514,
            license="Apache-2.0 (trained in this project on synthetic composites and Weizmann horse backgrounds)",
            description="matting_net trained 8 epochs at 96 px; val unknown-region L1 0.090 (trimap-only baseline 0.445).",
        ),
        params=426_449,
        license="Apache-2.0 (trained in this project on synthetic composites and Weizmann horse backgrounds)",
    ),
}
