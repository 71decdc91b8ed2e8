"""ResNet50-U-Net presets (no pretrained weights of ours: train with ``python -m RMBG train``)."""

from __future__ import annotations

from RMBG.registry.preset import Preset

RESNET50_UNET_PRESETS = {
    "resnet50_unet": Preset(
        name="resnet50_unet", family="resnet50_unet", task="segmentation",
        description="ResNet50 encoder + dilated bridge + residual U-Net decoder (RMBG-U2NET design); train it yourself.",
        builder="RMBG.models.resnet50_unet.resnet50_unet_segmenter:build_resnet50_unet",
        config={
            "encoder_weights": None,
            "bridge_filters": 1024,
            "bridge_rates": (3, 6, 9),
            "decoder_filters": (512, 256, 128, 64),
            "image_size": (320, 320),
        },
        params=53_488_068,
        license="Apache-2.0 (architecture; no weights)",
    ),
}
