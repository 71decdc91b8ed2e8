"""Build refiners: image + coarse mask -> refined mask (a :class:`GuidedSegmenter` with guide="mask")."""

from __future__ import annotations

from typing import Sequence

from RMBG.models.matting_net.matting_net_layers import GuideEncoding
from RMBG.models.matting_net.matting_net_segmenter import GuidedSegmenter
from RMBG.models.refiner.refiner_backbone import RefinerBackbone
from RMBG.preprocessing import IMAGENET_MEAN, IMAGENET_STD, ImageConverter


def build_refiner(
    scales: Sequence[int] = (4, 1),
    encoder_filters: Sequence[int] = (16, 32, 64),
    decoder_filters: Sequence[int] = (32, 24, 16),
    context_rates: Sequence[int] = (2, 4),
    head_filters: int = 16,
    name: str = "refiner",
) -> GuidedSegmenter:
    """A refiner :class:`GuidedSegmenter` (guide = coarse mask); see :class:`RefinerBackbone`.

    In training it returns ``(N, H, W, len(scales))`` (final map first, then the cascade's earlier
    steps); in inference the final refined mask ``(N, H, W, 1)``.
    """
    encoding = GuideEncoding("mask", 0, name=f"{name}_mask_encoding")
    backbone = RefinerBackbone(
        encoding.channels, scales, encoder_filters, decoder_filters, context_rates, head_filters, name=f"{name}_backbone"
    )
    converter = ImageConverter(None, "unit", IMAGENET_MEAN, IMAGENET_STD, name=f"{name}_converter")
    return GuidedSegmenter(backbone, converter, "mask", encoding, clamp_known=False, name=name)
