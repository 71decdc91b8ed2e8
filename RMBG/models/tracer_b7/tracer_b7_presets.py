"""TRACER-B7 presets: CarveKit's architecture, input convention and official checkpoint (data only).

Source facts (CarveKit 4.1.2, ``carvekit/utils/download_models.py``): Hugging Face repository
``Carve/tracer_b7``, revision ``d8a8fd9e7b3fa0d2f1506fe7242966b34381e9c5``, file ``tracer_b7.pth``,
sha512 below; CarveKit's own CDN serves the same path first. The file could not be downloaded
where this was written, so its sha256 and size are not pinned here; the sha512 is verified on every
fetch, and the first verified copy's sha256 and size are recorded beside it in the cache
(``tracer_b7.pth.checksums.json``, :func:`RMBG.weights.sources.fetch`) and logged, to be pinned here. Input convention (``carvekit/ml/wrap/tracer_b7.py``): RGB / 255, resize to 640x640,
ImageNet mean/std; output: the sigmoid map, resized back to the photo.
"""

from __future__ import annotations

from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD, Preset
from RMBG.weights.sources import WeightFile

TRACER_REPOSITORY = "Carve/tracer_b7"
TRACER_REVISION = "d8a8fd9e7b3fa0d2f1506fe7242966b34381e9c5"
_PATH = f"{TRACER_REPOSITORY}/resolve/{TRACER_REVISION}/tracer_b7.pth"

TRACER_LICENSE = (
    "Apache-2.0 (checkpoint published by CarveKit, whose package is Apache-2.0; TRACER code by Min Seok Lee "
    "and Wooseok Shin, Apache-2.0). CarveKit reports 90% mean F1 on DUTS-TE; its training data is not stated"
)

TRACER_B7_PTH = WeightFile(
    filename="tracer_b7.pth",
    sha512=(
        "c439c5c12d4d43d5f9be9ec61e68b2e54658a541bccac2577ef5a54fb252b6e8415d41f7e"
        "c2487033d0c02b4dd08367958e4e62091318111c519f93e2632be7b"
    ),
    urls=(f"https://huggingface.co/{_PATH}", f"https://cdn.carve.photos/{_PATH}"),
    license=TRACER_LICENSE,
    description="CarveKit's TRACER-B7 (EfficientNet-B7 encoder), as CarveKit 4.1.2 pins it on Hugging Face.",
)

TRACER_B7_PRESETS = {
    "tracer_b7": Preset(
        name="tracer_b7", family="tracer_b7", task="segmentation",
        description="TRACER-B7 (66.3 M parameters, 640 px): CarveKit's default object segmentation, official weights.",
        builder="RMBG.models.tracer_b7.tracer_b7_segmenter:build_tracer_b7",
        importer="RMBG.weights.tracer_import:load_tracer_weights",
        weights=TRACER_B7_PTH,
        config={
            "rfb_channels": (32, 64, 128),
            "image_size": (640, 640),
            "scaling": "unit",
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "interpolation": "area",
        },
        params=66_250_292,
        license=TRACER_LICENSE,
    ),
}
