"""ResNet50-U-Net: the RMBG-U2NET design (ImageNet ResNet50 encoder, dilated bridge, residual decoder)."""

from RMBG.models.resnet50_unet.resnet50_unet_backbone import ResNet50UNetBackbone
from RMBG.models.resnet50_unet.resnet50_unet_presets import RESNET50_UNET_PRESETS
from RMBG.models.resnet50_unet.resnet50_unet_segmenter import build_resnet50_unet
from RMBG.registry import ModelSpec, register_model

for _name, _preset in RESNET50_UNET_PRESETS.items():
    register_model(
        ModelSpec(
            name=_name,
            family="resnet50_unet",
            description=_preset["description"],
            builder=build_resnet50_unet,
            config=_preset["config"],
            params=_preset["params"],
            input_size=_preset["config"]["image_size"],
        )
    )

__all__ = ["ResNet50UNetBackbone", "RESNET50_UNET_PRESETS", "build_resnet50_unet"]
