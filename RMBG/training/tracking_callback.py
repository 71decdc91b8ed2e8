"""The Keras callback that sends each epoch's logs to a :class:`~RMBG.tracking.tracker.Tracker`."""

from __future__ import annotations

from pathlib import Path

import keras

from RMBG.tracking.tracker import Tracker
from RMBG.training.run_dir import read_log


def _learning_rate(model: keras.Model) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None


class TrackingCallback(keras.callbacks.Callback):
    """Log every epoch's losses, metrics and learning rate at step ``epoch`` (0-based, as in
    ``log.csv``).

    The trainer puts it after ``BackupAndRestore``: an epoch reaches MLflow only once it is backed
    up, so a run killed and resumed never logs an epoch twice; an epoch backed up but killed before
    it was logged is sent by :func:`log_missing_epochs` when the run resumes.
    """

    def __init__(self, tracker: Tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        values = dict(logs or {})
        if "learning_rate" not in values:
            rate = _learning_rate(self.model)
            if rate is not None:
                values["learning_rate"] = rate
        self.tracker.log_metrics(values, step=epoch)


def log_missing_epochs(tracker: Tracker, log_csv: Path) -> int:
    """Send the rows of ``log_csv`` whose epoch the run does not have yet, per column; returns the
    number of values sent (so a resumed run's curves have every completed epoch exactly once)."""
    if not tracker.enabled:
        return 0
    columns = read_log(log_csv)
    epochs = columns.pop("epoch", [])
    sent = 0
    for key, values in columns.items():
        logged = tracker.logged_steps(key)
        for epoch, value in zip(epochs, values):
            if epoch not in logged:
                tracker.log_metrics({key: value}, step=epoch)
                sent += 1
    return sent
