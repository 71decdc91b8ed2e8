"""Building and compiling a run's model: precision policy, the task's loss and metrics, the
optimizer and its learning-rate schedule."""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras
import tensorflow as tf

from RMBG.registry import create_model
from RMBG.training.config import TrainConfig
from RMBG.training.tasks import get_task


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Set Keras's global dtype policy to ``name`` inside the block and restore the previous one
    (so a run's precision never leaks into the caller's later models)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(config: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> keras.Model:
    """Create the config's model under its precision policy (restored afterwards) and strategy,
    with the official weights (``pretrained``) or those of the ``weights`` file placed strictly."""
    strategy = strategy or tf.distribute.get_strategy()
    overrides = get_task(config.task).builder_overrides(config)
    with strategy.scope(), dtype_policy(config.precision):
        return create_model(config.model, pretrained=config.pretrained, weights=config.weights, **overrides)


def _learning_rate(config: TrainConfig, steps_per_epoch: int | None):
    if config.lr_schedule == "constant":
        return config.learning_rate
    steps = steps_per_epoch or config.steps_per_epoch
    if not steps:
        raise ValueError("lr_schedule: a cosine schedule needs the steps per epoch; pass steps_per_epoch")
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, steps * config.epochs, alpha=config.lr_final_fraction)


def compile_model(
    model: keras.Model,
    config: TrainConfig,
    strategy: tf.distribute.Strategy | None = None,
    steps_per_epoch: int | None = None,
) -> keras.Model:
    """Compile with Adam, the task's loss and metrics, inside ``strategy``'s scope.

    Args:
        model: the model to compile.
        config: the run's settings (``task``, ``loss``, learning rate and schedule, Adam's betas).
        strategy: the distribution strategy (default: the current one).
        steps_per_epoch: batches per epoch, for ``lr_schedule: cosine`` (default ``config.steps_per_epoch``).
    """
    strategy = strategy or tf.distribute.get_strategy()
    task = get_task(config.task)
    with strategy.scope():
        optimizer = keras.optimizers.Adam(
            learning_rate=_learning_rate(config, steps_per_epoch), beta_1=config.beta_1, beta_2=config.beta_2,
            epsilon=config.epsilon,
        )
        model.compile(optimizer=optimizer, loss=task.loss(config), metrics=task.metrics(config),
                      jit_compile=config.jit_compile, run_eagerly=config.run_eagerly)
        # Create the optimizer's slots now: created during the first trace of the train step,
        # they make TensorFlow trace it twice (minutes for U^2-Net on a small CPU).
        model.optimizer.build(model.trainable_variables)
    return model
