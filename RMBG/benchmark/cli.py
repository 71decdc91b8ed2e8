"""``python -m RMBG benchmark``: our commands and rembg as whole processes, side by side; CSV, plots, summary."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from RMBG.benchmark.config import BenchmarkConfig, CommandSpec, default_commands
from RMBG.benchmark.runner import run_benchmark
from RMBG.tracking.commands import tracked_command
from RMBG.tracking.options import add_tracking_arguments


def _list(kind):
    def parse(text: str):
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None

    return parse


def _threads(text: str):
    return None if text in ("default", "0") else int(text)


def _command(text: str):
    try:
        return CommandSpec.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers) -> None:
    """Add the ``benchmark`` command."""
    parser = subparsers.add_parser(
        "benchmark",
        help="time our remove commands against rembg as whole processes (cold and warm), per photo size, and the server",
        description="Runs every command as a separate process, as a user runs it, and measures wall time, CPU seconds, "
        "peak RSS, time to the first mask and the masks' IoU against the Keras float32 outputs. Writes processes.csv, "
        "megapixels.csv, runs.csv, iou.csv, serve.csv, targets.csv, PNG plots and summary.md into --output. "
        "See docs/benchmarks.md (definitions of cold and warm).",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="results folder")
    parser.add_argument("--photos", type=Path, default=None, help="folder of photos (default: the 18 real photos under $RMBG_ASSETS)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N photos")
    parser.add_argument("--sections", type=_list(str), default=("processes", "megapixels", "serve"),
                        help="any of processes,megapixels,serve,model,stages (default processes,megapixels,serve)")
    parser.add_argument("--command", type=_command, action="append", default=None, dest="commands", metavar="NAME=CMD",
                        help="a command to time instead of the defaults (repeatable), e.g. "
                        "\"fast={python} -m RMBG remove -i {input} -o {output} --threads 2\"; placeholders {python} {input} "
                        "{output} {rembg} {rembg_model_json}")
    parser.add_argument("--reference", default="rmbg-keras", help="command whose masks are the Keras float32 reference (default rmbg-keras)")
    parser.add_argument("--default-command", default="rmbg-default", help="command the targets are checked for (default rmbg-default)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per command and condition; medians reported (default 3)")
    parser.add_argument("--conditions", type=_list(str), default=("cold", "warm"), help="cold and/or warm (default both)")
    parser.add_argument("--megapixels", type=_list(float), default=(1, 4, 12, 24), help="photo sizes (default 1,4,12,24; '' to skip)")
    parser.add_argument("--mp-count", type=int, default=1, help="photos per size (default 1)")
    parser.add_argument("--mp-commands", type=_list(str), default=("rmbg-default", "rembg"),
                        help="commands run per photo size (default rmbg-default,rembg)")
    parser.add_argument("--peer-dir", type=Path, default=None, help="the rembg venv (default $RMBG_HOME/peers/rembg-2.0.86)")
    parser.add_argument("--install-peers", action="store_true", help="create the rembg venv if it is missing (about 840 MB)")
    parser.add_argument("--peer-weights", type=Path, default=None, help="official u2netp.onnx for rembg (default $RMBG_ASSETS/weights/u2netp.onnx)")
    parser.add_argument("--quick", action="store_true", help="2 photos, 1 warm run of the default and Keras commands, "
                        "one 0.5 MP photo, no rembg, no server (also RMBG_SMOKE=1)")
    parser.add_argument("-m", "--model", default="u2netp", help="registered model of the model/stages sections (default u2netp)")
    parser.add_argument("--backends", type=_list(str), default=("keras", "onnxruntime", "openvino", "tflite"), help="model section backends")
    parser.add_argument("--precisions", type=_list(str), default=("float32", "bfloat16", "float16"), help="model section precisions")
    parser.add_argument("--sizes", type=_list(int), default=(320,), help="model section input sizes (default 320)")
    parser.add_argument("--batches", type=_list(int), default=(1, 4), help="model section batch sizes (default 1,4)")
    parser.add_argument("--threads", type=_list(_threads), default=(None,), help="model section threads, 'default' for the engine's")
    add_tracking_arguments(parser)
    parser.set_defaults(func=run_benchmark_command)


def config_from_args(args: argparse.Namespace):
    """The :class:`~RMBG.benchmark.config.BenchmarkConfig` the arguments ask for."""
    if args.quick or os.environ.get("RMBG_SMOKE") == "1":
        return BenchmarkConfig.quick(args.output, photos=args.photos)
    return BenchmarkConfig(
        output=args.output, photos=args.photos, limit=args.limit, sections=args.sections,
        commands=tuple(args.commands) if args.commands else default_commands(), reference=args.reference,
        default_command=args.default_command, repeats=args.repeats, conditions=args.conditions, megapixels=args.megapixels,
        mp_count=args.mp_count, mp_commands=args.mp_commands, peer_dir=args.peer_dir, install_peers=args.install_peers,
        peer_weights=args.peer_weights, model=args.model, backends=args.backends, precisions=args.precisions,
        sizes=args.sizes, batches=args.batches, threads=args.threads,
    )


@tracked_command("benchmark")
def run_benchmark_command(args: argparse.Namespace) -> int:
    """Run ``benchmark``; exit code 1 if any measurement failed or rembg could not run."""
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2
    words = sys.argv[1:] if sys.argv[1:2] == ["benchmark"] else ["benchmark", "-o", str(args.output)]
    results = run_benchmark(config, command_line="python -m RMBG " + " ".join(shlex.quote(w) for w in words))
    print((config.output / "summary.md").read_text())
    for path in results["files"]:
        print(f"wrote {path}")
    return 1 if results["errors"] else 0
