"""Train the learned matting network and the mask refiner, and package them as presets.

``python -m RMBG.matting.train_nets matting|refiner --out DIR [--epochs N ...] [--package]``

A front end of the one trainer, :func:`RMBG.training.trainer.train`: the arguments become a
:class:`~RMBG.training.config.TrainConfig` with ``task: matting`` (model ``matting_net``) or
``task: refinement`` (model ``refiner``), so the run folder, resuming, the callbacks and
``--track mlflow`` are those of every training run. The same run is
``python -m RMBG train --config run.yaml`` with the ``config.yaml`` this writes. The samples are
described in :mod:`RMBG.training.matting_data`: composites made on the fly for matting, photos of
an index CSV with perturbed masks for refinement. Without ``--data``, the Weizmann horses of
``$RMBG_ASSETS/horse`` are indexed into ``<out>/data/horse.csv`` (90 % train, 10 % val) and used
(matting: as background photos; refinement: as the training set).

``--package`` writes the best model's backbone variables with
:func:`RMBG.weights.strict.save_variables` into ``RMBG/models/<family>/weights/<name>.npz`` (refused
above 3 MB) with ``config.yaml`` and ``metrics.json`` beside it, and prints the ``WeightFile`` to
paste into the family's presets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import RMBG.models  # noqa: F401  (registers the layers)
from RMBG.checksums import file_digests
from RMBG.paths import assets_dir
from RMBG.tracking.options import add_tracking_arguments, options_from_args
from RMBG.training.config import TrainConfig
from RMBG.weights.strict import save_variables

#: ``kind -> (model, task)``.
KINDS = {"matting": ("matting_net", "matting"), "refiner": ("refiner", "refinement")}
MAX_PACKAGED_BYTES = 3 * 1024 * 1024


def net_config(kind: str, out: str | os.PathLike, data: str | None, overrides: Sequence[str] = (), **settings: Any):
    """The :class:`~RMBG.training.config.TrainConfig` of a ``kind`` run: the recipe of the
    packaged weights (Adam, cosine decay to 5 %, no plateau callbacks) with ``settings``
    (TrainConfig fields) and ``overrides`` (``key=value`` strings) applied.

    Raises:
        ValueError: an unknown kind or setting.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
    model, task = KINDS[kind]
    recipe = dict(
        task=task, model=model, loss=task, run_dir=str(out), data=data, image_size=(96, 96), batch_size=16,
        epochs=10, learning_rate=3e-3, lr_schedule="cosine", lr_final_fraction=0.05, reduce_lr_patience=0,
        early_stopping_patience=0, augment={"enabled": False}, samples=1024, val_samples=96,
    )
    recipe.update({k: v for k, v in settings.items() if v is not None})
    return TrainConfig.from_dict(recipe).with_overrides(list(overrides))


def horse_index(out: str | os.PathLike, seed: int = 0) -> Path | None:
    """Index ``$RMBG_ASSETS/horse`` into ``<out>/data/horse.csv`` (90/10 train/val, seeded) once;
    ``None`` when the folder is absent."""
    horse = assets_dir() / "horse"
    if not horse.is_dir():
        return None
    target = Path(out) / "data" / "horse.csv"
    if not target.is_file():
        from Preprocess.index import index  # deferred: pandas (Preprocess) only when the horse index is built

        index(horse / "images", horse / "masks", target, split=(0.9, 0.1, 0.0), seed=seed, overwrite=True,
              progress=False, verbose=False)
    return target


def package_weights(run_dir: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Save ``run_dir/best.keras``'s backbone as the family's packaged weights (strict ``.npz``) with
    the run's ``config.yaml`` and ``metrics.json`` beside it; returns the ``WeightFile`` fields.

    Raises:
        ValueError: an unknown kind, or the file would exceed 3 MB (too large to commit).
    """
    import keras  # deferred: Keras (TensorFlow) only when packaging weights; --help stays TF-free

    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
    run_dir = Path(run_dir)
    model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    family = KINDS[kind][0]
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
    digests = file_digests(target)
    return {"filename": target.name, "md5": digests["md5"], "sha256": digests["sha256"], "size": size}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m RMBG.matting.train_nets", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--out", required=True, help="run folder (re-run the command to resume it)")
    parser.add_argument("--epochs", type=int, default=None, help="default 10")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="default: one pass over the samples")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16")
    parser.add_argument("--image-size", type=int, default=None, help="square training side (default 96)")
    parser.add_argument("--samples", type=int, default=None, help="training samples made (default 1024)")
    parser.add_argument("--val-samples", type=int, default=None, help="validation samples made (default 96)")
    parser.add_argument("--lr", type=float, default=None, help="Adam's initial learning rate (default 3e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="index CSV (refinement: the training set; matting: background "
                        "photos); default: $RMBG_ASSETS/horse indexed into <out>/data/horse.csv")
    parser.add_argument("--foregrounds", default=None, help="matting: index CSV of real foreground photos + alphas")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any TrainConfig setting")
    parser.add_argument("--package", action="store_true", help="save the best model as the family's packaged weights")
    add_tracking_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    args = _parser().parse_args(argv)
    data = args.data or horse_index(args.out, args.seed)
    if data is None and args.kind == "refiner":
        raise SystemExit(
            f"--data: the refiner trains on a segmentation set and '{assets_dir() / 'horse'}' is absent; "
            "give an index CSV (python -m Preprocess index IMAGES MASKS index.csv) or set RMBG_ASSETS"
        )
    size = (args.image_size, args.image_size) if args.image_size else None
    config = net_config(
        args.kind, args.out, str(data) if data else None, args.set, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, image_size=size, samples=args.samples,
        val_samples=args.val_samples, learning_rate=args.lr, seed=args.seed, foregrounds=args.foregrounds,
    )
    from RMBG.training.trainer import train  # deferred: TensorFlow only when training starts; --help stays TF-free

    result = train(config, verbose=2, tracking=options_from_args(args))
    print(json.dumps({"run_dir": str(result.run_dir), "val": result.metrics}, indent=2))
    if args.package:
        print("WeightFile:", json.dumps(package_weights(config.run_dir, args.kind)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
