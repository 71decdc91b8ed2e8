"""The training configuration: one dataclass, saved as YAML next to every run.

A run is fully described by its :class:`TrainConfig` (plus the code revision that
:func:`~RMBG.training.trainer.train` records), so ``python -m RMBG train --config run.yaml``
reproduces it. Configs are plain data: no code is evaluated when one is read, and unknown keys are
errors rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from RMBG.atomic import atomic_write_bytes
from RMBG.data.augment import AugmentConfig
from RMBG.registry import ModelWithWeights

#: What a run trains: each task supplies its data, losses and metrics (:mod:`RMBG.training.tasks`).
TASKS = ("segmentation", "matting", "refinement")
#: The losses of each task (``loss``); the first is the task's usual recipe.
TASK_LOSSES = {"segmentation": ("deep_bce", "hybrid"), "matting": ("matting", "fba"), "refinement": ("refinement",)}
LOSSES = TASK_LOSSES["segmentation"]
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DECODERS = ("pil", "tf")
BATCHNORM_MODES = ("recalibrate", "freeze")
TENSORBOARD_MODES = ("scalars", "full", "off")


@dataclass
class TrainConfig:
    """Everything a training run needs.

    The seed project's module-level settings map onto these fields:

    ============  =====================================================================
    seed project  TrainConfig
    ============  =====================================================================
    ``IMG_H``     ``image_size[0]``
    ``IMG_W``     ``image_size[1]``
    ``BATCH``     ``batch_size``
    ``LR``        ``learning_rate``
    ``EPOCH``     ``epochs``
    ``SPLIT``     ``train_split`` / ``val_split``: the names of the index CSV's ``split`` column
                  to train and validate on (the fractions are chosen once, when the dataset is
                  prepared: ``Preprocess.prepare_dataset(..., split=(0.8, 0.1, 0.1))``)
    ``PATH``      ``data`` (the dataset's ``index.csv``); outputs go to ``run_dir``
    ============  =====================================================================

    Attributes:
        task: ``"segmentation"`` (photo -> mask, from an index CSV), ``"matting"`` (photo + trimap
            -> alpha, composites made on the fly) or ``"refinement"`` (photo + coarse mask -> mask,
            from an index CSV); it must be the registered task of ``model``.
        model: a registered model name (``python -m RMBG models``).
        model_overrides: builder arguments replacing the preset's, e.g.
            ``{"encoder_mid_channels": [4, 4, 4, 4, 4, 4]}`` or ``{"output_normalization": None}``.
        pretrained: start from the preset's pretrained weights (fine-tuning).
        weights: start from a local weight file in the model family's format instead (e.g. a
            TRACER-B7 or FBA ``.pth``, an InSPyReNet checkpoint, a U^2-Net ``.onnx``/``.pth``),
            placed strictly by ``create_model(model, weights=...)``; ``null`` for none. Relative
            paths are relative to the working folder. Not together with ``pretrained: true``.
            ``batchnorm`` (folded layers) and ``val_initial`` treat it like pretrained weights.
        freeze_encoder: keep the encoder (U^2-Net stages 1..6) fixed; frozen BatchNorm layers
            then run in inference mode.
        batchnorm: what to do with pretrained BatchNorm layers that are the folded identity (the
            official ONNX weights): ``"recalibrate"`` (default; see
            :func:`~RMBG.training.trainer.recalibrate_folded_batchnorm`) or ``"freeze"``.
            Layers with real statistics are left alone.
        calibration_batches: training batches (no augmentation) used by ``"recalibrate"``.
        image_size: ``(height, width)`` the model trains at; ``None`` keeps the preset's size.
            The data pipeline always reads the size from the built model.
        batch_size: the global batch (split across replicas under a distribution strategy).
        learning_rate: Adam's initial learning rate.
        lr_schedule: ``"constant"`` (with ``reduce_lr_patience``: reduced on plateaus) or
            ``"cosine"`` (decays over ``epochs x steps`` to ``lr_final_fraction`` of it; then
            ``reduce_lr_patience`` must be 0).
        lr_final_fraction: the cosine schedule's final learning rate, as a fraction in (0, 1].
        beta_1: Adam's beta 1.
        beta_2: Adam's beta 2.
        epsilon: Adam's epsilon (1e-8 as the original U^2-Net recipe; Keras defaults to 1e-7).
        epochs: the epoch to stop before (a resumed run continues up to it).
        steps_per_epoch: batches per epoch; ``None`` = one pass over the training split.
            A small value makes a smoke run.
        validation_steps: validation batches per epoch; ``None`` = the whole validation split.
        data: path of the dataset's ``index.csv`` (relative paths are relative to the working folder).
            ``matting``: the photos background crops come from (all rows), or ``null`` for
            synthetic backgrounds only.
        train_split: split name(s) of the CSV to train on (comma-separated for several).
        val_split: split name(s) to validate on.
        augment: the training augmentations (segmentation; the matting and refinement tasks make
            their own randomised samples, so ``augment.enabled`` must be false for them).
        samples: matting / refinement: training samples made (composites; coarse masks in all).
        val_samples: matting / refinement: validation samples made.
        foregrounds: matting: an index CSV pairing photos of real foregrounds with their alpha
            mattes (``python -m Preprocess index IMAGES ALPHAS fg.csv``), mixed with the synthetic
            shapes, or ``null``.
        max_band: matting: the largest erosion square of the training trimaps (pixels).
        decoder: ``"pil"`` (robust, same reader as inference) or ``"tf"`` (graph-only); see
            :mod:`RMBG.data.pipeline`.
        binary_masks: threshold masks at 0.5 when reading them (e.g. JPEG masks).
        cache: keep the resized samples in memory.
        loss: segmentation: ``"deep_bce"`` (BCE summed over the fused and side maps, the U^2-Net
            recipe) or ``"hybrid"`` (BCE + SSIM + IoU per map, BASNet); matting: ``"matting"``
            (alpha only) or ``"fba"`` (``fba_matting``: alpha, foreground and background);
            refinement: ``"refinement"``.
        side_weight: segmentation: the weight of each side map in the loss, the fused map's being
            1 (1 is the U^2-Net recipe; 0 trains the fused map alone, e.g. when distilling a model
            into itself under another precision, docs/runtime.md).
        fbeta_threshold: threshold of the F-beta metric: a number in (0, 1) or ``"adaptive"``.
        precision: ``"float32"``, ``"mixed_float16"`` (GPUs; loss scaling is automatic) or
            ``"mixed_bfloat16"`` (recent CPUs and TPUs / Ampere+ GPUs).
        jit_compile: XLA-compile the train step (``True``, ``False`` or ``"auto"``).
        run_eagerly: run the train and test steps eagerly, without tracing them into graphs
            (for debugging, and for runs of a step or two, where tracing U^2-Net's train step
            costs more than the steps; much slower per step).
        seed: seeds weights, shuffling and augmentation.
        deterministic: deterministic tf.data order (and stateless augmentation, always).
        run_dir: the folder that receives everything the run writes; re-running with the same
            folder resumes an interrupted run.
        early_stopping_patience: epochs without ``val_loss`` improvement before stopping
            (0 disables early stopping).
        reduce_lr_patience: epochs without improvement before the learning rate is reduced
            (0 disables it).
        reduce_lr_factor: the reduction factor.
        reduce_lr_min: the learning rate floor.
        tensorboard: ``"scalars"`` (epoch losses, metrics and learning rate, written with
            TensorFlow alone), ``"full"`` (``keras.callbacks.TensorBoard``: also graphs and weight
            histograms; needs the ``tensorboard`` package) or ``"off"``.
    """

    task: str = "segmentation"
    model: str = "u2netp"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = False
    weights: str | None = None
    freeze_encoder: bool = False
    batchnorm: str = "recalibrate"
    calibration_batches: int = 8
    image_size: tuple[int, int] | None = None
    batch_size: int = 8
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    lr_final_fraction: float = 0.05
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    epochs: int = 100
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    data: str = "Data/horse/index.csv"
    train_split: str = "train"
    val_split: str = "val"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    samples: int = 1024
    val_samples: int = 96
    foregrounds: str | None = None
    max_band: int = 13
    decoder: str = "pil"
    binary_masks: bool = False
    cache: bool = True
    loss: str = "deep_bce"
    side_weight: float = 1.0
    fbeta_threshold: float | str = 0.5
    precision: str = "float32"
    jit_compile: bool | str = False
    run_eagerly: bool = False
    seed: int = 0
    deterministic: bool = True
    run_dir: str = "Data/runs/u2netp"
    early_stopping_patience: int = 20
    reduce_lr_patience: int = 8
    reduce_lr_factor: float = 0.5
    reduce_lr_min: float = 1e-6
    tensorboard: str = "scalars"

    def __post_init__(self):
        # YAML 1.1 reads "1e-4" (no dot) as a string: accept numbers written either way.
        for name in _FLOAT_FIELDS:
            setattr(self, name, _as_float(getattr(self, name), name))
        if isinstance(self.fbeta_threshold, str) and self.fbeta_threshold != "adaptive":
            self.fbeta_threshold = _as_float(self.fbeta_threshold, "fbeta_threshold")
        if isinstance(self.augment, Mapping):
            self.augment = _build(AugmentConfig, self.augment, "augment")
        if self.image_size is not None:
            self.image_size = tuple(int(v) for v in self.image_size)
        self.model_overrides = {
            k: tuple(v) if isinstance(v, list) else v for k, v in dict(self.model_overrides or {}).items()
        }
        self.validate()

    def validate(self) -> None:
        """Check every field; raise ``ValueError`` naming the field, the value and the fix."""
        if self.task not in TASKS:
            raise ValueError(f"task: expected one of {TASKS}, got {self.task!r}")
        for name, options in (
            ("loss", TASK_LOSSES[self.task]), ("precision", PRECISIONS), ("decoder", DECODERS),
            ("lr_schedule", LR_SCHEDULES),
            ("batchnorm", BATCHNORM_MODES), ("tensorboard", TENSORBOARD_MODES),
        ):
            if getattr(self, name) not in options:
                raise ValueError(f"{name}: expected one of {options}, got {getattr(self, name)!r}")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 1):
            raise ValueError(f"image_size: expected [height, width] of positive ints or null, got {self.image_size!r}")
        for name in ("batch_size", "epochs", "calibration_batches", "samples", "val_samples", "max_band"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        for name in ("steps_per_epoch", "validation_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name}: expected a positive integer or null (a full pass), got {value!r}")
        for name in ("early_stopping_patience", "reduce_lr_patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0 (0 disables it), got {value!r}")
        for name in ("learning_rate", "epsilon", "reduce_lr_min"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name}: expected a positive number, got {getattr(self, name)!r}")
        if not float(self.side_weight) >= 0:
            raise ValueError(f"side_weight: expected a number >= 0 (1: the U^2-Net recipe, 0: the fused map alone), got {self.side_weight!r}")
        if self.side_weight != 1.0 and self.task != "segmentation":
            raise ValueError(
                f"side_weight: {self.side_weight} weighs the side maps of the segmentation losses; the {self.task} "
                "task has none (leave it at 1)"
            )
        if not 0 < float(self.lr_final_fraction) <= 1:
            raise ValueError(f"lr_final_fraction: expected a number in (0, 1], got {self.lr_final_fraction!r}")
        if self.lr_schedule == "cosine" and self.reduce_lr_patience:
            raise ValueError(
                f"reduce_lr_patience: {self.reduce_lr_patience} reduces the learning rate on plateaus, which a "
                "cosine lr_schedule sets itself; set reduce_lr_patience: 0 or lr_schedule: constant"
            )
        if not 0 < float(self.reduce_lr_factor) < 1:
            raise ValueError(f"reduce_lr_factor: expected a number in (0, 1), got {self.reduce_lr_factor!r}")
        for name in ("beta_1", "beta_2"):
            if not 0 <= float(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a number in [0, 1), got {getattr(self, name)!r}")
        if self.fbeta_threshold != "adaptive" and not (
            isinstance(self.fbeta_threshold, (int, float)) and 0 < float(self.fbeta_threshold) < 1
        ):
            raise ValueError(f"fbeta_threshold: expected a number in (0, 1) or 'adaptive', got {self.fbeta_threshold!r}")
        if self.weights is not None:
            if not isinstance(self.weights, str) or not self.weights.strip():
                raise ValueError(f"weights: expected the path of a weight file or null, got {self.weights!r}")
            if self.pretrained:
                raise ValueError(
                    f"weights: '{self.weights}' and pretrained: true both give the starting weights; "
                    "set pretrained: false to start from the file (or weights: null for the official weights)"
                )
        if self.jit_compile not in (True, False, "auto"):
            raise ValueError(f"jit_compile: expected true, false or 'auto', got {self.jit_compile!r}")
        if not isinstance(self.run_eagerly, bool):
            raise ValueError(f"run_eagerly: expected true or false, got {self.run_eagerly!r}")
        if self.run_eagerly and self.jit_compile is True:
            raise ValueError("run_eagerly: true and jit_compile: true exclude each other (XLA compiles a traced step); set one of them to false")
        if not self.data and self.task != "matting":
            raise ValueError(f"data: the {self.task} task reads a dataset's index.csv; got an empty value")
        if self.task != "segmentation" and self.augment.enabled:
            raise ValueError(
                f"augment: the {self.task} task makes its own randomised samples; set augment.enabled: false"
            )
        if self.foregrounds is not None and self.task != "matting":
            raise ValueError(f"foregrounds: real foregrounds are matting data; the {self.task} task takes none (null)")
        if not self.run_dir:
            raise ValueError("run_dir: expected a folder for the run's outputs, got an empty value")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {self.seed!r}")
        self.augment.validate()

    # === (de)serialisation ===

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists instead of tuples), as written to YAML."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from plain data; unknown keys raise ``ValueError`` listing the valid ones."""
        return _build(cls, data, "config")

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """The YAML text; also written (atomically) to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        if path is not None:
            atomic_write_bytes(path, text.encode("utf-8"))
        return text

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, section: str | None = None) -> "TrainConfig":
        """Read a YAML file written by :meth:`to_yaml` (or by hand).

        Args:
            path: the YAML file.
            section: read the mapping under this top-level key instead of the whole file (e.g.
                ``"train"`` of the DVC pipeline's ``params.yaml``).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"config: '{path}' is not a file; print a template with `python -m RMBG train --print-config`"
            )
        return cls.from_yaml_text(path.read_text(encoding="utf-8"), section=section, label=str(path))

    @classmethod
    def from_yaml_text(cls, text: str, section: str | None = None, label: str = "config") -> "TrainConfig":
        """Parse YAML text (safe loader: plain data only); ``section`` as in :meth:`from_yaml`."""
        data = yaml.safe_load(text) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"config: expected a YAML mapping of settings, got {type(data).__name__}")
        if section is not None:
            if not isinstance(data.get(section), Mapping):
                raise ValueError(
                    f"config: '{label}' has no mapping under {section!r} (its top-level keys are {sorted(data)}); "
                    "name the section that holds the training settings"
                )
            data = data[section]
        return cls.from_dict(data)

    @property
    def starts_from_weights(self) -> bool:
        """The run fine-tunes given weights (``pretrained`` or a ``weights`` file), not a fresh model."""
        return self.pretrained or self.weights is not None

    def check_weights(self) -> None:
        """Check ``weights`` against the registry and the disk, without TensorFlow (done by the
        CLI and by :func:`~RMBG.training.trainer.train` before the run folder is touched).

        Raises:
            FileNotFoundError: no such weight file (the message names it).
            ValueError: the model is not registered, or its family has no weight importer.
        """
        if self.weights is None:
            return
        path = Path(self.weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"weights: '{self.weights}' is not a file (resolved: {path.resolve()}); give a checkpoint of "
                f"{self.model} in its family's format, or weights: null"
            )
        ModelWithWeights.of(self.model, path)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (validated)."""
        return self.from_dict({**self.to_dict(), **changes})

    def with_overrides(self, assignments: Sequence[str]) -> "TrainConfig":
        """Apply ``key=value`` strings (``--set``): values are YAML scalars or flow collections
        (``epochs=3``, ``image_size=[64,64]``, ``augment.hflip=false``, ``model_overrides={a: 1}``)."""
        data = self.to_dict()
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"--set: expected key=value, got {assignment!r}")
            try:
                value = yaml.safe_load(raw) if raw.strip() else None
            except yaml.YAMLError as error:
                raise ValueError(f"--set {key}: cannot read the value {raw!r} as YAML ({error})") from None
            target = data
            parts = key.split(".")
            for part in parts[:-1]:
                if part not in target or not isinstance(target[part], dict):
                    raise ValueError(f"--set: {key!r} is not a setting; nested settings are {_nested_keys(data)}")
                target = target[part]
            if parts[-1] not in target and parts[0] != "model_overrides":
                raise ValueError(f"--set: unknown setting {key!r}; valid settings are {sorted(data)}")
            target[parts[-1]] = value
        return self.from_dict(data)


_FLOAT_FIELDS = (
    "learning_rate", "beta_1", "beta_2", "epsilon", "reduce_lr_factor", "reduce_lr_min", "lr_final_fraction",
    "side_weight",
)


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None


def _nested_keys(data: Mapping[str, Any]) -> list[str]:
    return sorted(f"{k}.{n}" for k, v in data.items() if isinstance(v, dict) for n in v)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls, data: Mapping[str, Any], label: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{label}: unknown setting(s) {unknown}; valid settings are {sorted(names)}")
    return cls(**dict(data))
