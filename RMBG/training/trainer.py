"""``train(config) -> TrainResult``: one resumable training or fine-tuning run.

What a run writes into ``config.run_dir``:

=====================  ===================================================================
``config.yaml``        the :class:`~RMBG.training.config.TrainConfig` (re-run it with the CLI)
``run_info.json``      git revision (``git rev-parse HEAD`` and a dirty flag, ``"unknown"``
                       outside git), library versions, devices, distribution strategy
``log.csv``            one row per epoch: losses, metrics, learning rate (``CSVLogger``)
``best.keras``         the model of the lowest ``val_loss`` (atomic writes)
``last.keras``         the model after the last completed epoch
``metrics.json``       validation metrics of ``best.keras`` (``val``), of the pretrained model
                       before fine-tuning (``val_initial``), best epoch, epochs completed
``tensorboard/``       TensorBoard event files (``tensorboard --logdir <run_dir>/tensorboard``)
``backup/``, ``state/``  ``BackupAndRestore`` weights + optimizer, callback states (resume)
=====================  ===================================================================

Resuming: re-running with the same ``run_dir`` (after a crash, a ``kill -9``, a pre-emption, or
to train for more epochs) continues at the first epoch that was not backed up, with the same
weights, optimizer state, learning rate, patience counters, best value and data order. Only
``epochs`` may differ from the saved config; any other difference is an error.

Mixed precision: the dtype policy of ``config.precision`` is set only while the model is built
and restored afterwards (:func:`dtype_policy`), so it never leaks into the caller's later models;
the built model keeps its own per-layer policies (they are saved in the ``.keras`` files). Under
``mixed_float16`` Keras's ``compile`` wraps the optimizer in a ``LossScaleOptimizer``
automatically. The model's sigmoid and the losses run in float32.

Distribution: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` is set (it must then be the first
TensorFlow work of the process: call :func:`train` once per process), ``MirroredStrategy``
when several GPUs are visible, the default strategy otherwise. ``batch_size`` is the global batch.
Only the chief writes ``run_dir``; other workers write to ``run_dir/.workers/<type>_<index>``.
Keras 3's ``fit`` does not work under ``MultiWorkerMirroredStrategy`` as released
(keras-team/keras#20585); :func:`_adapt_for_multi_worker` works around it for the model being
trained, and the two-worker test checks that the workers end with identical weights.

Fine-tuning the official U^2-Net weights: their BatchNorm layers are the folded identity
(gamma 1, beta 0, mean 0, variance 1 - eps). In training mode such a layer would normalise by
the batch's statistics and destroy the pretrained function. ``batchnorm="recalibrate"``
(default) fixes that without changing inference (:func:`recalibrate_folded_batchnorm`);
``batchnorm="freeze"`` keeps those layers in inference mode instead (:func:`freeze_batchnorm`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from RMBG.data.pipeline import evaluation_dataset, load_dataset, training_dataset
from RMBG.training.callbacks import (
    AtomicCheckpoint,
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
    ScalarTensorBoard,
    SyncBatchNormStatistics,
)
from RMBG.training.config import TrainConfig
from RMBG.training.losses import get_loss
from RMBG.training.metrics import FBeta, MaskIoU, MaskMAE, default_metrics

#: File names inside a run folder.
RUN_FILES = {
    "config": "config.yaml",
    "run_info": "run_info.json",
    "log": "log.csv",
    "best": "best.keras",
    "last": "last.keras",
    "metrics": "metrics.json",
    "tensorboard": "tensorboard",
    "backup": "backup",
    "state": "state",
}

#: Config fields that may change when a run is resumed.
RESUMABLE_CHANGES = frozenset({"epochs"})


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the folder this process wrote (the chief's ``run_dir``).
        model: the trained model holding the best weights (those of ``best.keras``; the final
            weights if no epoch was validated), compiled.
        history: every epoch's log values, from the CSV log (epochs before a resume included).
        metrics: validation metrics of ``model`` (``loss``, ``mae``, ``fbeta``, ``iou``).
        initial_epoch: the epoch this call started at (> 0 when it resumed).
        epochs_completed: epochs completed in the run so far.
        stopped_early: early stopping ended the run.
        paths: the run's files (see :data:`RUN_FILES`).
        initial_metrics: validation metrics of the pretrained model before fine-tuning
            (``None`` when not ``pretrained``).
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


# === environment helpers ===


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Set Keras's global dtype policy to ``name`` inside the block and restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


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


def git_revision(folder: str | os.PathLike | None = None) -> dict[str, Any] | str:
    """``{"commit": sha, "dirty": bool}`` of the repository holding ``folder`` (the project by
    default; dirty = tracked files differ from the commit), or ``"unknown"`` outside git."""
    from RMBG.paths import repo_root

    cwd = Path(folder) if folder is not None else repo_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True,
            timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return {"commit": commit, "dirty": bool(status.strip())} if commit else "unknown"


def environment_versions() -> dict[str, Any]:
    """Python, platform and library versions, and the visible devices."""
    from importlib import metadata

    versions: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow", "rmbg"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    versions["tf.__version__"] = tf.__version__
    versions["keras.__version__"] = keras.__version__
    versions["devices"] = [d.name for d in tf.config.list_logical_devices()]
    return versions


# === model surgery for fine-tuning ===


def encoder_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The encoder layers of a segmenter's backbone.

    U^2-Net: the layers of stages 1..6 (``stage1.*`` .. ``stage6.*``; the decoder's are
    ``stage5d.*``..). Another backbone may define ``encoder_layers()``.

    Raises:
        ValueError: the backbone has no known encoder.
    """
    from RMBG.models.u2net import U2NetBackbone

    backbone = getattr(model, "backbone", model)
    if isinstance(backbone, U2NetBackbone):
        stages = {f"stage{i}" for i in range(1, 7)}
        return [layer for layer in backbone.layers if layer.name.split(".")[0] in stages]
    if callable(getattr(backbone, "encoder_layers", None)):
        return list(backbone.encoder_layers())
    raise ValueError(
        f"freeze_encoder: the backbone {type(backbone).__name__} ({backbone.name!r}) does not say which layers "
        "are its encoder; give it an encoder_layers() method or set freeze_encoder: false"
    )


