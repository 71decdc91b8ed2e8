"""One step of Laplacian pyramid reconstruction: expand the coarse map, add the Laplacian."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from RMBG.models.inspyrenet.layers.resize_align_corners import resize_align_corners


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """``(size, size)`` float32: the outer product of the normalised 1-D Gaussian, computed in
    float64 as OpenCV's ``getGaussianKernel(size, sigma)`` (sigma > 0), then rounded once."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    line = np.exp(-(offsets ** 2) / (2.0 * sigma * sigma))
    line /= line.sum()
    return np.outer(line, line).astype(np.float32)


@keras.saving.register_keras_serializable(package="RMBG")
class PyramidReconstruct(keras.layers.Layer):
    """Inputs ``[coarse (N, h, w, 1), laplacian (N, h', w', 1)]`` → ``(N, 2h, 2w, 1)``.

    ``expand(coarse)``: zeros inserted after every pixel (pixel shuffle of ``[x, 0, 0, 0]``),
    reflect-padded by ``kernel_size // 2`` and convolved with 4 x the Gaussian kernel; the
    Laplacian, resized to that size (bilinear, ``align_corners=True``; the identity when it fits),
    is added. This is the reference's ``ImagePyramid(7, 1).reconstruct``.

    Args:
        kernel_size: side of the Gaussian kernel (odd).
        sigma: its standard deviation.
    """

    def __init__(self, kernel_size: int = 7, sigma: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size: expected a positive odd integer, got {kernel_size!r}")
        if float(sigma) <= 0:
            raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
        self.kernel_size = int(kernel_size)
        self.sigma = float(sigma)
        self.kernel = (4.0 * gaussian_kernel(self.kernel_size, self.sigma))[:, :, None, None]

    def expand(self, x):
        """Upsample ``(N, h, w, 1)`` to ``(N, 2h, 2w, 1)`` by zero insertion and Gaussian smoothing."""
        shape = tf.shape(x)
        batch, height, width = shape[0], shape[1], shape[2]
        zeros = tf.zeros_like(x)
        x = tf.reshape(tf.stack([x, zeros], axis=3), [batch, height, 2 * width, 1])
        x = tf.reshape(tf.stack([x, tf.zeros_like(x)], axis=2), [batch, 2 * height, 2 * width, 1])
        pad = self.kernel_size // 2
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        return tf.nn.conv2d(x, tf.constant(self.kernel, x.dtype), strides=1, padding="VALID")

    def call(self, inputs):
        coarse, laplacian = inputs
        expanded = self.expand(coarse)
        return expanded + resize_align_corners(laplacian, tf.shape(expanded)[1:3])

    def compute_output_shape(self, input_shapes):
        coarse = input_shapes[0]
        return (coarse[0], *(None if s is None else 2 * s for s in coarse[1:3]), coarse[3])

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "sigma": self.sigma}
