"""Build U^2-Net segmenters and load their official weights (registered under their preset names)."""

from __future__ import annotations

from typing import Sequence

import keras

from RMBG.models.segmenter import Segmenter
from RMBG.models.u2net.u2net_backbone import U2NetBackbone
from RMBG.paths import assets_dir, cache_dir
from RMBG.preprocessing import ImageConverter
from RMBG.weights.sources import WeightFile, fetch
from RMBG.weights.strict import load_variables, save_variables


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


def load_u2net_weights(model: keras.Model, weights: WeightFile) -> None:
    """Place the official weights into ``model.backbone``.

    The ONNX file is fetched and verified once, imported strictly, and the result cached as a
    strict ``.npz`` in ``$RMBG_HOME/converted`` so later loads skip the conversion.
    """
    from RMBG.weights.u2net_import import import_u2net_onnx

    converted = cache_dir() / "converted" / f"{weights.filename}.{weights.md5[:12]}.npz"
    if converted.exists():
        load_variables(model.backbone, converted)
        return
    onnx_path = fetch(weights, local_dirs=[assets_dir() / "weights"])
    import_u2net_onnx(model.backbone, onnx_path)
    save_variables(model.backbone, converted)