def freeze_encoder(model: keras.Model) -> int:
    """Make the encoder non-trainable (frozen BatchNorm then runs in inference mode); returns the
    number of layers frozen."""
    layers = encoder_layers(model)
    for layer in layers:
        layer.trainable = False
    return len(layers)


def folded_batchnorm_layers(model: keras.Model, atol: float = 1e-6) -> list[keras.layers.BatchNormalization]:
    """BatchNorm layers that are the folded identity: gamma 1, beta 0, moving mean 0 and moving
    variance ``1 - epsilon`` (what importing a BN-folded ONNX export leaves)."""
    backbone = getattr(model, "backbone", model)
    found = []
    for layer in backbone._flatten_layers(include_self=False):
        if not isinstance(layer, keras.layers.BatchNormalization) or not layer.built:
            continue
        checks = (
            (layer.gamma, 1.0), (layer.beta, 0.0), (layer.moving_mean, 0.0), (layer.moving_variance, 1.0 - layer.epsilon),
        )
        if all(v is None or np.allclose(np.asarray(v), target, atol=atol) for v, target in checks):
            found.append(layer)
    return found


def freeze_batchnorm(layers: Sequence[keras.layers.BatchNormalization]) -> None:
    """Keep ``layers`` in inference mode and their parameters fixed (Keras runs a non-trainable
    BatchNorm with its moving statistics)."""
    for layer in layers:
        layer.trainable = False


