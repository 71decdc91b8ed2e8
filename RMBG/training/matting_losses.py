"""Losses of the learned matting and refinement networks.

Conventions (shared by every loss here):

* ``y_pred``: ``(N, H, W, K)`` alpha / probability maps in [0, 1], channel 0 the primary map (K > 1
  for models with side or cascade outputs, e.g. the refiner in training). Each map gets weight 1
  (the primary) or ``side_weight`` (the others).
* ``y_true``: ``(N, H, W, C)`` stacked ground truth, all in [0, 1]:

  ====== ===========================================================================
  ch 0   the ground-truth alpha (or mask)
  ch 1   the loss region weight (1 = unknown pixel of the trimap); optional: absent =
         the whole image
  ch 2-4 the foreground colours ``F`` (only the compositional loss needs them)
  ch 5-7 the background colours ``B`` (idem)
  ====== ===========================================================================

  :func:`pack_targets` builds it. A loss that needs channels the target lacks raises.

Losses:

* :class:`UnknownL1`: the alpha prediction loss of Deep Image Matting (Xu et al., CVPR 2017) as an
  L1: ``sum w |a_p - a_g| / sum w``.
* :class:`CompositionLoss`: DIM's compositional loss, ``sqrt((C_p - C_g)^2 + eps^2)`` with
  ``C = a F + (1 - a) B``, averaged over the weighted region and the colour channels.
* :class:`LaplacianLoss`: the Laplacian-pyramid L1 of Hou & Liu (ICCV 2019) / FBA matting:
  ``sum_i 2^i mean |L_i(a_p) - L_i(a_g)|`` over ``levels`` pyramid entries (``levels - 1``
  band-pass images and the final low-pass residual); replicate borders, 5x5 binomial kernel, so
  any size (odd ones included) works and a constant image has zero band-pass energy.
* :class:`MattingLoss`: ``l1_weight * UnknownL1 + composition_weight * CompositionLoss +
  laplacian_weight * LaplacianLoss``, the matting network's training loss.
* :class:`RefinementLoss`: BCE + L1 + Laplacian over the whole image, the refiner's loss.
* :class:`ForegroundBackgroundLoss`: FBA's F/B losses (L1 where defined, compositional, Laplacian)
  on a 7-channel ``(alpha, F, B)`` prediction; :class:`FBALoss` adds :class:`MattingLoss` on its
  alpha channel (FBA matting's training loss).

All are registered Keras losses (``package="RMBG"``), computed in float32.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

_BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0


def pack_targets(
    alpha: np.ndarray,
    weight: np.ndarray | None = None,
    foreground: np.ndarray | None = None,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """Stack ground truth into the ``y_true`` layout of this module.

    Args:
        alpha: ``(..., H, W)`` alpha in [0, 1].
        weight: ``(..., H, W)`` loss region (1 = counts), or None (the whole image).
        foreground: ``(..., H, W, 3)`` colours in [0, 1] (with ``background``), or None.
        background: ``(..., H, W, 3)`` colours in [0, 1], or None.

    Returns:
        float32 ``(..., H, W, C)`` with C = 1, 2 or 8.

    Raises:
        ValueError: only one of foreground/background given, colours without a weight, or
            mismatched shapes.
    """
    alpha = np.asarray(alpha, np.float32)
    channels = [alpha[..., None]]
    if (foreground is None) != (background is None):
        raise ValueError("foreground, background: give both (for the compositional loss) or neither")
    if foreground is not None and weight is None:
        raise ValueError("weight: the colour channels follow the weight channel; pass weight=np.ones_like(alpha)")
    if weight is not None:
        weight = np.asarray(weight, np.float32)
        if weight.shape != alpha.shape:
            raise ValueError(f"weight: shape {weight.shape} differs from alpha's {alpha.shape}")
        channels.append(weight[..., None])
    if foreground is not None:
        for label, colours in (("foreground", foreground), ("background", background)):
            colours = np.asarray(colours, np.float32)
            if colours.shape != (*alpha.shape, 3):
                raise ValueError(f"{label}: expected shape {(*alpha.shape, 3)}, got {colours.shape}")
            channels.append(colours)
    return np.concatenate(channels, axis=-1)


def _maps_and_weights(y_true, y_pred, side_weight: float):
    """float32 ``y_pred``, ``y_true`` and the per-map weights ``(K,)``."""
    y_pred = tf.cast(y_pred, tf.float32)
    y_true = tf.cast(y_true, tf.float32)
    if y_true.shape.rank == 3:
        y_true = y_true[..., None]
    k = tf.shape(y_pred)[-1]
    weights = tf.concat([tf.ones([1]), tf.fill([k - 1], tf.cast(side_weight, tf.float32))], axis=0)
    return y_true, y_pred, weights


def _region(y_true):
    """The loss region ``(N, H, W, 1)``: channel 1 of ``y_true`` or ones."""
    channels = y_true.shape[-1]
    if channels is not None and channels >= 2:
        return y_true[..., 1:2]
    return tf.ones_like(y_true[..., :1])


def _weighted_mean(values, region, epsilon: float = 1e-6):
    """Per-sample, per-map mean of ``values (N, H, W, K)`` over ``region (N, H, W, 1)``: ``(N, K)``."""
    total = tf.reduce_sum(values * region, axis=[1, 2])
    count = tf.reduce_sum(region, axis=[1, 2])
    return total / (count + epsilon)


def _replicate_pad(x, pad: int):
    top = tf.repeat(x[:, :1], pad, axis=1)
    bottom = tf.repeat(x[:, -1:], pad, axis=1)
    x = tf.concat([top, x, bottom], axis=1)
    left = tf.repeat(x[:, :, :1], pad, axis=2)
    right = tf.repeat(x[:, :, -1:], pad, axis=2)
    return tf.concat([left, x, right], axis=2)


def _blur(x):
    """5x5 binomial blur of ``(B, H, W, 1)`` with replicate borders."""
    kernel = tf.constant(_BINOMIAL[:, :, None, None])
    return tf.nn.conv2d(_replicate_pad(x, 2), kernel, strides=1, padding="VALID")


def laplacian_pyramid(x, levels: int):
    """Laplacian pyramid of ``(B, H, W, 1)``: ``levels - 1`` band-pass images, then the low-pass rest."""
    pyramid = []
    current = x
    for _ in range(levels - 1):
        down = _blur(current)[:, ::2, ::2]
        up = tf.image.resize(down, tf.shape(current)[1:3], method="bilinear")
        pyramid.append(current - up)
        current = down
    pyramid.append(current)
    return pyramid


def _to_batch(maps):
    """``(N, H, W, K)`` -> ``(N*K, H, W, 1)``."""
    shape = tf.shape(maps)
    return tf.reshape(tf.transpose(maps, [0, 3, 1, 2]), [shape[0] * shape[3], shape[1], shape[2], 1])


def laplacian_maps(y_true, y_pred, levels: int = 5):
    """Laplacian L1 of each map against the alpha (channel 0 of ``y_true``): ``(N, K)``."""
    shape = tf.shape(y_pred)
    n, k = shape[0], shape[3]
    target = tf.broadcast_to(y_true[..., :1], shape)
    total = tf.zeros([n * k])
    for level, (p, g) in enumerate(zip(laplacian_pyramid(_to_batch(y_pred), levels), laplacian_pyramid(_to_batch(target), levels))):
        total += (2.0**level) * tf.reduce_mean(tf.abs(p - g), axis=[1, 2, 3])
    return tf.reshape(total, [n, k])


class _MattingLossBase(keras.losses.Loss):
    """Weighted sum over maps of a per-map loss ``(N, K)``; subclasses define ``per_map``."""

    def __init__(self, side_weight: float = 1.0, name: str | None = None, reduction: str = "sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction, dtype="float32", **kwargs)
        if not float(side_weight) >= 0:
            raise ValueError(f"side_weight: expected a number >= 0, got {side_weight!r}")
        self.side_weight = float(side_weight)

    def per_map(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def call(self, y_true, y_pred):
        y_true, y_pred, weights = _maps_and_weights(y_true, y_pred, self.side_weight)
        return tf.reduce_sum(self.per_map(y_true, y_pred) * weights, axis=-1)

    def get_config(self):
        return {**super().get_config(), "side_weight": self.side_weight}


@keras.saving.register_keras_serializable(package="RMBG")
class UnknownL1(_MattingLossBase):
    """Mean absolute alpha error over the weighted (unknown) region (DIM's alpha loss as L1)."""

    def __init__(self, side_weight: float = 1.0, name: str = "unknown_l1", **kwargs):
        super().__init__(side_weight, name=name, **kwargs)

    def per_map(self, y_true, y_pred):
        return _weighted_mean(tf.abs(y_pred - y_true[..., :1]), _region(y_true))


@keras.saving.register_keras_serializable(package="RMBG")
class CompositionLoss(_MattingLossBase):
    """DIM's compositional loss over the weighted region (needs F and B in ``y_true``).

    Args:
        epsilon: the Charbonnier constant (DIM: 1e-6 on [0, 1] colours).
    """

    def __init__(self, side_weight: float = 1.0, epsilon: float = 1e-6, name: str = "composition", **kwargs):
        super().__init__(side_weight, name=name, **kwargs)
        self.epsilon = float(epsilon)

    def per_map(self, y_true, y_pred):
        channels = y_true.shape[-1]
        if channels is None or channels < 8:
            raise ValueError(
                f"y_true: the compositional loss needs 8 channels (alpha, weight, F rgb, B rgb; see "
                f"pack_targets), got {channels}"
            )
        foreground, background = y_true[..., 2:5], y_true[..., 5:8]
        alpha_true = y_true[..., :1]
        maps = []
        composite_true = alpha_true * foreground + (1.0 - alpha_true) * background
        region = _region(y_true)
        if y_pred.shape[-1] is None:
            raise ValueError("y_pred: the compositional loss needs a static number of maps (last axis)")
        for index in range(y_pred.shape[-1]):
            alpha = y_pred[..., index:index + 1]
            composite = alpha * foreground + (1.0 - alpha) * background
            error = tf.sqrt(tf.square(composite - composite_true) + self.epsilon**2)
            maps.append(_weighted_mean(tf.reduce_mean(error, axis=-1, keepdims=True), region))
        return tf.concat(maps, axis=-1)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="RMBG")
