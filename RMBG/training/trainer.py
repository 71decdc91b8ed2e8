"""``train(config) -> TrainResult``: the one resumable training loop, for every task.

A :class:`~RMBG.training.tasks.Task` supplies the data, the loss and the metrics (segmentation,
matting, refinement); everything else is shared: the run folder (:mod:`RMBG.training.run_dir`),
provenance (:mod:`RMBG.training.provenance`), fine-tuning surgery (:mod:`RMBG.training.finetune`),
distribution (:mod:`RMBG.training.distribute`), the resumable callbacks and, optionally, MLflow
tracking (:mod:`RMBG.tracking`). The run folder's files, resuming, mixed precision and
multi-worker training are described in ``docs/training.md``.

Resuming: re-running with the same ``run_dir`` (after a crash, a ``kill -9``, a pre-emption, or
to train for more epochs) continues at the first epoch that was not backed up, with the same
weights, optimizer state, learning rate, patience counters, best value, data order and MLflow run.
Only ``epochs`` may differ from the saved config; any other difference is an error.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import keras
import tensorflow as tf

from RMBG.data.pipeline import evaluation_dataset, load_dataset
from RMBG.tracking.options import TrackingOptions
from RMBG.tracking.tracker import Tracker, start_tracker
from RMBG.training.build import build_model, compile_model, dtype_policy  # noqa: F401  (re-exported)
from RMBG.training.callbacks import (
    AtomicCheckpoint,
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
    ScalarTensorBoard,
    SyncBatchNormStatistics,
)
from RMBG.training.config import TrainConfig
from RMBG.training.distribute import adapt_for_multi_worker, select_strategy, worker_identity
from RMBG.training.finetune import (  # noqa: F401  (re-exported: the fine-tuning API of RMBG.training)
    encoder_layers,
    folded_batchnorm_layers,
    freeze_batchnorm,
    freeze_encoder,
    recalibrate_folded_batchnorm,
)
from RMBG.training.metrics import FBeta, MaskIoU, MaskMAE
from RMBG.training.provenance import environment_versions, file_checksum, git_revision
from RMBG.training.run_dir import (  # noqa: F401  (re-exported for callers of the trainer)
    RESUMABLE_CHANGES,
    RUN_FILES,
    backed_up_epoch,
    check_resume,
    read_json,
    read_log,
    run_paths,
    trim_log,
    write_json,
)
from RMBG.training.tasks import Task, TaskData, get_task
from RMBG.training.tracking_callback import TrackingCallback, log_missing_epochs


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the folder this process wrote (the chief's ``run_dir``).
        model: the trained model holding the best weights (those of ``best.keras``; the final
            weights if no epoch was validated), compiled.
        history: every epoch's log values, from the CSV log (epochs before a resume included).
        metrics: validation metrics of ``model`` (segmentation: ``loss``, ``mae``, ``fbeta``, ``iou``).
        initial_epoch: the epoch this call started at (> 0 when it resumed).
        epochs_completed: epochs completed in the run so far.
        stopped_early: early stopping ended the run.
        paths: the run's files (see :data:`RUN_FILES`).
        initial_metrics: validation metrics of the starting model before fine-tuning
            (``None`` without ``pretrained`` or ``weights``).
        tracking_run_id: the MLflow run of this training run (``None`` when untracked).
    """

    run_dir: Path
    model: keras.Model
    history: dict[str, list[float]]
    metrics: dict[str, float]
    initial_epoch: int
    epochs_completed: int
    stopped_early: bool
    paths: dict[str, Path]
    initial_metrics: dict[str, float] | None = None
    tracking_run_id: str | None = None