def recalibrate_folded_batchnorm(
    model: keras.Model,
    batches: tf.data.Dataset | Sequence[Any],
    layers: Sequence[keras.layers.BatchNormalization] | None = None,
) -> int:
    """Give folded-identity BatchNorm layers real statistics without changing inference.

    For each layer, the mean ``m`` and variance ``v`` of its input (per channel, over every pixel
    of ``batches``) are measured, then ``moving_mean = m``, ``moving_variance = v``,
    ``gamma = sqrt(v + eps)``, ``beta = m``. In inference mode the layer computes
    ``gamma (x - m) / sqrt(v + eps) + beta = x``: still the identity, so predictions do not change.
    In training mode it normalises by the batch's statistics and maps them back to ``(m, v)``,
    which is again close to the identity for batches like the calibration data, so fine-tuning
    starts from the pretrained function and BatchNorm trains as usual.

    Because every folded layer is the identity, one pass measures all layers at once.

    Args:
        model: a segmenter (or backbone) with folded BatchNorm layers.
        batches: batches of ``(images, ...)`` or images, float32 pixel values in [0, 255] (no
            augmentation), e.g. ``evaluation_dataset(train_samples, ...).take(8)``.
        layers: the layers to recalibrate (default: :func:`folded_batchnorm_layers`).

    Returns:
        The number of layers recalibrated.
    """
    layers = list(layers) if layers is not None else folded_batchnorm_layers(model)
    if not layers:
        return 0
    backbone = getattr(model, "backbone", model)
    converter = getattr(model, "converter", None)
    outputs = []
    for layer in layers:
        x = keras.ops.cast(layer.input, "float32")
        outputs.append(keras.ops.mean(x, axis=(0, 1, 2)))
        outputs.append(keras.ops.mean(x * x, axis=(0, 1, 2)))
    probe = keras.Model(backbone.inputs, outputs, name="batchnorm_probe")
    sums = [np.zeros(int(layer.gamma.shape[0]), np.float64) for layer in layers for _ in (0, 1)]
    total = 0
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = converter(images) if converter is not None else images
        count = int(x.shape[0])
        for i, value in enumerate(probe(x, training=False)):
            sums[i] += np.asarray(value, np.float64) * count
        total += count
    if total == 0:
        raise ValueError("batches: no images to measure the BatchNorm statistics on")
    for j, layer in enumerate(layers):
        mean = sums[2 * j] / total
        variance = np.maximum(sums[2 * j + 1] / total - mean**2, 0.0)
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(variance.astype(np.float32))
        layer.gamma.assign(np.sqrt(variance + layer.epsilon).astype(np.float32))
        layer.beta.assign(mean.astype(np.float32))
    return len(layers)


# === run folder helpers ===


def run_paths(folder: Path) -> dict[str, Path]:
    """Absolute paths of a run folder's files (:data:`RUN_FILES`)."""
    return {key: folder / name for key, name in RUN_FILES.items()}


def backed_up_epoch(backup_dir: Path) -> int:
    """The number of epochs ``BackupAndRestore`` has saved in ``backup_dir`` (0 if none)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = backup_dir / name
        if path.is_file():
            try:
                return int(json.loads(path.read_text(encoding="utf-8"))["epoch"])
            except (ValueError, KeyError, TypeError):
                continue
    return 0


def read_log(path: Path) -> dict[str, list[float]]:
    """The CSV log as columns (empty when absent)."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
    if "epoch" in columns:
        columns["epoch"] = [int(v) for v in columns["epoch"]]
    return columns


def _trim_log(path: Path, keep_before_epoch: int) -> None:
    """Drop CSV log rows of epochs >= ``keep_before_epoch`` (re-run after a resume)."""
    if not path.is_file():
        return
    if keep_before_epoch <= 0:
        path.unlink()
        return
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        rows = list(reader)
    if not rows:
        return
    header, body = rows[0], rows[1:]
    column = header.index("epoch") if "epoch" in header else 0
    kept = [r for r in body if r and int(float(r[column])) < keep_before_epoch]
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)
    os.replace(temporary, path)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)


def _check_resume(saved_path: Path, config: TrainConfig, run_dir: Path) -> None:
    saved = TrainConfig.from_yaml(saved_path).to_dict()
    current = config.to_dict()
    changed = sorted(k for k in current if saved.get(k) != current[k] and k not in RESUMABLE_CHANGES)
    if changed:
        details = "; ".join(f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in changed)
        raise ValueError(
            f"run_dir: '{run_dir}' holds an interrupted run with different settings ({details}); "
            f"only {sorted(RESUMABLE_CHANGES)} may change on resume. Use a new run_dir, or the saved settings "
            f"(python -m RMBG train --config {saved_path})"
        )


# === the run ===


