"""U^2-Net presets: the architecture sizes of the official models and their input conventions."""

from __future__ import annotations

from RMBG.preprocessing import IMAGENET_MEAN, IMAGENET_STD

#: The official input convention (u2net_test.py): RGB, resize to 320x320, divide by the image's
#: own maximum, ImageNet mean/std. Outputs are min-max normalised per image.
OFFICIAL_CONVERTER = {
    "image_size": (320, 320),
    "scaling": "image_max",
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "interpolation": "bilinear",
}

U2NET_PRESETS = {
    "u2netp": {
        "description": "U^2-Net small (1.13 M parameters), official pretrained weights (DUTS-TR).",
        "backbone": {
            "encoder_mid_channels": (16, 16, 16, 16, 16, 16),
            "encoder_out_channels": (64, 64, 64, 64, 64, 64),
            "decoder_mid_channels": (16, 16, 16, 16, 16),
            "decoder_out_channels": (64, 64, 64, 64, 64),
        },
        "converter": OFFICIAL_CONVERTER,
        "output_normalization": "minmax",
        "weights": "u2netp",
        "params": 1_131_181,
    },
    "u2net": {
        "description": "U^2-Net full (44.0 M parameters), official pretrained weights (DUTS-TR).",
        "backbone": {
            "encoder_mid_channels": (32, 32, 64, 128, 256, 256),
            "encoder_out_channels": (64, 128, 256, 512, 512, 512),
            "decoder_mid_channels": (16, 32, 64, 128, 256),
            "decoder_out_channels": (64, 64, 128, 256, 512),
        },
        "converter": OFFICIAL_CONVERTER,
        "output_normalization": "minmax",
        "weights": "u2net",
        "params": 44_009_869,
    },
}
