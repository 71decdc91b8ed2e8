"""Distribution: which strategy a run uses, which worker this process is, and the Keras 3
multi-worker work-around.

``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` is set (it must then be the first TensorFlow
work of the process), ``MirroredStrategy`` when several GPUs are visible, the default strategy
otherwise. Only the chief writes the run folder; other workers write to
``run_dir/.workers/<type>_<index>``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras
import tensorflow as tf


def _tf_config() -> dict[str, Any] | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG: not valid JSON ({error}); see docs/training.md for the format") from None
    if not isinstance(value, dict) or "cluster" not in value or "task" not in value:
        raise ValueError(f"TF_CONFIG: expected {{'cluster': {{...}}, 'task': {{'type': ..., 'index': ...}}}}, got {raw!r}")
    return value


def worker_identity() -> tuple[str, int, bool]:
    """``(task type, task index, is chief)`` from ``TF_CONFIG`` (``("chief", 0, True)`` without it)."""
    config = _tf_config()
    if config is None:
        return "chief", 0, True
    task = config["task"]
    task_type, index = str(task.get("type", "worker")), int(task.get("index", 0))
    has_chief = "chief" in config["cluster"]
    chief = task_type == "chief" or (not has_chief and task_type == "worker" and index == 0)
    return task_type, index, chief


def select_strategy() -> tf.distribute.Strategy:
    """``MultiWorkerMirroredStrategy`` if ``TF_CONFIG`` is set, ``MirroredStrategy`` with several
    GPUs, else the default strategy. Call it before any other TensorFlow work in the process."""
    if _tf_config() is not None:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def adapt_for_multi_worker(model: keras.Model, batches: tf.data.Dataset, strategy: tf.distribute.Strategy) -> None:
    """Work around two Keras 3 bugs with ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585),
    for this model instance only.

    1. Before ``fit``/``evaluate``, Keras ``strategy.reduce``-s a whole ``(images, masks)`` batch
       to build the compiled metrics symbolically, which the collective strategy cannot do for a
       tuple ("Attempt to convert a value (PerReplica...)"). We build them here from a local
       batch, as that step would, and make the step a no-op.
    2. After each step Keras reduces every log value with ``strategy.reduce("MEAN", v, axis=0)``,
       which fails for scalar losses and metrics. The steps here return them with shape ``(1,)``,
       so that reduction is the mean over all replicas of all workers, a scalar: every worker
       sees the same logs, so the callbacks (best checkpoint, early stopping) agree.

    Raises:
        RuntimeError: the model's optimizer or metrics could not be built.
    """
    images, masks = next(iter(batches))
    with strategy.scope():
        model._symbolic_build(data_batch=(images, masks))
    if not model.optimizer.built or (model._compile_metrics is not None and not model._compile_metrics.built):
        raise RuntimeError("multi-worker: the model could not be built before fit (keras-team/keras#20585)")
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    train_step, test_step = model.train_step, model.test_step

    def as_vectors(logs):
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}

    model.train_step = lambda data: as_vectors(train_step(data))
    model.test_step = lambda data: as_vectors(test_step(data))