def _callbacks(
    config: TrainConfig, paths: dict[str, Path], initial_epoch: int, verbose: int, replicas: int, tracker: Tracker
) -> list[keras.callbacks.Callback]:
    """The run's callbacks, in an order that matters: the plateau callbacks add ``learning_rate``
    to the logs before the CSV row is written; ``BackupAndRestore`` saves after the checkpoints,
    so a kill mid-way re-runs the epoch; tracking comes last, so an epoch is sent once backed up."""
    state = paths["state"]
    callbacks: list[keras.callbacks.Callback] = []
    if replicas > 1:  # first: every checkpoint of the epoch then holds the averaged statistics
        callbacks.append(SyncBatchNormStatistics())
    if config.reduce_lr_patience > 0:
        callbacks.append(ResumableReduceLROnPlateau(
            state_path=state / "reduce_lr.json", restore_epoch=initial_epoch, monitor="val_loss", mode="min",
            factor=config.reduce_lr_factor, patience=config.reduce_lr_patience, min_lr=config.reduce_lr_min,
            verbose=min(verbose, 1),
        ))
    if config.early_stopping_patience > 0:
        callbacks.append(ResumableEarlyStopping(
            state_path=state / "early_stopping.json", restore_epoch=initial_epoch, monitor="val_loss", mode="min",
            patience=config.early_stopping_patience, verbose=min(verbose, 1),
        ))
    callbacks.append(keras.callbacks.CSVLogger(str(paths["log"]), append=True))
    callbacks.append(AtomicCheckpoint(
        str(paths["best"]), monitor="val_loss", mode="min", save_best_only=True,
        state_path=state / "best.json", restore_epoch=initial_epoch, verbose=min(verbose, 1),
    ))
    callbacks.append(AtomicCheckpoint(str(paths["last"])))
    if config.tensorboard == "scalars":
        callbacks.append(ScalarTensorBoard(str(paths["tensorboard"])))
    elif config.tensorboard == "full":
        callbacks.append(keras.callbacks.TensorBoard(str(paths["tensorboard"])))
    callbacks.append(keras.callbacks.BackupAndRestore(str(paths["backup"]), double_checkpoint=True, delete_checkpoint=False))
    if tracker.enabled:
        callbacks.append(TrackingCallback(tracker))
    return callbacks


def _require_tensorboard(config: TrainConfig) -> None:
    if config.tensorboard != "full":
        return

    if importlib.util.find_spec("tensorboard") is None:
        raise ImportError(
            "tensorboard: 'full' needs the tensorboard package (pip install tensorboard); "
            "or set tensorboard: scalars (epoch curves written with TensorFlow alone) or off"
        )


def _record_provenance(config: TrainConfig, paths: dict[str, Path], strategy, identity) -> dict[str, Any]:
    """Write ``config.yaml`` and ``run_info.json``; returns the run info."""
    task_type, task_index, chief = identity
    config.to_yaml(paths["config"])
    info = {
        "git": git_revision(),
        "dataset": file_checksum("data", config.data, "give the dataset's index.csv"),
        "weights": file_checksum("weights", config.weights, "give the checkpoint the run starts from"),
        "environment": environment_versions(),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "task": {"type": task_type, "index": task_index, "chief": chief},
    }
    write_json(paths["run_info"], info)
    return info


def _start_tracking(tracking: TrackingOptions | None, config: TrainConfig, paths: dict[str, Path],
                    info: dict[str, Any]) -> Tracker:
    """The run's MLflow run (a new one, or the one a resumed run recorded in ``tracking.json``)."""
    if tracking is None or not tracking.enabled:
        return Tracker()
    git = info["git"] if isinstance(info["git"], dict) else {"commit": "unknown", "dirty": "unknown"}
    tags = {"mlflow.source.git.commit": git["commit"], "git.dirty": git["dirty"], "rmbg.task": config.task,
            "rmbg.model": config.model, "rmbg.run_dir": str(paths["config"].parent)}
    if info["dataset"] is not None:
        tags.update({"dataset.sha256": info["dataset"]["sha256"], "dataset.path": info["dataset"]["path"]})
    tracker = start_tracker(tracking, output=paths["config"].parent, kind="train", state_file=paths["tracking"], tags=tags)
    tracker.log_params(config.to_dict())
    if tracker.resumed:
        tracker.set_tags({"mlflow.source.git.commit": git["commit"], "git.dirty": git["dirty"]})
    return tracker


def _prepare_finetune(model, config: TrainConfig, data: TaskData, strategy, initial_epoch: int, verbose: int) -> None:
    """Freeze the encoder and handle folded BatchNorm of pretrained weights, as configured."""
    if config.freeze_encoder:
        frozen = freeze_encoder(model)
        if verbose:
            print(f"freeze_encoder: {frozen} encoder layers frozen")
    if not config.starts_from_weights:
        return
    folded = folded_batchnorm_layers(model)
    if folded and config.batchnorm == "freeze":
        freeze_batchnorm(folded)
    elif folded and initial_epoch == 0:  # on resume, the backup holds the calibrated values
        if data.calibration is None:
            raise ValueError(f"batchnorm: the {config.task} task has no calibration data; set batchnorm: freeze")
        with strategy.scope():
            recalibrate_folded_batchnorm(model, data.calibration, folded)
    if folded and verbose:
        done = "restored from the backup" if initial_epoch and config.batchnorm == "recalibrate" else config.batchnorm
        print(f"batchnorm: {len(folded)} folded BatchNorm layers ({done})")