class LaplacianLoss(_MattingLossBase):
    """Laplacian-pyramid L1 over the whole image (see the module docstring).

    Args:
        levels: pyramid entries (>= 1; 1 = plain mean L1).
    """

    def __init__(self, side_weight: float = 1.0, levels: int = 5, name: str = "laplacian", **kwargs):
        super().__init__(side_weight, name=name, **kwargs)
        if not isinstance(levels, int) or isinstance(levels, bool) or levels < 1:
            raise ValueError(f"levels: expected a positive integer, got {levels!r}")
        self.levels = levels

    def per_map(self, y_true, y_pred):
        return laplacian_maps(y_true, y_pred, self.levels)

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


@keras.saving.register_keras_serializable(package="RMBG")
class MattingLoss(_MattingLossBase):
    """``l1_weight * UnknownL1 + composition_weight * CompositionLoss + laplacian_weight * LaplacianLoss``.

    A zero weight skips its term (``composition_weight=0`` allows a 1- or 2-channel ``y_true``).
    """

    def __init__(
        self,
        side_weight: float = 1.0,
        l1_weight: float = 1.0,
        composition_weight: float = 1.0,
        laplacian_weight: float = 1.0,
        levels: int = 5,
        name: str = "matting",
        **kwargs,
    ):
        super().__init__(side_weight, name=name, **kwargs)
        for label, value in (("l1_weight", l1_weight), ("composition_weight", composition_weight), ("laplacian_weight", laplacian_weight)):
            if not float(value) >= 0:
                raise ValueError(f"{label}: expected a number >= 0, got {value!r}")
        self.l1_weight = float(l1_weight)
        self.composition_weight = float(composition_weight)
        self.laplacian_weight = float(laplacian_weight)
        self.levels = int(levels)
        self._l1 = UnknownL1()
        self._composition = CompositionLoss()
        self._laplacian = LaplacianLoss(levels=self.levels)

    def per_map(self, y_true, y_pred):
        total = 0.0
        if self.l1_weight:
            total += self.l1_weight * self._l1.per_map(y_true, y_pred)
        if self.composition_weight:
            total += self.composition_weight * self._composition.per_map(y_true, y_pred)
        if self.laplacian_weight:
            total += self.laplacian_weight * self._laplacian.per_map(y_true, y_pred)
        return total

    def get_config(self):
        return {
            **super().get_config(), "l1_weight": self.l1_weight, "composition_weight": self.composition_weight,
            "laplacian_weight": self.laplacian_weight, "levels": self.levels,
        }


