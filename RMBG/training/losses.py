"""Deep-supervision losses over stacked probability maps.

Both losses take ``y_pred`` of shape ``(N, H, W, K)`` (sigmoid probabilities, channel 0 the primary
map; ``K = 7`` for U^2-Net in training, ``K = 1`` when the model runs with ``training=False`` as
in validation) and ``y_true`` of shape ``(N, H, W, 1)`` (or ``(N, H, W)``), broadcast to every map.
The per-sample loss is the weighted sum over maps: weight 1 for the primary map, ``side_weight``
for each side map. Everything is computed in float32, also under mixed precision (the loss's own
dtype is float32 and both inputs are cast).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


def _prepare(y_true, y_pred, epsilon: float):
    y_pred = tf.cast(y_pred, tf.float32)
    y_true = tf.cast(y_true, tf.float32)
    if y_true.shape.rank == 3:
        y_true = y_true[..., None]
    y_true = tf.broadcast_to(y_true[..., :1], tf.shape(y_pred))
    return y_true, tf.clip_by_value(y_pred, epsilon, 1.0 - epsilon)


def _map_weights(y_pred, side_weight: float):
    """``[1, side_weight, ..., side_weight]`` for the K maps of ``y_pred``."""
    k = tf.shape(y_pred)[-1]
    return tf.concat([tf.ones([1]), tf.fill([k - 1], tf.cast(side_weight, tf.float32))], axis=0)


def binary_crossentropy_maps(y_true, y_pred, epsilon: float = 1e-7):
    """Mean binary cross-entropy of each map: ``(N, K)``."""
    y_true, y_pred = _prepare(y_true, y_pred, epsilon)
    bce = -(y_true * tf.math.log(y_pred) + (1.0 - y_true) * tf.math.log(1.0 - y_pred))
    return tf.reduce_mean(bce, axis=[1, 2])


def _gaussian_window(size: int, sigma: float):
    values = [math.exp(-((i - size // 2) ** 2) / (2.0 * sigma**2)) for i in range(size)]
    total = sum(values)
    window = tf.constant([v / total for v in values], tf.float32)
    return tf.tensordot(window, window, axes=0)[:, :, None, None]


def ssim_maps(y_true, y_pred, window_size: int = 11, sigma: float = 1.5, epsilon: float = 1e-7):
    """Mean structural similarity of each map: ``(N, K)``.

    Gaussian window (``window_size``, ``sigma``) with zero padding, constants ``C1 = 0.01^2`` and
    ``C2 = 0.03^2`` for signals in [0, 1]: the ``pytorch_ssim`` module BASNet trains with, so it
    works at any image size (also smaller than the window).
    """
    y_true, y_pred = _prepare(y_true, y_pred, epsilon)
    shape = tf.shape(y_pred)
    n, h, w, k = shape[0], shape[1], shape[2], shape[3]

    def to_batch(x):  # (N, H, W, K) -> (N*K, H, W, 1): one window for every map
        return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * k, h, w, 1])

    x, y = to_batch(y_pred), to_batch(y_true)
    window = _gaussian_window(window_size, sigma)

    def blur(t):
        return tf.nn.conv2d(t, window, strides=1, padding="SAME")

    mu_x, mu_y = blur(x), blur(y)
    sigma_x = blur(x * x) - mu_x * mu_x
    sigma_y = blur(y * y) - mu_y * mu_y
    sigma_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (sigma_x + sigma_y + c2))
    return tf.reshape(tf.reduce_mean(ssim, axis=[1, 2, 3]), [n, k])


def iou_maps(y_true, y_pred, epsilon: float = 1e-7, smooth: float = 1e-6):
    """Soft intersection over union of each map: ``(N, K)``; 1 when both are empty."""
    y_true, y_pred = _prepare(y_true, y_pred, epsilon)
    intersection = tf.reduce_sum(y_true * y_pred, axis=[1, 2])
    union = tf.reduce_sum(y_true + y_pred - y_true * y_pred, axis=[1, 2])
    return (intersection + smooth) / (union + smooth)


class _MapLoss(keras.losses.Loss):
    """Shared arguments and the weighted sum over maps."""

    def __init__(
        self,
        side_weight: float = 1.0,
        epsilon: float = 1e-7,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = "float32",
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype or "float32")
        if side_weight < 0:
            raise ValueError(f"side_weight: expected a number >= 0, got {side_weight!r}")
        if not 0 < epsilon < 0.5:
            raise ValueError(f"epsilon: expected a small positive number such as 1e-7, got {epsilon!r}")
        self.side_weight = float(side_weight)
        self.epsilon = float(epsilon)

    def map_losses(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def call(self, y_true, y_pred):
        per_map = self.map_losses(y_true, y_pred)
        return tf.reduce_sum(per_map * _map_weights(per_map, self.side_weight), axis=-1)

    def get_config(self):
        return {**super().get_config(), "side_weight": self.side_weight, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="RMBG")
class DeepSupervisionBCE(_MapLoss):
    """Binary cross-entropy summed over the fused and side maps (U^2-Net, Qin et al. 2020).

    ``loss = BCE(d0) + side_weight * (BCE(d1) + ... + BCE(d6))``, each BCE the mean over pixels,
    as the official ``muti_bce_loss_fusion``; with one map (validation) it is ``BCE(d0)``.

    Args:
        side_weight: weight of every side map (the official recipe uses 1).
        epsilon: probabilities are clipped to ``[epsilon, 1 - epsilon]``.
        reduction: Keras reduction over the batch.
        name: the loss name.
        dtype: computation dtype (float32).
    """

    def __init__(
        self, side_weight=1.0, epsilon=1e-7, reduction="sum_over_batch_size", name="deep_supervision_bce", dtype="float32"
    ):
        super().__init__(side_weight, epsilon, reduction, name, dtype)

    def map_losses(self, y_true, y_pred):
        return binary_crossentropy_maps(y_true, y_pred, self.epsilon)


@keras.saving.register_keras_serializable(package="RMBG")
class HybridLoss(_MapLoss):
    """BCE + SSIM + IoU per map, summed over maps (BASNet, Qin et al., CVPR 2019).

    Per map: ``BCE + (1 - SSIM) + (1 - IoU)``: pixel-level, patch-level and map-level terms.

    Args:
        side_weight: weight of every side map.
        window_size: SSIM window (11 in BASNet).
        sigma: SSIM Gaussian sigma (1.5).
        epsilon: probabilities are clipped to ``[epsilon, 1 - epsilon]``.
        reduction: Keras reduction over the batch.
        name: the loss name.
        dtype: computation dtype (float32).
    """

    def __init__(
        self, side_weight=1.0, window_size=11, sigma=1.5, epsilon=1e-7,
        reduction="sum_over_batch_size", name="hybrid_loss", dtype="float32",
    ):
        super().__init__(side_weight, epsilon, reduction, name, dtype)
        if int(window_size) < 1 or int(window_size) % 2 == 0:
            raise ValueError(f"window_size: expected an odd positive integer such as 11, got {window_size!r}")
        if not sigma > 0:
            raise ValueError(f"sigma: expected a positive number such as 1.5, got {sigma!r}")
        self.window_size = int(window_size)
        self.sigma = float(sigma)

    def map_losses(self, y_true, y_pred):
        bce = binary_crossentropy_maps(y_true, y_pred, self.epsilon)
        ssim = ssim_maps(y_true, y_pred, self.window_size, self.sigma, self.epsilon)
        iou = iou_maps(y_true, y_pred, self.epsilon)
        return bce + (1.0 - ssim) + (1.0 - iou)

    def get_config(self):
        return {**super().get_config(), "window_size": self.window_size, "sigma": self.sigma}


def get_loss(name: str, **kwargs) -> _MapLoss:
    """The loss of a :class:`~RMBG.training.config.TrainConfig` ``loss`` name."""
    losses = {"deep_bce": DeepSupervisionBCE, "hybrid": HybridLoss}
    if name not in losses:
        raise ValueError(f"loss: expected one of {tuple(losses)}, got {name!r}")
    return losses[name](**kwargs)
