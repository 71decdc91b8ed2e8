"""``python -m RMBG train``: train or fine-tune from a YAML config.

Examples::

    python -m RMBG train --print-config > run.yaml          # a template with every setting
    python -m RMBG train --config run.yaml
    python -m RMBG train --config run.yaml --set epochs=5 --set image_size=[64,64] --set augment.hflip=false
    python -m RMBG train --config params.yaml --section train --track mlflow     # the DVC pipeline's stage

Re-running the same command after an interruption resumes the run in its ``run_dir`` (and, with
``--track mlflow``, its MLflow run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from RMBG.tracking.options import add_tracking_arguments, options_from_args


def run(args: argparse.Namespace) -> int:
    """The ``train`` command; returns the exit code."""
    from RMBG.training.config import TrainConfig  # deferred: PyYAML stays out of `rmbg --help` start-up

    if args.section and not args.config:
        raise SystemExit("train: --section reads a part of --config; give --config FILE too")
    config = TrainConfig.from_yaml(args.config, section=args.section) if args.config else TrainConfig()
    config = config.with_overrides(args.set)
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0
    if args.config is None and not args.set:
        raise SystemExit(
            "train: give --config run.yaml (a template: python -m RMBG train --print-config > run.yaml) "
            "or --set key=value settings"
        )
    try:
        config.check_weights()  # before TensorFlow loads and before the run folder is made
    except (FileNotFoundError, ValueError) as error:
        print(f"train: {error}", file=sys.stderr)
        return 2
    data = getattr(config, "data", None)
    if data and not Path(data).is_file():  # before TensorFlow loads and before the run folder is made
        print(f"train: data: '{data}' is not a file; give the dataset's index.csv "
              "(python -m Preprocess prepare IMAGES MASKS DST writes DST/index.csv)", file=sys.stderr)
        return 2
    from RMBG.training.trainer import train  # deferred: TensorFlow only when training starts

    result = train(config, verbose=args.verbose, tracking=options_from_args(args))
    summary = {
        "run_dir": str(result.run_dir),
        "epochs_completed": result.epochs_completed,
        "initial_epoch": result.initial_epoch,
        "stopped_early": result.stopped_early,
        "val": result.metrics,
    }
    if result.initial_metrics is not None:
        summary["val_initial"] = result.initial_metrics
    if result.tracking_run_id is not None:
        summary["mlflow_run_id"] = result.tracking_run_id
    print(json.dumps(summary, indent=2))
    return 0


def _verbosity(value: str):
    if value == "auto":
        return value
    if value in ("0", "1", "2"):
        return int(value)
    raise argparse.ArgumentTypeError(f"expected auto, 0, 1 or 2, got {value!r}")


def register(subparsers) -> None:
    """Add the ``train`` command."""
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune a model from a YAML config (resumable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="the run's YAML config (see --print-config)")
    parser.add_argument("--section", default=None, metavar="KEY",
                        help="read the settings under this top-level key of --config (e.g. train in params.yaml)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting (YAML value; dotted keys for nested settings); repeatable",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resulting config as YAML and exit")
    parser.add_argument("--verbose", type=_verbosity, default="auto", help="fit verbosity: auto, 0, 1 or 2")
    add_tracking_arguments(parser)
    parser.set_defaults(func=run)
