"""The building blocks of U^2-Net: REBNCONV and the residual U-blocks RSU-L / RSU-4F.

Layers are named after the official PyTorch modules (``stage1.rebnconvin.conv_s1``...), so a
PyTorch state dict maps onto them by name and an ONNX export by execution order. The blocks are
built from standard Keras layers (functional), so they save, load and export with no custom code
beyond :class:`~RMBG.models.layers.ResizeLike`.
"""

from __future__ import annotations

import keras

from RMBG.models.layers import ResizeLike

#: PyTorch's BatchNorm2d defaults (Keras defaults to epsilon 1e-3, momentum 0.99).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def rebnconv(x, filters: int, dilation: int, name: str):
    """3x3 convolution (dilated, 'same' padding) → BatchNorm → ReLU, as the official REBNCONV."""
    x = keras.layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, name=f"{name}.conv_s1"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}.bn_s1")(x)
    return keras.layers.ReLU(name=f"{name}.relu_s1")(x)


def max_pool(x, name: str):
    """2x2/2 max pooling with PyTorch's ``ceil_mode=True``: 'same' padding pads only at the
    bottom/right, so an odd side of n pixels gives ceil(n / 2) outputs, exactly as ceil mode."""
    return keras.layers.MaxPooling2D(2, strides=2, padding="same", name=name)(x)


def rsu_block(x, height: int, mid_channels: int, out_channels: int, dilated: bool, name: str):
    """A residual U-block.

    Args:
        x: input feature map.
        height: L of RSU-L: the number of encoder convolutions (7, 6, 5 or 4).
        mid_channels: channels inside the U.
        out_channels: channels of the block's output.
        dilated: the RSU-4F variant: no pooling, dilations 1, 2, 4, 8 instead.
        name: the module path prefix, e.g. ``"stage1"``.
    """
    hxin = rebnconv(x, out_channels, 1, f"{name}.rebnconvin")
    if dilated:
        rates = [2 ** i for i in range(height)]  # 1, 2, 4, 8 for RSU-4F
        encoder = [rebnconv(hxin, mid_channels, rates[0], f"{name}.rebnconv1")]
        for level in range(2, height + 1):
            encoder.append(rebnconv(encoder[-1], mid_channels, rates[level - 1], f"{name}.rebnconv{level}"))
        d = encoder[-1]
        for level in range(height - 1, 0, -1):
            merged = keras.layers.Concatenate(name=f"{name}.cat{level}d")([d, encoder[level - 1]])
            filters = out_channels if level == 1 else mid_channels
            d = rebnconv(merged, filters, rates[level - 1], f"{name}.rebnconv{level}d")
        return keras.layers.Add(name=f"{name}.residual")([d, hxin])

    encoder = [rebnconv(hxin, mid_channels, 1, f"{name}.rebnconv1")]
    h = encoder[0]
    for level in range(2, height):
        h = max_pool(h, f"{name}.pool{level - 1}")
        h = rebnconv(h, mid_channels, 1, f"{name}.rebnconv{level}")
        encoder.append(h)
    d = rebnconv(h, mid_channels, 2, f"{name}.rebnconv{height}")
    for level in range(height - 1, 0, -1):
        skip = encoder[level - 1]
        if level < height - 1:
            d = ResizeLike(name=f"{name}.up{level}d")([d, skip])
        merged = keras.layers.Concatenate(name=f"{name}.cat{level}d")([d, skip])
        filters = out_channels if level == 1 else mid_channels
        d = rebnconv(merged, filters, 1, f"{name}.rebnconv{level}d")
    return keras.layers.Add(name=f"{name}.residual")([d, hxin])