def _initial_metrics(model, config: TrainConfig, data: TaskData, paths, initial_epoch: int, verbose: int):
    """The starting model's validation metrics before fine-tuning (``pretrained`` or ``weights``;
    measured once, kept in ``state/``)."""
    path = paths["state"] / "initial_metrics.json"
    if config.starts_from_weights and initial_epoch == 0:
        initial = model.evaluate(data.val, steps=config.validation_steps, return_dict=True, verbose=0)
        write_json(path, {k: float(v) for k, v in initial.items()})
        if verbose:
            print(f"{'pretrained' if config.pretrained else 'weights'} model before training: " + ", ".join(f"val_{k} {v:.4f}" for k, v in initial.items()))
    return read_json(path)


def _summarise(model, config: TrainConfig, data: TaskData, paths, callbacks, initial_epoch: int,
               previous: dict[str, Any], finished_early: bool, initial_metrics) -> dict[str, Any]:
    """Evaluate the best weights and write ``metrics.json``; returns its content."""
    if paths["best"].is_file():
        model.load_weights(paths["best"])  # the best weights, into the model whose steps are traced
    evaluation = model.evaluate(data.val, steps=config.validation_steps, return_dict=True, verbose=0)
    history = read_log(paths["log"])
    early = next((c for c in callbacks if isinstance(c, ResumableEarlyStopping)), None)
    best_state = next(c for c in callbacks if isinstance(c, AtomicCheckpoint) and c.save_best_only)
    summary = {
        "val": {k: float(v) for k, v in evaluation.items()},
        "val_initial": initial_metrics,
        "val_baseline": data.baseline,
        "best_epoch": previous.get("best_epoch") if best_state.best_epoch is None else int(best_state.best_epoch) + 1,
        "epochs_completed": int((max(history["epoch"]) + 1) if history.get("epoch") else initial_epoch),
        "stopped_early": finished_early or bool(early is not None and early.stopped_epoch > 0),
        "initial_epoch": initial_epoch,
        "steps_per_epoch": data.steps,
        "task": config.task,
        "model": config.model,
        "image_size": list(getattr(model, "image_size", None) or config.image_size or ()),  # FBA has none
        "precision": config.precision,
    }
    write_json(paths["metrics"], summary)
    return summary


def _finish_tracking(tracker: Tracker, task: Task, model, paths: dict[str, Path], summary: dict[str, Any]) -> None:
    """Final metrics, the run's files and the MLflow model, then end the run."""
    if not tracker.enabled:
        return
    tracker.log_metrics({f"final_val_{k}": v for k, v in summary["val"].items()}, step=summary["epochs_completed"])
    names = ("best", "metrics", "config", "run_info", "log")
    tracker.log_artifacts([paths[n] for n in names], artifact_path="run")
    checkpoint = paths["best"] if paths["best"].is_file() else paths["last"]
    if _takes_named_inputs(model):  # FBA: three named inputs, not the pyfunc model's one image tensor
        print(f"tracking: {model.name} takes named inputs; its checkpoint is logged under run/, not as a pyfunc model")
    else:
        tracker.log_keras_model(checkpoint, input_channels=task.input_channels, output_size=model.image_size)
    tracker.finish("FINISHED")


def _takes_named_inputs(model) -> bool:
    try:
        return isinstance(model.input, dict)
    except (AttributeError, ValueError):  # a subclassed model not called yet has no symbolic input
        return False


def _fit(model, config: TrainConfig, data: TaskData, callbacks, initial_epoch: int, verbose) -> None:
    model.fit(
        data.train, validation_data=data.val, epochs=config.epochs, initial_epoch=initial_epoch,
        steps_per_epoch=data.steps, validation_steps=config.validation_steps, callbacks=callbacks, verbose=verbose,
        shuffle=False,  # the pipeline shuffles (seeded)
    )


