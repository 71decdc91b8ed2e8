"""Training tasks: what each kind of model trains on, with which loss and which metrics.

:func:`~RMBG.training.trainer.train` is the one training loop (run folder, resume, callbacks,
distribution, tracking); a :class:`Task` supplies the parts that differ:

================  ======================================  ==================  =====================
task              data                                    loss                metrics
================  ======================================  ==================  =====================
``segmentation``  photos + masks of an index CSV,         ``deep_bce`` /      ``mae``, ``fbeta``,
                  augmented (:mod:`RMBG.data.pipeline`)   ``hybrid``          ``iou``
``matting``       composites made from exact alphas       ``matting``         ``unknown_l1``
                  (:mod:`RMBG.training.matting_data`)     (``fba`` for
                                                          ``fba_matting``)
``refinement``    photos + perturbed masks of an index    ``refinement``      ``mae``, ``iou``
                  CSV
================  ======================================  ==================  =====================

The matting and refinement samples are made once per run in memory and streamed by the same
seeded, resumable batcher as segmentation (:func:`RMBG.data.pipeline.training_dataset`), so a
resumed run sees the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from RMBG.data.index import read_index
from RMBG.data.pipeline import evaluation_dataset, load_dataset, training_dataset
from RMBG.inference.image_io import load_image, load_mask
from RMBG.registry import model_info
from RMBG.training.config import TrainConfig
from RMBG.training.losses import get_loss
from RMBG.training.matting_data import fba_training_inputs, matting_samples, refiner_samples
from RMBG.training.matting_losses import FBALoss, MattingLoss, RefinementLoss
from RMBG.training.metrics import MaskIoU, MaskMAE, UnknownRegionL1, default_metrics


@dataclass
class TaskData:
    """The datasets of a run.

    Attributes:
        train: the endless stream of training batches (``fit(..., steps_per_epoch=steps)``).
        steps: batches per epoch.
        val: the validation batches (one pass).
        calibration: unaugmented training batches (recalibrating folded BatchNorm), or ``None``.
        baseline: validation metrics of the input alone (e.g. the coarse mask itself), or ``None``.
    """

    train: tf.data.Dataset
    steps: int
    val: tf.data.Dataset
    calibration: tf.data.Dataset | None = None
    baseline: dict[str, float] | None = None


class Task:
    """A training task (subclasses: one per entry of :data:`~RMBG.training.config.TASKS`)."""

    name = ""
    #: Channels of the model's input: RGB, or RGB + trimap / coarse mask.
    input_channels = 3

    def check_model(self, config: TrainConfig) -> None:
        """Refuse a model registered for another task.

        Raises:
            ValueError: naming the model, its task and the fix.
        """
        registered = model_info(config.model).task
        if registered != self.name:
            raise ValueError(
                f"task: model {config.model!r} is a {registered} model, the config says task: {self.name}; "
                f"set task: {registered} (or a {self.name} model)"
            )

    def builder_overrides(self, config: TrainConfig) -> dict[str, Any]:
        """Builder arguments from the config (the preset's are replaced by them)."""
        return dict(config.model_overrides)

    def data(self, config: TrainConfig, model: keras.Model, initial_epoch: int) -> TaskData:  # pragma: no cover
        """The run's datasets; ``initial_epoch`` > 0 skips the batches of the epochs already run."""
        raise NotImplementedError

    def loss(self, config: TrainConfig) -> keras.losses.Loss:  # pragma: no cover
        """The training loss of ``config.loss``."""
        raise NotImplementedError

    def metrics(self, config: TrainConfig) -> list[keras.metrics.Metric]:  # pragma: no cover
        """The compiled metrics (logged per epoch, with ``val_`` for validation)."""
        raise NotImplementedError


class SegmentationTask(Task):
    """Photo -> mask, from the index CSV of ``config.data``, at the model's size."""

    name = "segmentation"

    def builder_overrides(self, config: TrainConfig) -> dict[str, Any]:
        overrides = dict(config.model_overrides)
        if config.image_size is not None:
            overrides["image_size"] = tuple(config.image_size)
        return overrides

    def data(self, config: TrainConfig, model: keras.Model, initial_epoch: int) -> TaskData:
        if model.image_size is None:
            raise ValueError(
                f"image_size: model {config.model!r} takes any size; set image_size: [height, width] in the config"
            )
        options = dict(
            interpolation=model.converter.interpolation, decoder=config.decoder, binary_masks=config.binary_masks,
            cache=config.cache, deterministic=config.deterministic,
        )
        train_samples, train_rows = load_dataset(config.data, model.image_size, splits=config.train_split, **options)
        val_samples, _ = load_dataset(config.data, model.image_size, splits=config.val_split, **options)
        train, steps = training_dataset(
            train_samples, len(train_rows), batch_size=config.batch_size, initial_epoch=initial_epoch,
            steps_per_epoch=config.steps_per_epoch, augment=config.augment, seed=config.seed,
            deterministic=config.deterministic,
        )
        val = evaluation_dataset(val_samples, batch_size=config.batch_size, deterministic=config.deterministic)
        calibration = evaluation_dataset(train_samples, batch_size=config.batch_size).take(config.calibration_batches)
        return TaskData(train=train, steps=steps, val=val, calibration=calibration)

    def loss(self, config: TrainConfig) -> keras.losses.Loss:
        return get_loss(config.loss, side_weight=config.side_weight)

    def metrics(self, config: TrainConfig) -> list[keras.metrics.Metric]:
        return default_metrics(config.fbeta_threshold)


def _square_size(config: TrainConfig) -> int:
    size = config.image_size
    if size is None or size[0] != size[1] or size[0] < 16:
        raise ValueError(
            f"image_size: the {config.task} task trains on square crops of at least 16 pixels; "
            f"set image_size: [96, 96] (got {size!r})"
        )
    return int(size[0])


def _index_arrays(config: TrainConfig, splits: str | None, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Photos ``(N, size, size, 3)`` float32 [0, 255] and masks ``(N, size, size)`` of the index
    CSV's ``splits`` (all rows for ``None``), masks thresholded at 0.5 at the photo's size and again
    after resizing."""
    samples, rows = load_dataset(
        config.data, (size, size), splits=splits, decoder=config.decoder, binary_masks=True, cache=False,
    )
    if len(rows) == 0:
        raise ValueError(f"data: '{config.data}' has no rows in split(s) {splits!r}")
    photos, masks = zip(*[(np.asarray(i), np.asarray(m)[..., 0]) for i, m in samples])
    return np.stack(photos).astype(np.float32), (np.stack(masks) > 0.5).astype(np.float32)


def _stream(config: TrainConfig, inputs: np.ndarray | dict[str, np.ndarray], targets: np.ndarray, initial_epoch: int):
    samples = tf.data.Dataset.from_tensor_slices((inputs, targets))
    return training_dataset(
        samples, len(targets), batch_size=config.batch_size, initial_epoch=initial_epoch,
        steps_per_epoch=config.steps_per_epoch, augment=None, seed=config.seed, deterministic=config.deterministic,
    )


#: The matting family whose network takes FBA's three inputs and returns alpha, F and B (7 channels).
FBA_FAMILY = "fba_matting"


def _is_fba(config: TrainConfig) -> bool:
    return model_info(config.model).family == FBA_FAMILY


class MattingTask(Task):
    """Photo + trimap -> alpha, on composites of :func:`~RMBG.training.matting_data.matting_samples`
    (backgrounds cropped from the photos of ``config.data`` when given).

    ``fba_matting`` trains on the same composites given as FBA's three inputs
    (:func:`~RMBG.training.matting_data.fba_training_inputs`) with ``loss: fba``
    (:class:`~RMBG.training.matting_losses.FBALoss`: alpha, foreground and background); the other
    matting models take ``(N, H, W, 4)`` with ``loss: matting``.
    """

    name = "matting"
    input_channels = 4

    def check_model(self, config: TrainConfig) -> None:
        """Also refuse a loss the model's outputs do not fit (FBA: 7 channels, ``fba``; else ``matting``)."""
        super().check_model(config)
        wanted = "fba" if _is_fba(config) else "matting"
        if config.loss != wanted:
            what = ("its 7-channel output (alpha, foreground, background) trains with FBALoss" if wanted == "fba"
                    else "it predicts alpha alone (FBALoss needs alpha, foreground and background)")
            raise ValueError(f"loss: model {config.model!r}: {what}; set loss: {wanted}, got loss: {config.loss}")
        size = _square_size(config)
        if wanted == "fba" and size % 8:
            fit = -(-size // 8) * 8
            raise ValueError(f"image_size: FBA matting needs sides that are multiples of 8, got {size}; use e.g. [{fit}, {fit}]")

    def _foregrounds(self, config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
        """The real ``(photo, alpha)`` pairs of the ``foregrounds`` index CSV (all rows)."""
        if config.foregrounds is None:
            return []

        rows = read_index(config.foregrounds, None, check_files=True)
        pairs = []
        for image_path, alpha_path in zip(rows.images, rows.masks):
            image, alpha = load_image(image_path), load_mask(alpha_path)
            if alpha.shape != image.shape[:2]:
                raise ValueError(
                    f"foregrounds: the alpha '{alpha_path}' is {alpha.shape}, its photo {image.shape[:2]}; "
                    "resize the alphas to their photos (python -m Preprocess validate --fix-size)"
                )
            pairs.append((image, np.clip(alpha, 0.0, 1.0).astype(np.float32)))
        return pairs

    def data(self, config: TrainConfig, model: keras.Model, initial_epoch: int) -> TaskData:


        size = _square_size(config)
        fba = _is_fba(config)
        backgrounds = _index_arrays(config, None, max(128, 2 * size))[0] if config.data else None
        options = dict(backgrounds=backgrounds, foregrounds=self._foregrounds(config), max_band=config.max_band)
        x_train, y_train = matting_samples(config.samples, size, seed=config.seed, **options)
        x_val, y_val = matting_samples(config.val_samples, size, seed=config.seed + 10_000, **options)
        if fba:
            x_train, x_val = fba_training_inputs(x_train), fba_training_inputs(x_val)
        train, steps = _stream(config, x_train, y_train, initial_epoch)
        val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(config.batch_size)
        unknown = y_val[..., 1]
        # what the trimap alone says: 0.5 everywhere in the unknown band
        baseline = {"unknown_l1": float(np.sum(np.abs(0.5 - y_val[..., 0]) * unknown) / max(unknown.sum(), 1.0))}
        return TaskData(train=train, steps=steps, val=val, baseline=baseline)

    def loss(self, config: TrainConfig) -> keras.losses.Loss:

        if config.loss == "fba":
            return FBALoss()
        return MattingLoss(composition_weight=0.5, laplacian_weight=1.0)

    def metrics(self, config: TrainConfig) -> list[keras.metrics.Metric]:
        return [UnknownRegionL1()]


class RefinementTask(Task):
    """Photo + coarse mask -> mask: the photos and masks of ``config.data``'s splits, each with
    ``samples / photos`` perturbed masks (:func:`~RMBG.training.matting_data.perturb_mask`)."""

    name = "refinement"
    input_channels = 4

    def data(self, config: TrainConfig, model: keras.Model, initial_epoch: int) -> TaskData:
        size = _square_size(config)
        photos, masks = _index_arrays(config, config.train_split, size)
        val_photos, val_masks = _index_arrays(config, config.val_split, size)
        x_train, y_train = refiner_samples(photos, masks, max(1, config.samples // len(photos)), seed=config.seed)
        per_val = max(1, config.val_samples // len(val_photos))
        x_val, y_val = refiner_samples(val_photos, val_masks, per_val, seed=config.seed + 10_000)
        train, steps = _stream(config, x_train, y_train, initial_epoch)
        val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(config.batch_size)
        coarse, truth = x_val[..., 3], y_val[..., 0]
        inter = ((coarse > 0.5) & (truth > 0.5)).sum(axis=(1, 2))
        union = ((coarse > 0.5) | (truth > 0.5)).sum(axis=(1, 2))
        baseline = {  # the coarse input mask itself
            "mae": float(np.mean(np.abs(coarse - truth))),
            "iou": float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0))),
        }
        return TaskData(train=train, steps=steps, val=val, baseline=baseline)

    def loss(self, config: TrainConfig) -> keras.losses.Loss:
        return RefinementLoss()

    def metrics(self, config: TrainConfig) -> list[keras.metrics.Metric]:
        return [MaskMAE(), MaskIoU()]


#: The task of each ``TrainConfig.task``.
TASK_CLASSES: dict[str, type[Task]] = {
    SegmentationTask.name: SegmentationTask, MattingTask.name: MattingTask, RefinementTask.name: RefinementTask,
}


def get_task(name: str) -> Task:
    """The :class:`Task` of ``name``.

    Raises:
        ValueError: an unknown task, naming the valid ones.
    """
    if name not in TASK_CLASSES:
        raise ValueError(f"task: expected one of {sorted(TASK_CLASSES)}, got {name!r}")
    return TASK_CLASSES[name]()
