"""FBA matting presets: the architecture CarveKit ships and its official checkpoint (data only).

Source facts (CarveKit 4.1.2, ``carvekit/utils/download_models.py``): Hugging Face repository
``Carve/fba``, revision ``a5d3457df0fb9c88ea19ed700d409756ca2069d1``, file ``fba_matting.pth``,
sha512 below. The file could not be downloaded where this was written, so its sha256 and size are
not pinned here; the sha512 is verified on every fetch, and the first verified copy's sha256 and
size are recorded beside it in the cache (``fba_matting.pth.checksums.json``) and logged.
"""

from __future__ import annotations

from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD, Preset
from RMBG.weights.sources import WeightFile

FBA_REPOSITORY = "Carve/fba"
FBA_REVISION = "a5d3457df0fb9c88ea19ed700d409756ca2069d1"

FBA_LICENSE = (
    "MIT (FBA_Matting by Marco Forte and François Pitié, network and weights; redistributed by CarveKit, "
    "Apache-2.0). Trained on Adobe Composition-1k, whose data licence is non-commercial research only: "
    "check it before commercial use"
)

FBA_MATTING_PTH = WeightFile(
    filename="fba_matting.pth",
    sha512=(
        "890906ec94c1bfd2ad08707a63e4ccb0955d7f5d25e32853950c24c78"
        "4cbad2e59be277999defc3754905d0f15aa75702cdead3cfe669ff72f08811c52971613"
    ),
    urls=(f"https://huggingface.co/{FBA_REPOSITORY}/resolve/{FBA_REVISION}/fba_matting.pth",),
    license=FBA_LICENSE,
    description="Official FBA matting (ResNet-50 GN+WS), as CarveKit 4.1.2 pins it on Hugging Face.",
)

FBA_MATTING_PRESETS = {
    "fba_matting": Preset(
        name="fba_matting", family="fba_matting", task="matting",
        description="FBA matting (34.7 M parameters): image + trimap -> alpha, foreground, background; CarveKit's official weights.",
        builder="RMBG.models.fba_matting.fba_matting_model:build_fba_matting",
        importer="RMBG.weights.fba_import:load_fba_weights",
        weights=FBA_MATTING_PTH,
        # Any size that is a multiple of 8 (RMBG.matting.fba pads to it and caps the long side, default 1024).
        config={"block_counts": (3, 4, 6, 3), "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
        params=34_693_031,
        license=FBA_LICENSE,
    ),
}
