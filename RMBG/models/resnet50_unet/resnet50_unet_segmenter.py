"""Build ResNet50-U-Net segmenters."""

from __future__ import annotations

from typing import Sequence

from RMBG.models.resnet50_unet.resnet50_unet_backbone import ResNet50UNetBackbone
from RMBG.models.segmenter import Segmenter
from RMBG.preprocessing import ImageConverter


def build_resnet50_unet(
    encoder_weights: str | None = None,
    bridge_filters: int = 1024,
    bridge_rates: Sequence[int] = (3, 6, 9),
    decoder_filters: Sequence[int] = (512, 256, 128, 64),
    image_size: Sequence[int] | None = (320, 320),
    output_normalization: str | None = None,
    name: str = "resnet50_unet",
) -> Segmenter:
    """A ResNet50-U-Net :class:`Segmenter` with Keras ResNet50's own ("caffe") input convention."""
    backbone = ResNet50UNetBackbone(
        encoder_weights, bridge_filters, bridge_rates, decoder_filters, name=f"{name}_backbone"
    )
    converter = ImageConverter(image_size, "caffe", None, None, name=f"{name}_converter")
    return Segmenter(backbone, converter, output_normalization=output_normalization, name=name)
