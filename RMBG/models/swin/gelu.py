"""The exact GELU, written with erf."""

from __future__ import annotations

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class GELU(keras.layers.Layer):
    """``0.5 * x * (1 + erf(x / sqrt(2)))``: PyTorch's ``nn.GELU()`` (approximate="none") term for
    term. Keras' own exact GELU is written with ``erfc``, which ONNX has no operator for; ``erf``
    exports as ONNX ``Erf``."""

    def call(self, x):
        return 0.5 * x * (1.0 + tf.math.erf(x * tf.cast(1.0 / math.sqrt(2.0), x.dtype)))

    def compute_output_shape(self, input_shape):
        return input_shape
