"""Build InSPyReNet segmenters (the registry builder of ``inspyrenet_swinb`` and ``inspyrenet_swinb_fast``)."""

from __future__ import annotations

from typing import Sequence

from RMBG.models.inspyrenet.inspyrenet_network import InSPyReNet
from RMBG.models.segmenter import Segmenter
from RMBG.models.swin.swin_presets import SWIN_CONFIGS
from RMBG.preprocessing import IMAGENET_MEAN, IMAGENET_STD, ImageConverter


def build_inspyrenet(
    swin: str | dict = "swin_b",
    depth: int = 64,
    base_size: Sequence[int] | None = None,
    drop_path_rate: float = 0.2,
    image_size: Sequence[int] | None = (384, 384),
    scaling: str = "unit",
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    interpolation: str = "bilinear",
    output_normalization: str | None = "minmax",
    name: str = "inspyrenet",
) -> Segmenter:
    """An InSPyReNet :class:`Segmenter`: photo in [0, 255] → ``(N, H, W, 1)`` mask in [0, 1].

    Args:
        swin: a name of :data:`~RMBG.models.swin.SWIN_CONFIGS` (``"swin_b"`` for the official
            checkpoints) or a dict of :class:`~RMBG.models.swin.SwinTransformer` arguments.
        depth: decoder channels (64 in the official models).
        base_size: the training size that fixes the SICA context size; ``None`` takes
            ``image_size`` (the official checkpoints: 1024 for ``ckpt_base``, 384 for ``ckpt_fast``).
        drop_path_rate: stochastic depth of the last Swin block (training only; the reference's 0.2).
        image_size: the converter's ``(height, width)``, or ``None`` to run at the photo's size.
        scaling: the converter's pixel scaling (``"unit"``: divide by 255, as the reference).
        mean: per-channel mean after scaling to [0, 1] (ImageNet's, as the reference).
        std: per-channel std (ImageNet's).
        interpolation: the converter's resize method.
        output_normalization: ``"minmax"`` (the reference's per-image min-max of the sigmoid) or ``None``.
        name: the model name.

    Raises:
        ValueError: an unknown Swin name, or neither ``base_size`` nor ``image_size`` given.
    """
    if isinstance(swin, str):
        if swin not in SWIN_CONFIGS:
            raise ValueError(f"swin: unknown Swin configuration {swin!r}; valid ones are {sorted(SWIN_CONFIGS)} or a dict")
        swin = dict(SWIN_CONFIGS[swin])
    swin = {**swin, "drop_path_rate": drop_path_rate}
    if base_size is None:
        if image_size is None:
            raise ValueError("base_size: give the training size when image_size is None (e.g. base_size=(384, 384))")
        base_size = image_size
    network = InSPyReNet(swin, depth=depth, base_size=base_size, name=f"{name}_network")
    converter = ImageConverter(image_size, scaling, mean, std, interpolation, name=f"{name}_converter")
    return Segmenter(network, converter, output_normalization=output_normalization, name=name)