def build_model(config: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> keras.Model:
    """Create the config's model under its precision policy (restored afterwards) and strategy."""
    from RMBG.registry import create_model

    strategy = strategy or tf.distribute.get_strategy()
    overrides = dict(config.model_overrides)
    if config.image_size is not None:
        overrides["image_size"] = tuple(config.image_size)
    with strategy.scope(), dtype_policy(config.precision):
        return create_model(config.model, pretrained=config.pretrained, **overrides)


def compile_model(model: keras.Model, config: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> keras.Model:
    """Compile with Adam, the config's loss and the training metrics, inside ``strategy``'s scope."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        optimizer = keras.optimizers.Adam(
            learning_rate=config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon
        )
        model.compile(
            optimizer=optimizer,
            loss=get_loss(config.loss),
            metrics=default_metrics(config.fbeta_threshold),
            jit_compile=config.jit_compile,
        )
        # Create the optimizer's slots now: created during the first trace of the train step,
        # they make TensorFlow trace it twice (minutes for U^2-Net on a small CPU).
        model.optimizer.build(model.trainable_variables)
    return model


def _callbacks(
    config: TrainConfig, paths: dict[str, Path], initial_epoch: int, verbose: int, replicas: int
) -> list[keras.callbacks.Callback]:
    state = paths["state"]
    callbacks: list[keras.callbacks.Callback] = []
    if replicas > 1:  # first: every checkpoint of the epoch then holds the averaged statistics
        callbacks.append(SyncBatchNormStatistics())
    # Order matters: the plateau callbacks add `learning_rate` to the logs before the CSV row is
    # written, and BackupAndRestore saves last, so a kill mid-way re-runs the epoch.
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
    return callbacks


def _adapt_for_multi_worker(model: keras.Model, batches: tf.data.Dataset, strategy: tf.distribute.Strategy) -> None:
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


def _require_tensorboard(config: TrainConfig) -> None:
    if config.tensorboard != "full":
        return
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ImportError(
            "tensorboard: 'full' needs the tensorboard package (pip install tensorboard); "
            "or set tensorboard: scalars (epoch curves written with TensorFlow alone) or off"
        )


def train(config: TrainConfig, *, verbose: int | str = "auto") -> TrainResult:
    """Train (or resume, or fine-tune) the model of ``config``; see the module docstring.

    Args:
        config: the run's settings.
        verbose: Keras's ``fit`` verbosity (``"auto"``, 0, 1 progress bar, 2 one line per epoch).

    Python's, NumPy's and TensorFlow's global random generators are seeded with ``config.seed``
    (``keras.utils.set_random_seed``), as for any reproducible Keras run.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: a bad setting, or a ``run_dir`` holding a run with other settings.
        FileNotFoundError: the dataset's CSV or files are missing.
        ImportError: ``tensorboard: full`` without the tensorboard package.
    """
    config.validate()
    _require_tensorboard(config)
    strategy = select_strategy()  # first: MultiWorkerMirroredStrategy must precede other TF work
    task_type, task_index, chief = worker_identity()
    run_dir = Path(config.run_dir).expanduser().resolve()
    folder = run_dir if chief else run_dir / ".workers" / f"{task_type}_{task_index}"
    paths = run_paths(folder)
    folder.mkdir(parents=True, exist_ok=True)
    log_verbose = verbose if isinstance(verbose, int) else 1

    backed_up = backed_up_epoch(paths["backup"])
    initial_epoch = min(backed_up, config.epochs)
    if initial_epoch > 0 and paths["config"].is_file():
        _check_resume(paths["config"], config, run_dir)
    config.to_yaml(paths["config"])
    _write_json(paths["run_info"], {
        "git": git_revision(),
        "environment": environment_versions(),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "task": {"type": task_type, "index": task_index, "chief": chief},
    })
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"batch_size: {config.batch_size} does not split over {strategy.num_replicas_in_sync} replicas; "
            "use a multiple of the replica count"
        )

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, strategy)
    if model.image_size is None:
        raise ValueError(f"image_size: model {config.model!r} takes any size; set image_size: [height, width] in the config")
    data_options = dict(
        interpolation=model.converter.interpolation, decoder=config.decoder, binary_masks=config.binary_masks,
        cache=config.cache, deterministic=config.deterministic,
    )
    train_samples, train_rows = load_dataset(config.data, model.image_size, splits=config.train_split, **data_options)
    val_samples, _ = load_dataset(config.data, model.image_size, splits=config.val_split, **data_options)
    train_data, steps = training_dataset(
        train_samples, len(train_rows), batch_size=config.batch_size, initial_epoch=initial_epoch,
        steps_per_epoch=config.steps_per_epoch, augment=config.augment, seed=config.seed,
        deterministic=config.deterministic,
    )
    val_data = evaluation_dataset(val_samples, batch_size=config.batch_size, deterministic=config.deterministic)

    if config.freeze_encoder:
        frozen = freeze_encoder(model)
        if log_verbose:
            print(f"freeze_encoder: {frozen} encoder layers frozen")
    if config.pretrained:
        folded = folded_batchnorm_layers(model)
        if folded and config.batchnorm == "freeze":
            freeze_batchnorm(folded)
        elif folded and initial_epoch == 0:  # on resume, the backup holds the calibrated values
            calibration = evaluation_dataset(train_samples, batch_size=config.batch_size).take(config.calibration_batches)
            with strategy.scope():
                recalibrate_folded_batchnorm(model, calibration, folded)
        if folded and log_verbose:
            done = "restored from the backup" if initial_epoch and config.batchnorm == "recalibrate" else config.batchnorm
            print(f"batchnorm: {len(folded)} folded BatchNorm layers ({done})")
    compile_model(model, config, strategy)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _adapt_for_multi_worker(model, val_data, strategy)

    initial_path = paths["state"] / "initial_metrics.json"
    if config.pretrained and initial_epoch == 0:
        # the starting point of a fine-tuning run, on the same validation data and metrics
        initial = model.evaluate(val_data, steps=config.validation_steps, return_dict=True, verbose=0)
        _write_json(initial_path, {k: float(v) for k, v in initial.items()})
        if log_verbose:
            print("pretrained model before training: " + ", ".join(f"val_{k} {v:.4f}" for k, v in initial.items()))
    initial_metrics = json.loads(initial_path.read_text(encoding="utf-8")) if initial_path.is_file() else None

    _trim_log(paths["log"], backed_up)  # rows of an epoch interrupted before its backup are re-run
    previous = json.loads(paths["metrics"].read_text(encoding="utf-8")) if paths["metrics"].is_file() else {}
    finished_early = bool(previous.get("stopped_early")) and previous.get("epochs_completed") == backed_up
    callbacks = _callbacks(config, paths, initial_epoch, log_verbose, strategy.num_replicas_in_sync)
    if initial_epoch > 0 and log_verbose:
        print(f"resuming '{run_dir}' at epoch {initial_epoch + 1} of {config.epochs}")
    if initial_epoch < config.epochs and not finished_early:
        model.fit(
            train_data, validation_data=val_data, epochs=config.epochs, initial_epoch=initial_epoch,
            steps_per_epoch=steps, validation_steps=config.validation_steps, callbacks=callbacks, verbose=verbose,
            shuffle=False,  # the pipeline shuffles (seeded)
        )
    early = next((c for c in callbacks if isinstance(c, ResumableEarlyStopping)), None)
    stopped_early = finished_early or bool(early is not None and early.stopped_epoch > 0)

    if paths["best"].is_file():
        model.load_weights(paths["best"])  # the best weights, into the model whose steps are traced
    evaluation = model.evaluate(val_data, steps=config.validation_steps, return_dict=True, verbose=0)
    history = read_log(paths["log"])
    completed = (max(history["epoch"]) + 1) if history.get("epoch") else initial_epoch
    best_state = next(c for c in callbacks if isinstance(c, AtomicCheckpoint) and c.save_best_only)
    best_epoch = previous.get("best_epoch") if best_state.best_epoch is None else int(best_state.best_epoch) + 1
    metrics = {k: float(v) for k, v in evaluation.items()}
    _write_json(paths["metrics"], {
        "val": metrics,
        "val_initial": initial_metrics,
        "best_epoch": best_epoch,
        "epochs_completed": int(completed),
        "stopped_early": stopped_early,
        "initial_epoch": initial_epoch,
        "steps_per_epoch": steps,
        "model": config.model,
        "image_size": list(model.image_size),
        "precision": config.precision,
    })
    return TrainResult(
        run_dir=folder, model=model, history=history, metrics=metrics, initial_epoch=initial_epoch,
        epochs_completed=int(completed), stopped_early=stopped_early, paths=paths, initial_metrics=initial_metrics,
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
