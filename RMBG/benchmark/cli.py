"""``python -m RMBG benchmark``: measure backends and peers side by side; CSV, plots and a summary."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _list(kind):
    def parse(text: str):
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None

    return parse


def _threads(text: str):
    return None if text in ("default", "0") else int(text)


def register(subparsers) -> None:
    """Add the ``benchmark`` command."""
    parser = subparsers.add_parser(
        "benchmark",
        help="measure model latency, end-to-end throughput against rembg, megapixel scaling and stages",
        description="Every measurement runs in its own subprocess. Writes model_latency.csv, end_to_end.csv, "
        "megapixels.csv, stages.csv, PNG plots and summary.md into --output. See docs/benchmarks.md.",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="results folder")
    parser.add_argument("--photos", type=Path, default=None, help="folder of photos (default: the 18 real photos under $RMBG_ASSETS)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N photos")
    parser.add_argument("-m", "--model", default="u2netp", help="registered pretrained model (default u2netp)")
    parser.add_argument("--backends", type=_list(str), default=("keras", "onnxruntime", "tflite", "pytorch"), help="model-latency backends (default keras,onnxruntime,tflite,pytorch)")
    parser.add_argument("--precisions", type=_list(str), default=("float32", "bfloat16", "float16"), help="default float32,bfloat16,float16 (unsupported pairs are listed, not run)")
    parser.add_argument("--sizes", type=_list(int), default=(320,), help="model input sizes (default 320)")
    parser.add_argument("--batches", type=_list(int), default=(1, 4), help="batch sizes (default 1,4)")
    parser.add_argument("--threads", type=_list(_threads), default=(None,), help="intra-op threads, 'default' for the backend's (default default)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the photos (default 3)")
    parser.add_argument("--end-to-end", type=_list(str), default=("keras", "onnxruntime", "tflite"), help="our backends timed on the folder pipeline")
    parser.add_argument("--e2e-batch", type=int, default=4, help="Remover batch size end to end (default 4)")
    parser.add_argument("--e2e-extra-batches", type=_list(int), default=(1,), help="further batch sizes timed end to end (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of every end-to-end run, fastest kept (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="Remover read/write threads (default 2)")
    parser.add_argument("--peers", type=_list(str), default=("rembg", "pytorch"), help="rembg and/or pytorch (u2net-fast); '' for none")
    parser.add_argument("--peer-weights", type=Path, default=None, help="official u2netp.onnx for rembg (default $RMBG_ASSETS/weights/u2netp.onnx)")
    parser.add_argument("--megapixels", type=_list(float), default=(1, 4, 12, 24), help="photo sizes for the scaling runs; '' to skip")
    parser.add_argument("--mp-count", type=int, default=3, help="photos per megapixel size (default 3)")
    parser.add_argument("--mp-backend", default="onnxruntime", help="our backend in the scaling and stage runs (default onnxruntime)")
    parser.add_argument("--no-stages", action="store_true", help="skip the stage profile")
    parser.add_argument("--smoke", action="store_true", help="tiny run: 2 photos, 1 repeat, keras + onnxruntime (also RMBG_SMOKE=1)")
    parser.set_defaults(func=run_benchmark_command)


def run_benchmark_command(args: argparse.Namespace) -> int:
    """Run ``benchmark``; exit code 1 if any measurement failed."""
    from RMBG.benchmark.harness import BenchmarkConfig, run_benchmark

    if args.smoke or os.environ.get("RMBG_SMOKE") == "1":
        config = BenchmarkConfig.smoke(args.output, photos=args.photos, model=args.model)
    else:
        config = BenchmarkConfig(
            output=args.output, photos=args.photos, limit=args.limit, model=args.model, backends=args.backends,
            precisions=args.precisions, sizes=args.sizes, batches=args.batches, threads=args.threads,
            repeats=args.repeats, end_to_end=args.end_to_end, e2e_batch=args.e2e_batch,
            e2e_extra_batches=args.e2e_extra_batches, rounds=args.rounds, workers=args.workers,
            peers=args.peers, peer_weights=args.peer_weights, megapixels=args.megapixels, mp_count=args.mp_count,
            mp_backend=args.mp_backend, stages=not args.no_stages,
        )
    results = run_benchmark(config)
    print((args.output / "summary.md").read_text())
    for path in results["files"]:
        print(f"wrote {path}")
    return 1 if results["errors"] else 0
