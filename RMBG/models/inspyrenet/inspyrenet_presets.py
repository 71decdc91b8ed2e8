"""InSPyReNet presets: the two official Swin-B checkpoints of ``transparent-background`` (data only).

Facts carried over from ``transparent_background/config.yaml`` of ``transparent-background==1.3.4``
(MIT): the release URLs, md5 checksums and base sizes of ``ckpt_base.pth`` (1024 px) and
``ckpt_fast.pth`` (384 px). Both are ``InSPyReNet_SwinB(depth=64)``: 90,721,443 parameters. The
reference normalises RGB/255 with ImageNet mean/std and min-max normalises the sigmoid output.
"""

from __future__ import annotations

from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD, Preset
from RMBG.weights.sources import WeightFile

RELEASE = "https://github.com/plemeri/transparent-background/releases/download/1.2.12"
LICENSE = "MIT (transparent-background / InSPyReNet release weights)"

CKPT_BASE = WeightFile(
    filename="ckpt_base.pth",
    md5="d692e3dd5fa1b9658949d452bebf1cda",
    urls=(f"{RELEASE}/ckpt_base.pth",),
    license=LICENSE,
    description="InSPyReNet Swin-B, transparent-background 'base' mode (trained at 1024 px).",
)

CKPT_FAST = WeightFile(
    filename="ckpt_fast.pth",
    md5="9efdbfbcc49b79ef0f7891c83d2fd52f",
    urls=(f"{RELEASE}/ckpt_fast.pth",),
    license=LICENSE,
    description="InSPyReNet Swin-B, transparent-background 'fast' mode (trained at 384 px).",
)

_BUILDER = "RMBG.models.inspyrenet.inspyrenet_segmenter:build_inspyrenet"
_IMPORTER = "RMBG.weights.inspyrenet_import:load_inspyrenet_weights"
#: Trainable parameters of InSPyReNet_SwinB(depth=64), counted on the reference.
PARAMS = 90_721_443


def _config(size: int) -> dict:
    return {
        "swin": "swin_b",
        "depth": 64,
        "base_size": (size, size),
        "image_size": (size, size),
        "scaling": "unit",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "interpolation": "bilinear",
        "output_normalization": "minmax",
    }


INSPYRENET_PRESETS = {
    "inspyrenet_swinb": Preset(
        name="inspyrenet_swinb", family="inspyrenet", task="segmentation",
        description="InSPyReNet Swin-B (90.7 M parameters) at 1024 px, official transparent-background 'base' weights.",
        builder=_BUILDER, importer=_IMPORTER, weights=CKPT_BASE, params=PARAMS, license=LICENSE,
        config=_config(1024),
    ),
    "inspyrenet_swinb_fast": Preset(
        name="inspyrenet_swinb_fast", family="inspyrenet", task="segmentation",
        description="InSPyReNet Swin-B (90.7 M parameters) at 384 px, official transparent-background 'fast' weights.",
        builder=_BUILDER, importer=_IMPORTER, weights=CKPT_FAST, params=PARAMS, license=LICENSE,
        config=_config(384),
    ),
}
