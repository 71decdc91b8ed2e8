"""``python -m RMBG evaluate``: score a model or saved predictions against ground-truth masks.

Examples::

    python -m RMBG evaluate --model u2netp --data Data/index.csv --split test --out runs/eval_u2netp
    python -m RMBG evaluate --model my_model.keras --data photos/ masks/ --out runs/eval_mine
    python -m RMBG evaluate --pred-dir outputs/masks --data masks/ --out runs/eval_saved

Exit status: 0 when every ground-truth mask was scored; 1 when some files were skipped (bad file,
failed prediction, mask without prediction), listed at the end; 2 when nothing could be evaluated
or the arguments are unusable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from RMBG.tracking.commands import tracked_command
from RMBG.tracking.options import add_tracking_arguments



def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``evaluate`` command to ``subparsers``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model or saved masks: S-measure, F/E-measure, MAE, boundary IoU, HCE",
        description=(
            "Score a model (--model) or saved predictions (--pred-dir) against ground-truth masks "
            "with the salient-object protocol (prediction resized to the mask's size, uint8, GT > 128). "
            "Writes per_image.csv, summary.json, curves.csv and PR / F-measure plots with --out."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="NAME_OR_PATH",
                        help="a registered model name (e.g. u2netp) or a .keras file")
    source.add_argument("--pred-dir", metavar="DIR",
                        help="score the masks saved in DIR instead of running a model (paired by file stem)")
    parser.add_argument(
        "--data", nargs="+", required=True, metavar="PATH",
        help="an index CSV (columns image, mask, split; paths relative to the CSV) or IMAGES_DIR MASKS_DIR; "
             "with --pred-dir a single MASKS_DIR also works",
    )
    parser.add_argument("--split", help="with an index CSV: evaluate only the rows of this split (e.g. test)")
    parser.add_argument("--out", metavar="DIR", help="write the report files to DIR (default: print only)")
    parser.add_argument("--name", help="method name in the report and plots (default: model or folder name)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size of the model (with --model)")
    parser.add_argument("--backend", default="keras", help="inference backend of the model (default: keras)")
    parser.add_argument("--no-hce", action="store_true", help="skip HCE, the slowest metric")
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tracking_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _data_argument(values: list[str], with_predictions: bool) -> str | tuple[str, str]:
    """--data as a CSV/folder path or an (images_dir, masks_dir) tuple; raises ValueError if unusable."""
    if len(values) == 1:
        single = values[0]
        if Path(single).is_dir() and not with_predictions:
            raise ValueError(
                f"--data: '{single}' is a folder; running a model needs photos and masks: "
                "pass --data IMAGES_DIR MASKS_DIR, or an index CSV"
            )
        return single
    if len(values) == 2:
        return values[0], values[1]
    raise ValueError(f"--data: expected one index CSV or two folders (IMAGES_DIR MASKS_DIR), got {len(values)} paths")


def _print_result(result) -> None:
    # deferred: py_sod_metrics (scipy, scikit-learn, pandas) stays out of `rmbg --help` start-up
    from RMBG.evaluation.reports import format_summary

    print(f"{result.method}: scored {len(result.rows)} image(s)")
    print(format_summary(result.summary))
    for kind, names in result.orphans.items():
        if names:
            shown = ", ".join(names[:10]) + (f" ... ({len(names)} in all)" if len(names) > 10 else "")
            print(f"{kind.replace('_', ' ')}: {shown}", file=sys.stderr)
    if result.problems:
        print(f"skipped {len(result.problems)} file(s):", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem['name']}: {problem['problem']}", file=sys.stderr)
    for label, path in result.files.items():
        print(f"wrote {label}: {path}")


@tracked_command("evaluate")
def run(args: argparse.Namespace) -> int:
    """Execute ``evaluate``; returns the exit status (0 complete, 1 some files skipped, 2 failure)."""
    # deferred: pysodmetrics imports scikit-learn (3.6 s), which `python -m RMBG --help` must not pay
    from RMBG.evaluation.evaluate import EvaluationError, evaluate_model, evaluate_predictions

    if args.batch_size is not None and args.batch_size < 1:
        print(f"error: --batch-size must be a positive integer, got {args.batch_size}", file=sys.stderr)
        return 2
    options = dict(split=args.split, with_hce=not args.no_hce, plots=not args.no_plots, progress=not args.quiet)
    try:
        data = _data_argument(args.data, with_predictions=args.pred_dir is not None)
        if args.pred_dir is not None:
            result = evaluate_predictions(args.pred_dir, data, args.out, method=args.name, **options)
        else:
            # deferred: the Remover (cv2, PIL) stays out of `rmbg --help` start-up
            from RMBG.inference.remover import Remover

            remover_options = {"backend": args.backend}
            if args.batch_size is not None:
                remover_options["batch_size"] = args.batch_size
            remover = Remover(model=args.model, **remover_options)
            method = args.name or Path(args.model).stem
            result = evaluate_model(remover.predict_mask, data, args.out, method=method, **options)
    except (EvaluationError, FileNotFoundError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_result(result)
    return 0 if result.complete else 1