@keras.saving.register_keras_serializable(package="RMBG")
class RefinementLoss(_MattingLossBase):
    """BCE + ``l1_weight`` * L1 + ``laplacian_weight`` * Laplacian L1 over the whole image (the refiner)."""

    def __init__(
        self, side_weight: float = 0.5, l1_weight: float = 1.0, laplacian_weight: float = 1.0, levels: int = 4,
        epsilon: float = 1e-6, name: str = "refinement", **kwargs,
    ):
        super().__init__(side_weight, name=name, **kwargs)
        self.l1_weight = float(l1_weight)
        self.laplacian_weight = float(laplacian_weight)
        self.levels = int(levels)
        self.epsilon = float(epsilon)

    def per_map(self, y_true, y_pred):
        target = y_true[..., :1]
        p = tf.clip_by_value(y_pred, self.epsilon, 1.0 - self.epsilon)
        bce = -tf.reduce_mean(target * tf.math.log(p) + (1.0 - target) * tf.math.log(1.0 - p), axis=[1, 2])
        l1 = tf.reduce_mean(tf.abs(y_pred - target), axis=[1, 2])
        return bce + self.l1_weight * l1 + self.laplacian_weight * laplacian_maps(y_true, y_pred, self.levels)

    def get_config(self):
        return {
            **super().get_config(), "l1_weight": self.l1_weight, "laplacian_weight": self.laplacian_weight,
            "levels": self.levels, "epsilon": self.epsilon,
        }


