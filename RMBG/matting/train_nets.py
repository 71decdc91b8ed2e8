"""Train the learned matting network and the mask refiner, and package them as presets.

``python -m RMBG.matting.train_nets matting|refiner --out DIR [--epochs N ...] [--package]``

RMBG's :func:`RMBG.training.trainer.train` reads segmentation datasets from an index CSV with the
mask losses; these networks need other inputs (a trimap / a perturbed mask as a 4th channel) and
other targets (alpha + unknown region + F + B), so this module runs a plain ``keras.Model.fit`` with
the same run layout and callbacks: ``config.yaml``, ``run_info.json`` (git revision, library
versions), ``log.csv``, ``best.keras`` (:class:`~RMBG.training.callbacks.AtomicCheckpoint`, lowest
``val_loss``) and ``metrics.json`` (validation metrics of ``best.keras`` next to a baseline).

Training data:

* ``matting``: composites ``I = a F + (1 - a) B`` made on the fly from exact alphas: the shapes of
  :mod:`RMBG.data.synthetic` (anti-aliased), randomly softened (Gaussian blur) and given thin
  semi-transparent strands (hair-like), or real ``alphas/`` + ``images/`` pairs from a folder the
  user points at (``--foregrounds``; the image is taken as the foreground colours). Foregrounds
  are textures of :mod:`RMBG.data.synthetic` or crops of the horse photos; backgrounds are random
  crops of the horse photos (or synthetic backgrounds without them). Trimaps come from the GT alpha:
  the certain foreground (``a >= 0.99``) and background (``a <= 0.01``) eroded by random squares,
  the rest unknown (so every fractional pixel is unknown).
* ``refiner``: photos and masks of any segmentation set (default the Weizmann horses; JPEG masks are
  resized to the photo's size and thresholded at 0.5), resized to the training size; the coarse
  input mask is the GT perturbed by random dilation/erosion, blur, down-up sampling, shifts,
  random holes and blobs, and noise.

``--package`` writes the best model's backbone variables with
:func:`RMBG.weights.strict.save_variables` into ``RMBG/models/<family>/weights/<name>.npz`` (refused
above 3 MB) with ``config.yaml`` and ``metrics.json`` beside it, and prints the ``WeightFile`` to
paste into the family's presets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import yaml

from RMBG.data.synthetic import _background, _foreground, synthetic_sample
from RMBG.paths import assets_dir

KINDS = {"matting": "matting_net", "refiner": "refiner"}
MAX_PACKAGED_BYTES = 3 * 1024 * 1024
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class NetTrainConfig:
    """One training run of a learned matting net.

    Attributes:
        kind: ``"matting"`` or ``"refiner"``.
        out: the run folder.
        epochs: epochs to train.
        steps_per_epoch: batches per epoch (None: one pass over the training samples).
        batch_size: samples per batch.
        image_size: training side (square crops).
        samples: training samples generated (matting: composites; refiner: perturbations per photo x photos).
        val_samples: validation samples.
        learning_rate: Adam's initial learning rate (cosine-decayed to 5 % over the run).
        seed: seeds data and weights.
        model_overrides: builder arguments replacing the preset's (e.g. smaller filters for tests).
        horse: folder with ``images/`` and ``masks/`` (refiner data; matting backgrounds), or None.
        foregrounds: folder with ``images/`` and ``alphas/`` of real foregrounds (matting), or None.
        max_band: largest erosion square of the training trimaps (pixels at ``image_size``).
    """

    kind: str = "matting"
    out: str = "Data/runs/matting_net"
    epochs: int = 10
    steps_per_epoch: int | None = None
    batch_size: int = 16
    image_size: int = 96
    samples: int = 1024
    val_samples: int = 96
    learning_rate: float = 3e-3
    seed: int = 0
    model_overrides: dict[str, Any] = field(default_factory=dict)
    horse: str | None = None
    foregrounds: str | None = None
    max_band: int = 13

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {self.kind!r}")
        for name in ("epochs", "batch_size", "samples", "val_samples", "max_band"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not isinstance(self.image_size, int) or self.image_size < 16:
            raise ValueError(f"image_size: expected an integer >= 16, got {self.image_size!r}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch: expected a positive integer or None, got {self.steps_per_epoch!r}")
        if not float(self.learning_rate) > 0:
            raise ValueError(f"learning_rate: expected a positive number, got {self.learning_rate!r}")
        for name in ("horse", "foregrounds"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_dir():
                raise ValueError(f"{name}: '{value}' is not a folder; pass an existing folder or leave it unset")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for YAML)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


# === data ======================================================================================


def _pairs(folder: Path, image_dir: str, target_dir: str) -> list[tuple[Path, Path]]:
    """``(image, target)`` files of ``folder/image_dir`` and ``folder/target_dir`` paired by stem."""
    images = {p.stem: p for p in sorted((folder / image_dir).glob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}
    targets = {p.stem: p for p in sorted((folder / target_dir).glob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = [(images[s], targets[s]) for s in sorted(set(images) & set(targets))]
    if not pairs:
        raise ValueError(
            f"'{folder}': no {image_dir}/ and {target_dir}/ files paired by stem; expected e.g. "
            f"{image_dir}/a.png with {target_dir}/a.png"
        )
    return pairs


def _read_rgb(path: Path) -> np.ndarray:
    from RMBG.inference.image_io import load_image

    return load_image(path)


def _read_grey(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A grey image in [0, 1] resized (bilinear) to ``shape``."""
    from RMBG.inference.image_io import load_mask

    mask = load_mask(path)
    if mask.shape != shape:
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def load_segmentation_pairs(folder: str | os.PathLike, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Photos ``(N, size, size, 3)`` uint8 and binary masks ``(N, size, size)`` of a ``images/`` +
    ``masks/`` folder: masks resized to their photo's size, thresholded at 0.5, both resized to
    ``size`` (area for photos, then the mask re-thresholded)."""
    photos, masks = [], []
    for image_path, mask_path in _pairs(Path(folder), "images", "masks"):
        photo = _read_rgb(image_path)
        mask = (_read_grey(mask_path, photo.shape[:2]) > 0.5).astype(np.float32)
        photos.append(cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA))
        masks.append((cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA) > 0.5).astype(np.float32))
    return np.stack(photos), np.stack(masks)


def _random_crop(rng: np.random.Generator, photo: np.ndarray, size: int) -> np.ndarray:
    """A random square crop (at least half the short side) of ``photo`` resized to ``size``."""
    height, width = photo.shape[:2]
    side = int(rng.integers(min(height, width) // 2, min(height, width) + 1))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    crop = photo[top:top + side, left:left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def _strands(rng: np.random.Generator, alpha: np.ndarray, count: int) -> np.ndarray:
    """Thin semi-transparent curves leaving the object's edge (drawn at 4x, area-downsampled)."""
    size = alpha.shape[0]
    edge = np.argwhere((alpha > 0.2) & (alpha < 0.8))
    if len(edge) == 0:
        return alpha
    canvas = np.zeros((size * 4, size * 4), np.float32)
    for _ in range(count):
        y, x = edge[int(rng.integers(len(edge)))] * 4.0
        angle = rng.uniform(0, 2 * np.pi)
        points = []
        for _ in range(int(rng.integers(3, 7))):
            points.append((int(x), int(y)))
            angle += rng.normal(0, 0.4)
            step = rng.uniform(2, 5) * 4
            x, y = x + step * np.cos(angle), y + step * np.sin(angle)
        cv2.polylines(canvas, [np.array(points, np.int32)], False, float(rng.uniform(0.4, 1.0)), thickness=int(rng.integers(1, 3)))
    strands = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.maximum(alpha, strands)


def training_trimap(rng: np.random.Generator, alpha: np.ndarray, max_band: int) -> np.ndarray:
    """A trimap in [0, 1] (0 / 0.5 / 1) from a GT alpha with random erosion of the certain regions.

    Every pixel with ``0.01 < alpha < 0.99`` is unknown; the certain foreground and background
    are eroded by random squares of side 3..``max_band`` (different for each).
    """
    fg = (alpha >= 0.99).astype(np.uint8)
    bg = (alpha <= 0.01).astype(np.uint8)
    fg = cv2.erode(fg, np.ones((int(rng.integers(3, max_band + 1)),) * 2, np.uint8))
    bg = cv2.erode(bg, np.ones((int(rng.integers(3, max_band + 1)),) * 2, np.uint8))
    trimap = np.full(alpha.shape, 0.5, np.float32)
    trimap[bg.astype(bool)] = 0.0
    trimap[fg.astype(bool)] = 1.0
    return trimap


def matting_samples(
    count: int,
    size: int,
    *,
    seed: int,
    backgrounds: np.ndarray | None = None,
    foregrounds: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    max_band: int = 13,
) -> tuple[np.ndarray, np.ndarray]:
    """Composites for the matting network.

    Args:
        count: samples.
        size: square side.
        seed: the samples are a pure function of it.
        backgrounds: ``(M, h, w, 3)`` uint8 photos to crop backgrounds (and half the foreground
            colours) from; None: synthetic backgrounds and textures only.
        foregrounds: real ``(image uint8 HxWx3, alpha float HxW)`` pairs; when given, every other
            sample uses one of them (random crop).
        max_band: see :func:`training_trimap`.

    Returns:
        ``(inputs (N, size, size, 4) float32: RGB [0, 255] + trimap [0, 1],
        targets (N, size, size, 8): alpha, unknown, F, B in [0, 1])``.
    """
    from RMBG.training.matting_losses import pack_targets

    inputs = np.empty((count, size, size, 4), np.float32)
    targets = np.empty((count, size, size, 8), np.float32)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        if foregrounds and i % 2 == 1:
            image, real_alpha = foregrounds[int(rng.integers(len(foregrounds)))]
            stacked = np.concatenate([image.astype(np.float32), real_alpha[..., None] * 255.0], axis=-1)
            crop = _random_crop(rng, stacked, size)
            fg, alpha = crop[..., :3], np.clip(crop[..., 3] / 255.0, 0.0, 1.0)
        else:
            _, alpha = synthetic_sample(rng, (size, size), supersample=4)
            if rng.random() < 0.5:
                alpha = cv2.GaussianBlur(alpha, (0, 0), float(rng.uniform(0.5, 2.0)))
            if rng.random() < 0.6:
                alpha = _strands(rng, alpha, int(rng.integers(4, 16)))
            if backgrounds is not None and rng.random() < 0.5:
                fg = _random_crop(rng, backgrounds[int(rng.integers(len(backgrounds)))], size)
            else:
                fg = _foreground(rng, size, size)
        if backgrounds is not None and rng.random() < 0.8:
            bg = _random_crop(rng, backgrounds[int(rng.integers(len(backgrounds)))], size)
        else:
            bg = _background(rng, size, size)
        alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
        image = np.clip(np.round(alpha[..., None] * fg + (1 - alpha[..., None]) * bg), 0, 255)
        trimap = training_trimap(rng, alpha, max_band)
        inputs[i] = np.concatenate([image, trimap[..., None]], axis=-1)
        targets[i] = pack_targets(alpha, (trimap == 0.5).astype(np.float32), fg / 255.0, bg / 255.0)
    return inputs, targets


def perturb_mask(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A coarse version of a binary mask: random dilation/erosion, shift, down-up sampling, blur,
    holes and blobs, noise. Returns float32 in [0, 1]."""
    size = mask.shape[0]
    coarse = mask.astype(np.float32)
    side = int(rng.integers(1, max(2, size // 10)))
    if side > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
        coarse = cv2.dilate(coarse, kernel) if rng.random() < 0.5 else cv2.erode(coarse, kernel)
    if rng.random() < 0.5:
        shift = rng.integers(-size // 20 - 1, size // 20 + 2, size=2)
        coarse = cv2.warpAffine(coarse, np.float32([[1, 0, shift[1]], [0, 1, shift[0]]]), (size, size))
    if rng.random() < 0.7:
        factor = int(rng.integers(4, 12))
        small = cv2.resize(coarse, (max(2, size // factor),) * 2, interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(0, 4))):  # holes and blobs
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        axes = (int(rng.integers(2, size // 6 + 3)), int(rng.integers(2, size // 6 + 3)))
        value = float(rng.random() < 0.5)
        cv2.ellipse(coarse, centre, axes, float(rng.uniform(0, 180)), 0, 360, value, -1)
    if rng.random() < 0.7:
        coarse = cv2.GaussianBlur(coarse, (0, 0), float(rng.uniform(0.5, 3.0)))
    coarse = coarse + rng.normal(0, rng.uniform(0, 0.08), coarse.shape).astype(np.float32)
    return np.clip(coarse, 0.0, 1.0).astype(np.float32)


def refiner_samples(
    photos: np.ndarray, masks: np.ndarray, perturbations: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``perturbations`` coarse masks per photo: ``(inputs (N, H, W, 4), targets (N, H, W, 1))``."""
    count = len(photos) * perturbations
    size = photos.shape[1]
    inputs = np.empty((count, size, size, 4), np.float32)
    targets = np.empty((count, size, size, 1), np.float32)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        k = i % len(photos)
        photo, mask = photos[k], masks[k]
        if rng.random() < 0.5:
            photo, mask = photo[:, ::-1], mask[:, ::-1]
        inputs[i, ..., :3] = photo
        inputs[i, ..., 3] = perturb_mask(rng, np.ascontiguousarray(mask))
        targets[i, ..., 0] = mask
    return inputs, targets


# === training ==================================================================================


def _mean_metric(loss, name: str):
    import keras

    return keras.metrics.MeanMetricWrapper(lambda t, p: loss.call(t, p[..., :1]), name=name)


def _datasets(config: NetTrainConfig):
    """``(train_inputs, train_targets, val_inputs, val_targets, baseline_metrics)``."""
    horse = Path(config.horse) if config.horse else assets_dir() / "horse"
    if config.kind == "matting":
        backgrounds = None
        if horse.is_dir():
            backgrounds, _ = load_segmentation_pairs(horse, max(128, config.image_size * 2))
        foregrounds = []
        if config.foregrounds:
            for image_path, alpha_path in _pairs(Path(config.foregrounds), "images", "alphas"):
                image = _read_rgb(image_path)
                foregrounds.append((image, _read_grey(alpha_path, image.shape[:2])))
        train = matting_samples(config.samples, config.image_size, seed=config.seed, backgrounds=backgrounds,
                                foregrounds=foregrounds, max_band=config.max_band)
        val = matting_samples(config.val_samples, config.image_size, seed=config.seed + 10_000,
                              backgrounds=backgrounds, foregrounds=foregrounds, max_band=config.max_band)
        # baseline: 0.5 everywhere in the unknown band (what the trimap alone says)
        unknown = val[1][..., 1]
        baseline = {"unknown_l1": float(np.sum(np.abs(0.5 - val[1][..., 0]) * unknown) / max(unknown.sum(), 1.0))}
        return (*train, *val, baseline)
    if not horse.is_dir():
        raise FileNotFoundError(
            f"horse: '{horse}' is absent; the refiner trains on a segmentation set with images/ and masks/ "
            "(pass --horse DIR or set RMBG_ASSETS)"
        )
    photos, masks = load_segmentation_pairs(horse, config.image_size)
    order = np.random.default_rng(config.seed).permutation(len(photos))
    n_val = max(1, len(photos) // 10)
    val_idx, train_idx = order[:n_val], order[n_val:]
    per_photo = max(1, config.samples // len(train_idx))
    train = refiner_samples(photos[train_idx], masks[train_idx], per_photo, seed=config.seed)
    val = refiner_samples(photos[val_idx], masks[val_idx], max(1, config.val_samples // n_val), seed=config.seed + 10_000)
    coarse, truth = val[0][..., 3], val[1][..., 0]
    inter = ((coarse > 0.5) & (truth > 0.5)).sum(axis=(1, 2))
    union = ((coarse > 0.5) | (truth > 0.5)).sum(axis=(1, 2))
    baseline = {
        "mae": float(np.mean(np.abs(coarse - truth))),
        "iou": float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0))),
    }
    return (*train, *val, baseline)


def train_network(config: NetTrainConfig, *, verbose: int = 2) -> dict[str, Any]:
    """Train one network; returns ``{"run_dir", "model", "metrics"}`` (metrics as in ``metrics.json``)."""
    import keras
    import tensorflow as tf

    from RMBG.registry import create_model
    from RMBG.training.callbacks import AtomicCheckpoint
    from RMBG.training.matting_losses import MattingLoss, RefinementLoss, UnknownL1
    from RMBG.training.metrics import MaskIoU, MaskMAE
    from RMBG.training.trainer import environment_versions, git_revision

    run_dir = Path(config.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    (run_dir / "run_info.json").write_text(
        json.dumps({"git": git_revision(), "versions": environment_versions(), "command": sys.argv}, indent=2, default=str),
        encoding="utf-8",
    )
    started = time.time()
    x_train, y_train, x_val, y_val, baseline = _datasets(config)
    keras.utils.set_random_seed(config.seed)
    model = create_model(KINDS[config.kind], **config.model_overrides)
    if config.kind == "matting":
        loss = MattingLoss(composition_weight=0.5, laplacian_weight=1.0)
        metrics = [_mean_metric(UnknownL1(), "unknown_l1")]
    else:
        loss = RefinementLoss()
        metrics = [MaskMAE(), MaskIoU()]
    steps = config.steps_per_epoch or max(1, len(x_train) // config.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps * config.epochs, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metrics)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=config.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(config.batch_size, drop_remainder=True)
        .prefetch(2)
    )
    callbacks = [
        AtomicCheckpoint(str(run_dir / "best.keras"), monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv")),
    ]
    history = model.fit(
        train_ds, validation_data=(x_val, y_val), epochs=config.epochs, steps_per_epoch=steps,
        validation_batch_size=config.batch_size, callbacks=callbacks, verbose=verbose,
    )
    import RMBG.models  # noqa: F401  (registers the layers)

    best = keras.saving.load_model(run_dir / "best.keras", compile=False)
    best.compile(loss=loss, metrics=metrics)
    values = best.evaluate(x_val, y_val, batch_size=config.batch_size, verbose=0, return_dict=True)
    result = {
        "validation": {k: float(v) for k, v in values.items()},
        "baseline_input": baseline,
        "best_epoch": int(np.argmin(history.history["val_loss"])) + 1,
        "epochs_completed": len(history.history["val_loss"]),
        "train_samples": int(len(x_train)),
        "val_samples": int(len(x_val)),
        "seconds": round(time.time() - started, 1),
        "params": int(best.count_params()),
    }
    (run_dir / "metrics.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return {"run_dir": run_dir, "model": best, "metrics": result}


def package_weights(run_dir: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Save ``run_dir/best.keras``'s backbone as the family's packaged weights (strict ``.npz``) with
    the run's ``config.yaml`` and ``metrics.json`` beside it; returns the ``WeightFile`` fields.

    Raises:
        ValueError: the file would exceed 3 MB (too large to commit; keep it out of git).
    """
    import keras

    import RMBG.models  # noqa: F401
    from RMBG.weights.sources import file_digests
    from RMBG.weights.strict import save_variables

    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
    run_dir = Path(run_dir)
    model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    family = KINDS[kind]
    folder = Path(__file__).resolve().parents[1] / "models" / family / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{family}.npz"
    save_variables(model.backbone, target)
    size = target.stat().st_size
    if size > MAX_PACKAGED_BYTES:
        target.unlink()
        raise ValueError(f"weights: {size} bytes is above the 3 MB limit for committed weights; train a smaller model")
    for name in ("config.yaml", "metrics.json"):
        shutil.copyfile(run_dir / name, folder / f"{family}.{name}")
    md5, sha256 = file_digests(target)
    return {"filename": target.name, "md5": md5, "sha256": sha256, "size": size}


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m RMBG.matting.train_nets", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--out", required=True, help="run folder")
    defaults = NetTrainConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--samples", type=int, default=defaults.samples)
    parser.add_argument("--val-samples", type=int, default=defaults.val_samples)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--horse", default=None, help="segmentation folder with images/ and masks/ (default: $RMBG_ASSETS/horse)")
    parser.add_argument("--foregrounds", default=None, help="folder with images/ and alphas/ of real foregrounds (matting)")
    parser.add_argument("--package", action="store_true", help="save the best model as the family's packaged weights")
    args = parser.parse_args(argv)
    config = NetTrainConfig(
        kind=args.kind, out=args.out, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size, image_size=args.image_size, samples=args.samples, val_samples=args.val_samples,
        learning_rate=args.lr, seed=args.seed, horse=args.horse, foregrounds=args.foregrounds,
    )
    result = train_network(config)
    print(json.dumps(result["metrics"], indent=2))
    if args.package:
        print("WeightFile:", json.dumps(package_weights(config.out, config.kind)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
