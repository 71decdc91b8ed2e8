"""Block the gradient (PyTorch's ``tensor.detach()``)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="RMBG")
class StopGradient(keras.layers.Layer):
    """The identity forward, no gradient backward: InSPyReNet feeds each coarser saliency map to
    the next stage detached, so a stage's loss trains only that stage's Laplacian."""

    def call(self, x):
        return tf.stop_gradient(x)

    def compute_output_shape(self, input_shape):
        return input_shape
