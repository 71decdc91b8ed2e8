"""Bilinear resize with aligned corners, to the size of a reference map."""

from __future__ import annotations

import keras
import tensorflow as tf


def resize_align_corners(x, size):
    """PyTorch's ``F.interpolate(x, size, mode="bilinear", align_corners=True)`` on NHWC: corner
    pixels map onto corner pixels (``tf.image.resize`` only offers half-pixel centres)."""
    resized = tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=True, half_pixel_centers=False)
    return tf.cast(resized, x.dtype)


@keras.saving.register_keras_serializable(package="RMBG")
class ResizeAlignCorners(keras.layers.Layer):
    """Resize ``inputs[0]`` to the height and width of ``inputs[1]`` (bilinear, ``align_corners=True``).

    InSPyReNet's decoder upsamples its deeper features this way, and its pyramid reconstruction
    resizes the Laplacian to the expanded map this way; an equal size is the exact identity.
    """

    def call(self, inputs):
        source, reference = inputs
        return resize_align_corners(source, tf.shape(reference)[1:3])

    def compute_output_shape(self, input_shapes):
        source, reference = input_shapes
        return (source[0], reference[1], reference[2], source[3])
