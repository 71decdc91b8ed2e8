"""U^2-Net presets: the official architecture sizes, input conventions and weights (data only)."""

from __future__ import annotations

from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD, Preset
from RMBG.weights.catalog import U2NET_ONNX, U2NETP_ONNX

#: The official input convention (u2net_test.py): RGB, resize to 320x320, divide by the image's
#: own maximum, ImageNet mean/std. Outputs are min-max normalised per image.
OFFICIAL_CONVERTER = {
    "image_size": (320, 320),
    "scaling": "image_max",
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "interpolation": "bilinear",
    "output_normalization": "minmax",
}

_BUILDER = "RMBG.models.u2net.u2net_segmenter:build_u2net"
_IMPORTER = "RMBG.weights.u2net_import:load_u2net_file"

U2NET_PRESETS = {
    "u2netp": Preset(
        name="u2netp", family="u2net", task="segmentation",
        description="U^2-Net small (1.13 M parameters), official pretrained weights (DUTS-TR).",
        builder=_BUILDER, importer=_IMPORTER, weights=U2NETP_ONNX, params=1_131_181, license=U2NETP_ONNX.license,
        config={
            "encoder_mid_channels": (16, 16, 16, 16, 16, 16),
            "encoder_out_channels": (64, 64, 64, 64, 64, 64),
            "decoder_mid_channels": (16, 16, 16, 16, 16),
            "decoder_out_channels": (64, 64, 64, 64, 64),
            **OFFICIAL_CONVERTER,
        },
    ),
    "u2net": Preset(
        name="u2net", family="u2net", task="segmentation",
        description="U^2-Net full (44.0 M parameters), official pretrained weights (DUTS-TR).",
        builder=_BUILDER, importer=_IMPORTER, weights=U2NET_ONNX, params=44_009_869, license=U2NET_ONNX.license,
        config={
            "encoder_mid_channels": (32, 32, 64, 128, 256, 256),
            "encoder_out_channels": (64, 128, 256, 512, 512, 512),
            "decoder_mid_channels": (16, 32, 64, 128, 256),
            "decoder_out_channels": (64, 64, 128, 256, 512),
            **OFFICIAL_CONVERTER,
        },
    ),
}
