"""Zero-pad the bottom and right of a feature map up to a multiple of a size."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class PadToMultiple(keras.layers.Layer):
    """Pad ``(N, H, W, C)`` with zeros at the bottom/right so H and W become multiples of ``multiple``.

    This is the padding of Swin's patch embedding (an image whose side is not a multiple of the
    patch size keeps all its pixels). Sizes that already fit are returned unchanged.

    Args:
        multiple: the size H and W are rounded up to a multiple of (positive).
    """

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        if int(multiple) < 1:
            raise ValueError(f"multiple: expected a positive integer, got {multiple!r}")
        self.multiple = int(multiple)

    def call(self, x):
        shape = tf.shape(x)
        pad_bottom = (self.multiple - shape[1] % self.multiple) % self.multiple
        pad_right = (self.multiple - shape[2] % self.multiple) % self.multiple
        return tf.pad(x, [[0, 0], [0, pad_bottom], [0, pad_right], [0, 0]])

    def compute_output_shape(self, input_shape):
        def up(size):
            return None if size is None else -(-size // self.multiple) * self.multiple

        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}
