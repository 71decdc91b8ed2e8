"""Salient-object metrics for ``fit``: they read channel 0 (the primary map) only.

In training the model returns every map ``(N, H, W, K)``; in validation ``(N, H, W, 1)`` after the
model's own inference post-processing (e.g. min-max normalisation for the official U^2-Net
presets), so validation metrics measure what inference delivers. All three are computed per image
at the model's resolution and averaged over images (the usual salient-object protocol); the ground
truth is binarised at 0.5 for F-beta and IoU.

These are quick training-time monitors. The reference implementations with the full protocol
(at the photo's own size, S-measure, E-measure...) live in :mod:`RMBG.evaluation`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from RMBG.training.matting_losses import UnknownL1


def _primary(y_true, y_pred):
    y_pred = tf.cast(y_pred, tf.float32)[..., 0]
    y_true = tf.cast(y_true, tf.float32)
    if y_true.shape.rank == 4:
        y_true = y_true[..., 0]
    return y_true, y_pred


class _PerImageMean(keras.metrics.Metric):
    """Mean over images of a per-image value."""

    def __init__(self, name: str, dtype: str | None = "float32"):
        super().__init__(name=name, dtype=dtype or "float32")
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

    def per_image(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _primary(y_true, y_pred)
        values = self.per_image(y_true, y_pred)
        if sample_weight is not None:
            weights = tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
            weights = tf.broadcast_to(weights, tf.shape(values))
        else:
            weights = tf.ones_like(values)
        self.total.assign_add(tf.reduce_sum(values * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": "float32"}


@keras.saving.register_keras_serializable(package="RMBG")
class MaskMAE(_PerImageMean):
    """Mean absolute error between the primary map and the mask (soft masks allowed)."""

    def __init__(self, name: str = "mae", dtype: str | None = "float32"):
        super().__init__(name=name, dtype=dtype)

    def per_image(self, y_true, y_pred):
        return tf.reduce_mean(tf.abs(y_pred - y_true), axis=[1, 2])


def _binary_counts(y_true, prediction):
    truth = tf.cast(y_true >= 0.5, tf.float32)
    tp = tf.reduce_sum(prediction * truth, axis=[1, 2])
    predicted = tf.reduce_sum(prediction, axis=[1, 2])
    actual = tf.reduce_sum(truth, axis=[1, 2])
    return tp, predicted, actual


@keras.saving.register_keras_serializable(package="RMBG")
class FBeta(_PerImageMean):
    """F-beta of the binarised primary map, per image, averaged (beta^2 = 0.3 by convention).

    ``F = (1 + beta^2) P R / (beta^2 P + R)``; 0 when ``P = R = 0``; 1 when both the prediction
    and the mask are empty.

    Args:
        threshold: binarise the prediction at this value in (0, 1), or ``"adaptive"``: per image
            at ``min(2 * mean(prediction), 1)`` (Achanta et al. 2009, the adaptive F-measure of the
            salient-object literature).
        beta2: beta squared (0.3 emphasises precision).
        name: metric name.
        dtype: float32.
    """

    def __init__(self, threshold: float | str = 0.5, beta2: float = 0.3, name: str = "fbeta", dtype: str | None = "float32"):
        super().__init__(name=name, dtype=dtype)
        if threshold != "adaptive" and not (isinstance(threshold, (int, float)) and 0 < float(threshold) < 1):
            raise ValueError(f"threshold: expected a number in (0, 1) or 'adaptive', got {threshold!r}")
        if not beta2 > 0:
            raise ValueError(f"beta2: expected a positive number (0.3 by convention), got {beta2!r}")
        self.threshold = threshold if threshold == "adaptive" else float(threshold)
        self.beta2 = float(beta2)

    def per_image(self, y_true, y_pred):
        if self.threshold == "adaptive":
            cut = tf.minimum(2.0 * tf.reduce_mean(y_pred, axis=[1, 2], keepdims=True), 1.0)
        else:
            cut = self.threshold
        prediction = tf.cast(y_pred >= cut, tf.float32)
        tp, predicted, actual = _binary_counts(y_true, prediction)
        precision = tf.math.divide_no_nan(tp, predicted)
        recall = tf.math.divide_no_nan(tp, actual)
        f = tf.math.divide_no_nan((1.0 + self.beta2) * precision * recall, self.beta2 * precision + recall)
        both_empty = tf.logical_and(predicted == 0, actual == 0)
        return tf.where(both_empty, tf.ones_like(f), f)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "beta2": self.beta2}


@keras.saving.register_keras_serializable(package="RMBG")
class MaskIoU(_PerImageMean):
    """Intersection over union of the primary map binarised at ``threshold``, per image, averaged;
    1 when both the prediction and the mask are empty.

    Args:
        threshold: binarisation threshold of the prediction.
        name: metric name.
        dtype: float32.
    """

    def __init__(self, threshold: float = 0.5, name: str = "iou", dtype: str | None = "float32"):
        super().__init__(name=name, dtype=dtype)
        if not 0 < float(threshold) < 1:
            raise ValueError(f"threshold: expected a number in (0, 1), got {threshold!r}")
        self.threshold = float(threshold)

    def per_image(self, y_true, y_pred):
        prediction = tf.cast(y_pred >= self.threshold, tf.float32)
        tp, predicted, actual = _binary_counts(y_true, prediction)
        union = predicted + actual - tp
        return tf.where(union == 0, tf.ones_like(tp), tf.math.divide_no_nan(tp, union))

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def default_metrics(fbeta_threshold: float | str = 0.5) -> list[keras.metrics.Metric]:
    """``[MaskMAE(), FBeta(fbeta_threshold), MaskIoU()]`` (logged as ``mae``, ``fbeta``, ``iou``)."""
    return [MaskMAE(), FBeta(threshold=fbeta_threshold), MaskIoU()]


@keras.saving.register_keras_serializable(package="RMBG")
class UnknownRegionL1(keras.metrics.Mean):
    """Matting: the mean absolute alpha error of the primary map over the trimap's unknown region,
    per image, averaged (:class:`~RMBG.training.matting_losses.UnknownL1` of channel 0 alone).

    ``y_true`` is the packed matting target of :func:`~RMBG.training.matting_losses.pack_targets`.
    """

    def __init__(self, name: str = "unknown_l1", dtype: str | None = "float32"):
        super().__init__(name=name, dtype=dtype or "float32")
        self._per_image = UnknownL1()

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._per_image.call(tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)[..., :1])
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": "float32"}