def _colour_laplacian(pred, true, levels: int):
    """Laplacian-pyramid L1 of ``(N, H, W, 3)`` colours, per sample: ``(N,)`` (channels averaged)."""
    n = tf.shape(pred)[0]
    total = tf.zeros([n * 3])
    for level, (p, g) in enumerate(zip(laplacian_pyramid(_to_batch(pred), levels), laplacian_pyramid(_to_batch(true), levels))):
        total += (2.0**level) * tf.reduce_mean(tf.abs(p - g), axis=[1, 2, 3])
    return tf.reduce_mean(tf.reshape(total, [n, 3]), axis=-1)


def _check_fba_shapes(y_true, y_pred) -> None:
    if y_pred.shape[-1] != 7:
        raise ValueError(f"y_pred: FBA losses need the 7-channel output (alpha, F rgb, B rgb), got {y_pred.shape[-1]} channels")
    if y_true.shape[-1] is None or y_true.shape[-1] < 8:
        raise ValueError(
            f"y_true: FBA losses need 8 channels (alpha, weight, F rgb, B rgb; see pack_targets), got {y_true.shape[-1]}"
        )


@keras.saving.register_keras_serializable(package="RMBG")
class ForegroundBackgroundLoss(keras.losses.Loss):
    """FBA's foreground/background losses (Forte & Pitié 2020, Sec. 3.4) on a 7-channel prediction.

    With ``a`` the ground-truth alpha, ``w`` the region weight (channel 1 of ``y_true``):

    * L1: ``|F_p - F_g|`` where ``a > 0`` and ``|B_p - B_g|`` where ``a < 1`` (F is undefined on pure
      background and B on pure foreground), within ``w``;
    * compositional: ``|a F_p + (1 - a) B_p - I|`` within ``w``, ``I = a F_g + (1 - a) B_g``;
    * Laplacian: the Laplacian-pyramid L1 of F and of B against the ground truth (whole image).

    Args:
        l1_weight, composition_weight, laplacian_weight: term weights (0 skips a term).
        levels: Laplacian pyramid entries.
    """

    def __init__(self, l1_weight: float = 1.0, composition_weight: float = 1.0, laplacian_weight: float = 1.0,
                 levels: int = 5, name: str = "foreground_background", reduction: str = "sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction, dtype="float32", **kwargs)
        for label, value in (("l1_weight", l1_weight), ("composition_weight", composition_weight), ("laplacian_weight", laplacian_weight)):
            if not float(value) >= 0:
                raise ValueError(f"{label}: expected a number >= 0, got {value!r}")
        self.l1_weight = float(l1_weight)
        self.composition_weight = float(composition_weight)
        self.laplacian_weight = float(laplacian_weight)
        self.levels = int(levels)

    def per_sample(self, y_true, y_pred):
        """The loss per sample ``(N,)``."""
        _check_fba_shapes(y_true, y_pred)
        y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        alpha, region = y_true[..., :1], _region(y_true)
        fg_true, bg_true = y_true[..., 2:5], y_true[..., 5:8]
        fg_pred, bg_pred = y_pred[..., 1:4], y_pred[..., 4:7]
        total = tf.zeros(tf.shape(y_true)[:1])
        if self.l1_weight:
            fg_region = region * tf.cast(alpha > 0.0, tf.float32)
            bg_region = region * tf.cast(alpha < 1.0, tf.float32)
            fg = _weighted_mean(tf.reduce_mean(tf.abs(fg_pred - fg_true), axis=-1, keepdims=True), fg_region)[:, 0]
            bg = _weighted_mean(tf.reduce_mean(tf.abs(bg_pred - bg_true), axis=-1, keepdims=True), bg_region)[:, 0]
            total += self.l1_weight * (fg + bg)
        if self.composition_weight:
            image = alpha * fg_true + (1.0 - alpha) * bg_true
            error = tf.abs(alpha * fg_pred + (1.0 - alpha) * bg_pred - image)
            total += self.composition_weight * _weighted_mean(tf.reduce_mean(error, axis=-1, keepdims=True), region)[:, 0]
        if self.laplacian_weight:
            total += self.laplacian_weight * (
                _colour_laplacian(fg_pred, fg_true, self.levels) + _colour_laplacian(bg_pred, bg_true, self.levels)
            )
        return total

    def call(self, y_true, y_pred):
        return self.per_sample(y_true, y_pred)

    def get_config(self):
        return {
            **super().get_config(), "l1_weight": self.l1_weight, "composition_weight": self.composition_weight,
            "laplacian_weight": self.laplacian_weight, "levels": self.levels,
        }


@keras.saving.register_keras_serializable(package="RMBG")
class FBALoss(keras.losses.Loss):
    """FBA matting's training loss on its 7-channel output: :class:`MattingLoss` (alpha L1,
    compositional, Laplacian) on the alpha channel plus ``fb_weight`` * :class:`ForegroundBackgroundLoss`.

    ``y_true``: the 8-channel :func:`pack_targets` layout (alpha, weight, F, B).
    """

    def __init__(self, fb_weight: float = 1.0, l1_weight: float = 1.0, composition_weight: float = 1.0,
                 laplacian_weight: float = 1.0, levels: int = 5, name: str = "fba", reduction: str = "sum_over_batch_size",
                 **kwargs):
        super().__init__(name=name, reduction=reduction, dtype="float32", **kwargs)
        if not float(fb_weight) >= 0:
            raise ValueError(f"fb_weight: expected a number >= 0, got {fb_weight!r}")
        self.fb_weight = float(fb_weight)
        self._alpha = MattingLoss(l1_weight=l1_weight, composition_weight=composition_weight,
                                  laplacian_weight=laplacian_weight, levels=levels)
        self._fb = ForegroundBackgroundLoss(l1_weight, composition_weight, laplacian_weight, levels)

    def call(self, y_true, y_pred):
        _check_fba_shapes(y_true, y_pred)
        y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        alpha_loss = self._alpha.per_map(y_true, y_pred[..., :1])[:, 0]
        return alpha_loss + self.fb_weight * self._fb.per_sample(y_true, y_pred)

    def get_config(self):
        alpha = self._alpha
        return {
            **super().get_config(), "fb_weight": self.fb_weight, "l1_weight": alpha.l1_weight,
            "composition_weight": alpha.composition_weight, "laplacian_weight": alpha.laplacian_weight, "levels": alpha.levels,
        }


MATTING_LOSSES = {
    "unknown_l1": UnknownL1,
    "composition": CompositionLoss,
    "laplacian": LaplacianLoss,
    "matting": MattingLoss,
    "refinement": RefinementLoss,
    "foreground_background": ForegroundBackgroundLoss,
    "fba": FBALoss,
}


def get_matting_loss(name: str, **kwargs) -> keras.losses.Loss:
    """A loss of this module by name (:data:`MATTING_LOSSES`); an unknown name raises listing them."""
    if name not in MATTING_LOSSES:
        raise ValueError(f"loss: expected one of {sorted(MATTING_LOSSES)}, got {name!r}")
    return MATTING_LOSSES[name](**kwargs)
