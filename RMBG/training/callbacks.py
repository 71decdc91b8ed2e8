"""Callbacks that make a run resumable after any interruption, SIGKILL included.

Keras's ``BackupAndRestore`` restores the weights, the optimizer (learning rate included) and the
epoch. Two more things need care so that a resumed run behaves as if it had never stopped:

* the state of the plateau callbacks (the best ``val_loss`` so far, how many epochs without
  improvement, the cool-down) — :class:`ResumableEarlyStopping` and
  :class:`ResumableReduceLROnPlateau` save it after every epoch, keyed by epoch, and restore the
  entry of the epoch the run resumes at;
* checkpoints must never be half-written, and the best one must only be replaced by a better one
  after a resume — :class:`AtomicCheckpoint` writes to a temporary file and renames it, and keeps
  its best value the same way.

:class:`ScalarTensorBoard` writes epoch scalars in TensorFlow's event format with TensorFlow alone;
:class:`SyncBatchNormStatistics` keeps BatchNorm statistics identical across replicas.

The trainer orders the callbacks so that ``BackupAndRestore`` saves last at the end of an epoch:
a kill between two callbacks leaves a backup of the previous epoch, the epoch is re-run, and the
CSV log rows of the interrupted epoch are dropped before it is.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from RMBG.atomic import atomic_path, atomic_write_bytes

#: How many epochs of callback state are kept in a state file.
_KEPT_STATES = 5


def _write_json_atomic(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=1).encode("utf-8"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return np.asarray(value).item()
    return value


class _EpochStateMixin:
    """Saves a callback's state after each epoch under the number of epochs completed."""

    state_path: str | None
    restore_epoch: int
    _state_fields: tuple[str, ...] = ()

    def _save_state(self, epochs_completed: int) -> None:
        if not self.state_path:
            return
        path = Path(self.state_path)
        states = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        states[str(epochs_completed)] = {name: _jsonable(getattr(self, name)) for name in self._state_fields}
        kept = sorted(states, key=int)[-_KEPT_STATES:]
        _write_json_atomic(path, {k: states[k] for k in kept})

    def _restore_state(self) -> None:
        if not self.state_path or self.restore_epoch <= 0:
            return
        path = Path(self.state_path)
        states = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        state = states.get(str(self.restore_epoch))
        if state is None:
            print(
                f"{type(self).__name__}: no saved state for epoch {self.restore_epoch} in '{path}'; "
                "its patience counting restarts at this epoch"
            )
            return
        for name, value in state.items():
            setattr(self, name, value)


