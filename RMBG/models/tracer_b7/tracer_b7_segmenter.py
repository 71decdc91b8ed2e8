"""Build TRACER-B7 segmenters with CarveKit's preprocessing (registered as ``tracer_b7``)."""

from __future__ import annotations

from collections.abc import Sequence

from RMBG.models.segmenter import Segmenter
from RMBG.models.tracer_b7.tracer_b7_backbone import SIZE_MULTIPLE, TracerB7Backbone
from RMBG.preprocessing import IMAGENET_MEAN, IMAGENET_STD, ImageConverter


def build_tracer_b7(
    rfb_channels: Sequence[int] = (32, 64, 128),
    padding_reference_size: int = 600,
    drop_connect_rate: float = 0.2,
    denoise: float = 0.93,
    confidence_ratio: float = 0.1,
    image_size: Sequence[int] | None = (640, 640),
    scaling: str = "unit",
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    interpolation: str = "area",
    output_normalization: str | None = None,
    name: str = "tracer_b7",
) -> Segmenter:
    """A TRACER-B7 :class:`Segmenter`: RGB ``[0, 255]`` in, the sigmoid of the final map out.

    The defaults are CarveKit's ``TracerUniversalB7``: resize to 640x640, divide by 255, ImageNet
    mean/std, no output normalisation (CarveKit scales the sigmoid by 255 and resizes it back,
    which the remover does in float). CarveKit resizes with torchvision's antialiased bilinear
    filter; the converter offers half-pixel bilinear (no antialias) and area, and ``"area"``
    (antialiased, the same on the remover's CPU path and in the graph) is the closer one for the
    downscaling photos need. At exactly 640x640 no resize happens and the input equals CarveKit's.
    See :class:`TracerB7Backbone` and :class:`~RMBG.preprocessing.ImageConverter` for the arguments.

    Raises:
        ValueError: ``image_size`` sides that are not multiples of 32.
    """
    if image_size is not None and any(int(s) % SIZE_MULTIPLE for s in image_size):
        raise ValueError(
            f"image_size: TRACER-B7 needs sides that are multiples of {SIZE_MULTIPLE}, got {tuple(image_size)}; "
            f"use e.g. {tuple(max(SIZE_MULTIPLE, round(int(s) / SIZE_MULTIPLE) * SIZE_MULTIPLE) for s in image_size)}"
        )
    backbone = TracerB7Backbone(
        rfb_channels, padding_reference_size, drop_connect_rate, denoise, confidence_ratio,
        name=f"{name}_backbone",
    )
    converter = ImageConverter(image_size, scaling, mean, std, interpolation, name=f"{name}_converter")
    return Segmenter(backbone, converter, output_normalization=output_normalization, name=name)