def train(config: TrainConfig, *, verbose: int | str = "auto", tracking: TrackingOptions | None = None) -> TrainResult:
    """Train (or resume, or fine-tune) the model of ``config``; see the module docstring.

    Args:
        config: the run's settings.
        verbose: Keras's ``fit`` verbosity (``"auto"``, 0, 1 progress bar, 2 one line per epoch).
        tracking: record the run in MLflow (the chief only); ``None`` = untracked. A store that
            cannot be used is a warning, never an error (:mod:`RMBG.tracking`).

    Python's, NumPy's and TensorFlow's global random generators are seeded with ``config.seed``
    (``keras.utils.set_random_seed``), as for any reproducible Keras run.

    Raises:
        ValueError: a bad setting, a model of another task, or a ``run_dir`` holding a run with
            other settings.
        FileNotFoundError: the dataset's CSV or files are missing.
        ImportError: ``tensorboard: full`` without the tensorboard package.
    """
    config.validate()
    _require_tensorboard(config)
    task: Task = get_task(config.task)
    task.check_model(config)
    config.check_weights()
    strategy = select_strategy()  # first: MultiWorkerMirroredStrategy must precede other TF work
    identity = worker_identity()
    run_dir = Path(config.run_dir).expanduser().resolve()
    folder = run_dir if identity[2] else run_dir / ".workers" / f"{identity[0]}_{identity[1]}"
    paths = run_paths(folder)
    folder.mkdir(parents=True, exist_ok=True)
    log_verbose = verbose if isinstance(verbose, int) else 1
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size: {config.batch_size} does not split over {strategy.num_replicas_in_sync} "
                         "replicas; use a multiple of the replica count")

    backed_up = backed_up_epoch(paths["backup"])
    initial_epoch = min(backed_up, config.epochs)
    if initial_epoch > 0 and paths["config"].is_file():
        check_resume(paths["config"], config, run_dir)
    info = _record_provenance(config, paths, strategy, identity)
    tracker = _start_tracking(tracking if identity[2] else None, config, paths, info)

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, strategy)
    data = task.data(config, model, initial_epoch)
    _prepare_finetune(model, config, data, strategy, initial_epoch, log_verbose)
    compile_model(model, config, strategy, data.steps)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        adapt_for_multi_worker(model, data.val, strategy)
    initial_metrics = _initial_metrics(model, config, data, paths, initial_epoch, log_verbose)

    trim_log(paths["log"], backed_up)  # rows of an epoch interrupted before its backup are re-run
    log_missing_epochs(tracker, paths["log"])
    previous = read_json(paths["metrics"], {})
    finished_early = bool(previous.get("stopped_early")) and previous.get("epochs_completed") == backed_up
    callbacks = _callbacks(config, paths, initial_epoch, log_verbose, strategy.num_replicas_in_sync, tracker)
    if initial_epoch > 0 and log_verbose:
        print(f"resuming '{run_dir}' at epoch {initial_epoch + 1} of {config.epochs}")
    try:
        if initial_epoch < config.epochs and not finished_early:
            _fit(model, config, data, callbacks, initial_epoch, verbose)
        summary = _summarise(model, config, data, paths, callbacks, initial_epoch, previous, finished_early, initial_metrics)
    except BaseException as error:
        tracker.finish("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    _finish_tracking(tracker, task, model, paths, summary)
    return TrainResult(
        run_dir=folder, model=model, history=read_log(paths["log"]), metrics=summary["val"],
        initial_epoch=initial_epoch, epochs_completed=summary["epochs_completed"],
        stopped_early=summary["stopped_early"], paths=paths, initial_metrics=initial_metrics,
        tracking_run_id=tracker.run_id,
    )


def evaluate_masks(
    model: keras.Model,
    index_csv: str | os.PathLike,
    splits: str | Sequence[str] = "val",
    *,
    batch_size: int = 8,
    fbeta_threshold: float | str = 0.5,
    decoder: str = "pil",
    binary_masks: bool = False,
) -> dict[str, float]:
    """MAE, F-beta and IoU of ``model``'s inference output (``training=False``) on a split, at the
    model's size (masks resized to it), with the training metrics of :mod:`RMBG.training.metrics`.

    Useful before and after fine-tuning; the full protocol at the photo's size is
    :mod:`RMBG.evaluation`.

    Raises:
        ValueError: the model takes any size (build it with ``image_size``).
    """
    if model.image_size is None:
        raise ValueError("model: it takes any size; evaluate it at a fixed size by building it with image_size")
    samples, _ = load_dataset(
        index_csv, model.image_size, splits=splits, interpolation=model.converter.interpolation,
        decoder=decoder, binary_masks=binary_masks, cache=False,
    )
    metrics = [MaskMAE(), FBeta(threshold=fbeta_threshold), MaskIoU()]
    for images, masks in evaluation_dataset(samples, batch_size=batch_size):
        prediction = model(images, training=False)
        for metric in metrics:
            metric.update_state(masks, prediction)
    return {metric.name: float(metric.result()) for metric in metrics}


__all__ = [
    "RUN_FILES",
    "TrainResult",
    "build_model",
    "compile_model",
    "dtype_policy",
    "encoder_layers",
    "environment_versions",
    "evaluate_masks",
    "folded_batchnorm_layers",
    "freeze_batchnorm",
    "freeze_encoder",
    "git_revision",
    "read_log",
    "recalibrate_folded_batchnorm",
    "select_strategy",
    "train",
    "worker_identity",
]
