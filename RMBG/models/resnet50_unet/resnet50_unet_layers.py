"""Blocks of the ResNet50-U-Net decoder."""

from __future__ import annotations

import keras


def conv_bn_relu(x, filters: int, name: str, *, dilation: int = 1, kernel_size: int = 3, relu: bool = True):
    """Conv (no bias) → BatchNorm → optional ReLU."""
    x = keras.layers.Conv2D(
        filters, kernel_size, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def residual_block(x, filters: int, name: str):
    """Two 3x3 conv-BN layers with a 1x1 projection shortcut, then ReLU."""
    shortcut = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_shortcut_conv")(x)
    shortcut = keras.layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)
    y = conv_bn_relu(x, filters, f"{name}_a")
    y = conv_bn_relu(y, filters, f"{name}_b", relu=False)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def dilated_bridge(x, filters: int, rates, name: str):
    """Parallel dilated 3x3 convolutions, concatenated and fused by a 1x1 convolution."""
    branches = [conv_bn_relu(x, filters, f"{name}_rate{rate}", dilation=rate) for rate in rates]
    merged = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    return conv_bn_relu(merged, filters, f"{name}_fuse", kernel_size=1)
