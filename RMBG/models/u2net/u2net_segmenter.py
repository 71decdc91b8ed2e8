"""Build U^2-Net segmenters (registered under their preset names in ``u2net_presets``)."""

from __future__ import annotations

from typing import Sequence

from RMBG.models.segmenter import Segmenter
from RMBG.models.u2net.u2net_backbone import U2NetBackbone
from RMBG.preprocessing import ImageConverter


def build_u2net(
    encoder_mid_channels: Sequence[int],
    encoder_out_channels: Sequence[int],
    decoder_mid_channels: Sequence[int],
    decoder_out_channels: Sequence[int],
    image_size: Sequence[int] | None = (320, 320),
    scaling: str = "image_max",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    interpolation: str = "bilinear",
    output_normalization: str | None = None,
    name: str = "u2net",
) -> Segmenter:
    """A U^2-Net :class:`Segmenter`; see :class:`U2NetBackbone` and :class:`ImageConverter` for the arguments."""
    backbone = U2NetBackbone(
        encoder_mid_channels, encoder_out_channels, decoder_mid_channels, decoder_out_channels,
        name=f"{name}_backbone",
    )
    converter = ImageConverter(image_size, scaling, mean, std, interpolation, name=f"{name}_converter")
    return Segmenter(backbone, converter, output_normalization=output_normalization, name=name)