class _ResumableCallback(_EpochStateMixin):
    """Makes a stock Keras callback resumable: its ``_state_fields`` are saved after every epoch
    and restored when a run resumes. Mixed in before the Keras class, whose kwargs it passes on."""

    def __init__(self, state_path: str | None = None, restore_epoch: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.state_path = str(state_path) if state_path else None
        self.restore_epoch = int(restore_epoch)
        self._kwargs = dict(kwargs)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._restore_state()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._save_state(epoch + 1)

    def get_config(self):
        return {"state_path": self.state_path, "restore_epoch": self.restore_epoch, **self._kwargs}


@keras.saving.register_keras_serializable(package="RMBG")
class ResumableEarlyStopping(_ResumableCallback, keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` whose patience counting survives a resume.

    Args:
        state_path: JSON file for the per-epoch state (``None``: not resumable).
        restore_epoch: the epoch the run resumes at (0: a fresh run).
        **kwargs: ``EarlyStopping`` arguments (``monitor``, ``patience``, ``min_delta``, ``mode``...).
            ``restore_best_weights`` is not supported (the best model is ``best.keras``).
    """

    _state_fields = ("wait", "best", "best_epoch", "stopped_epoch")

    def __init__(self, state_path: str | None = None, restore_epoch: int = 0, **kwargs):
        if kwargs.get("restore_best_weights"):
            raise ValueError("restore_best_weights: not supported by a resumable run; load best.keras instead")
        super().__init__(state_path, restore_epoch, **kwargs)


@keras.saving.register_keras_serializable(package="RMBG")
class ResumableReduceLROnPlateau(_ResumableCallback, keras.callbacks.ReduceLROnPlateau):
    """``keras.callbacks.ReduceLROnPlateau`` whose plateau counting survives a resume (the learning
    rate itself is restored with the optimizer by ``BackupAndRestore``).

    Args:
        state_path: JSON file for the per-epoch state (``None``: not resumable).
        restore_epoch: the epoch the run resumes at (0: a fresh run).
        **kwargs: ``ReduceLROnPlateau`` arguments.
    """

    _state_fields = ("wait", "best", "cooldown_counter")


@keras.saving.register_keras_serializable(package="RMBG")
class AtomicCheckpoint(_EpochStateMixin, keras.callbacks.Callback):
    """Save the whole model (``.keras``) at the end of an epoch, atomically.

    The model is written to a temporary ``.keras`` file in the same folder and renamed over
    ``filepath``, so a crash never leaves a truncated checkpoint.

    Args:
        filepath: the ``.keras`` file to write.
        monitor: the log value that decides "best" (with ``save_best_only``).
        mode: ``"min"`` or ``"max"``.
        save_best_only: only save when ``monitor`` improved on the best value so far.
        state_path: JSON file keeping the best value per epoch, so a resumed run only replaces
            the checkpoint with a better model (``None``: not resumable).
        restore_epoch: the epoch the run resumes at (0: a fresh run).
        verbose: print a line when saving.
    """

    _state_fields = ("best", "best_epoch")

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        mode: str = "min",
        save_best_only: bool = False,
        state_path: str | None = None,
        restore_epoch: int = 0,
        verbose: int = 0,
    ):
        super().__init__()
        if not str(filepath).endswith(".keras"):
            raise ValueError(f"filepath: expected a path ending in '.keras', got {filepath!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        self.filepath = str(filepath)
        self.monitor = monitor
        self.mode = mode
        self.save_best_only = bool(save_best_only)
        self.state_path = str(state_path) if state_path else None
        self.restore_epoch = int(restore_epoch)
        self.verbose = int(verbose)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch = None, None
        self._restore_state()

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(
                    f"monitor: {self.monitor!r} is not in the epoch logs {sorted(logs)}; "
                    "give fit() validation data or monitor a training value"
                )
            value = float(value)
            if math.isfinite(value) and self._improved(value):
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved to {value:.5f}, saving {self.filepath}")
                self._save()
                self.best, self.best_epoch = value, epoch
        else:
            self._save()
        self._save_state(epoch + 1)

    def _save(self) -> None:
        with atomic_path(self.filepath, suffix=".keras") as temporary:  # Keras needs the .keras suffix
            self.model.save(temporary)

    def get_config(self):
        return {
            "filepath": self.filepath, "monitor": self.monitor, "mode": self.mode,
            "save_best_only": self.save_best_only, "state_path": self.state_path,
            "restore_epoch": self.restore_epoch, "verbose": self.verbose,
        }


@keras.saving.register_keras_serializable(package="RMBG")
class SyncBatchNormStatistics(keras.callbacks.Callback):
    """Average the BatchNorm moving statistics over all replicas at the end of every epoch.

    Under a distribution strategy every replica updates its own copy of a BatchNorm layer's
    moving mean and variance from its own shard of each batch (Keras creates them with
    aggregation ``"none"``), so the copies drift apart and each worker would checkpoint different
    statistics. This all-reduces them (mean) on every replica, before the checkpoints of the
    epoch are written (the trainer puts it first), so all workers save the same model. The trainable
    weights need nothing: their gradients are all-reduced every step. A no-op with one replica.
    """

    def __init__(self):
        super().__init__()
        self._sync = None

    def on_epoch_end(self, epoch, logs=None):
        self.synchronize()

    def synchronize(self) -> None:
        """All-reduce the moving statistics now (a collective: every worker must call it)."""
        strategy = self.model.distribute_strategy
        if strategy.num_replicas_in_sync < 2:
            return
        if self._sync is None:
            variables = [
                variable
                for layer in self.model._flatten_layers(include_self=False)
                if isinstance(layer, keras.layers.BatchNormalization) and layer.built
                for variable in (layer.moving_mean, layer.moving_variance)
            ]

            def average():
                context = tf.distribute.get_replica_context()
                for variable in variables:
                    local = tf.identity(variable.value)  # this replica's copy, as a tensor
                    variable.assign(context.all_reduce("MEAN", local))

            self._sync = tf.function(lambda: strategy.run(average))
        self._sync()

    def get_config(self):
        return {}


def _scalar_metadata():
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"  # content: ScalarPluginData version 0, i.e. empty
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return metadata


@keras.saving.register_keras_serializable(package="RMBG")
class ScalarTensorBoard(keras.callbacks.Callback):
    """Epoch scalars (losses, metrics, learning rate) as TensorBoard event files, using TensorFlow
    alone (``keras.callbacks.TensorBoard`` needs the separate ``tensorboard`` package).

    The layout matches Keras's: ``<log_dir>/train`` and ``<log_dir>/validation`` with tags
    ``epoch_loss``, ``epoch_iou``..., so ``tensorboard --logdir <log_dir>`` shows the usual curves.

    Args:
        log_dir: the event file folder.
    """

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = str(log_dir)
        self._writers: dict[str, Any] = {}

    def on_train_begin(self, logs=None):
        self._writers = {
            "train": tf.summary.create_file_writer(os.path.join(self.log_dir, "train")),
            "validation": tf.summary.create_file_writer(os.path.join(self.log_dir, "validation")),
        }

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if "learning_rate" not in logs and self.model is not None and self.model.optimizer is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        metadata = _scalar_metadata()
        for key, value in logs.items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writers[split].as_default():
                tf.summary.write(f"epoch_{name}", tf.constant(float(value), tf.float32), step=epoch, metadata=metadata)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def get_config(self):
        return {"log_dir": self.log_dir}
