"""FBA's decoder (the reference's ``fba_decoder(batch_norm=False)``), built into a functional graph.

A pyramid pooling module on the stride-8 features (adaptive average pools 1, 2, 3, 6, each a 1x1
WS conv 2048 -> 256 + GroupNorm + LeakyReLU, bilinearly resized back), then three
``(3x3 WS conv + GN + LeakyReLU)`` stages, each after a 2x bilinear upsampling and a skip
(``layer1``, then the stem), and a full-resolution head of plain convolutions
(72 -> 32 -> 16 -> 7, LeakyReLU between) that also sees the normalised image, the image and the
two-channel trimap. LeakyReLU has PyTorch's slope 0.01; upsampling is half-pixel bilinear
(``align_corners=False``). Layer names are the PyTorch module paths (``decoder.conv_up1.3``).
"""

from __future__ import annotations

import keras

from RMBG.models.fba_matting.fba_matting_backbone import group_norm
from RMBG.models.fba_matting.fba_matting_layers import AdaptiveAvgPool2D, WSConv2D
from RMBG.models.layers import ResizeLike

POOL_SCALES = (1, 2, 3, 6)
LEAKY_SLOPE = 0.01
#: Raw output channels: alpha 1, foreground 3, background 3.
OUTPUT_CHANNELS = 7


def _leaky():
    return keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE)


def _ws_gn_leaky(x, filters: int, name: str, kernel: int = 3):
    """WS conv (bias) ``{name}.{i}``, GroupNorm ``{name}.{i+1}``, LeakyReLU (PyTorch Sequential indices)."""
    prefix, _, index = name.rpartition(".")
    x = WSConv2D(filters, kernel, padding="same", use_bias=True, name=name)(x)
    x = group_norm(f"{prefix}.{int(index) + 1}")(x)
    return _leaky()(x)


def fba_decoder(stem, layer1, layer4, image_n, image, trimap):
    """The decoder's raw 7-channel output ``(N, H, W, 7)`` (before :class:`FBAFusion`).

    Args:
        stem, layer1, layer4: the encoder's feature maps (:class:`FBAMattingBackbone` outputs).
        image_n: the normalised image ``(N, H, W, 3)``; image: the image in [0, 1]; trimap: the
            two-channel trimap ``(N, H, W, 2)``.
    """
    branches = [layer4]
    for index, scale in enumerate(POOL_SCALES):
        x = AdaptiveAvgPool2D(scale, name=f"decoder.ppm.{index}.0")(layer4)
        x = _ws_gn_leaky(x, 256, f"decoder.ppm.{index}.1", kernel=1)
        branches.append(ResizeLike(name=f"decoder.ppm.{index}.resize")([x, layer4]))
    x = keras.layers.Concatenate(name="decoder.ppm_concat")(branches)
    x = _ws_gn_leaky(x, 256, "decoder.conv_up1.0")
    x = _ws_gn_leaky(x, 256, "decoder.conv_up1.3")
    x = ResizeLike(name="decoder.up1")([x, layer1])
    x = keras.layers.Concatenate(name="decoder.concat1")([x, layer1])
    x = _ws_gn_leaky(x, 256, "decoder.conv_up2.0")
    x = ResizeLike(name="decoder.up2")([x, stem])
    x = keras.layers.Concatenate(name="decoder.concat2")([x, stem])
    x = _ws_gn_leaky(x, 64, "decoder.conv_up3.0")
    x = ResizeLike(name="decoder.up3")([x, image])
    x = keras.layers.Concatenate(name="decoder.concat3")([x, image_n, image, trimap])
    x = keras.layers.Conv2D(32, 3, padding="same", name="decoder.conv_up4.0")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="decoder.conv_up4.2")(_leaky()(x))
    return keras.layers.Conv2D(OUTPUT_CHANNELS, 1, name="decoder.conv_up4.4", dtype="float32")(_leaky()(x))
