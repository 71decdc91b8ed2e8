"""Training throughput: images per second of a full training step (forward, deep-supervision loss,
backward, Adam update) per model and precision.

    python -m RMBG.benchmark.training_speed                     # u2netp + resnet50_unet, 320 px
    python -m RMBG.benchmark.training_speed --models u2netp --steps 3 --batch 2
    python -m RMBG.benchmark.training_speed --smoke             # 64 px, 1 timed step

Each (model, precision) case runs in its own subprocess (a fresh TensorFlow, no policy or thread
state shared between cases), builds the model with :func:`RMBG.training.trainer.build_model` and
compiles it exactly as ``train`` does, then times ``train_on_batch`` on a fixed synthetic batch:
the first call (graph tracing included) separately, then ``--steps`` calls after ``--warmup``
untimed ones. Models that are not registered are listed as skipped (with a printed note).

Writes ``training_speed.csv`` and ``training_speed.md`` into ``--output``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from RMBG.data.synthetic import synthetic_arrays
from RMBG.registry import list_models
from RMBG.training.config import TrainConfig

COLUMNS = (
    "model", "precision", "image_size", "batch", "steps", "first_step_s", "seconds_per_step", "images_per_second",
    "parameters", "status", "note",
)
DEFAULT_MODELS = ("u2netp", "resnet50_unet")
DEFAULT_PRECISIONS = ("float32", "mixed_bfloat16")
RESULT_PREFIX = "TRAINING-SPEED-RESULT:"


def measure(model: str, precision: str, image_size: int, batch: int, steps: int, warmup: int) -> dict[str, Any]:
    """Time training steps of one case in this process (see the module docstring)."""
    # deferred: TensorFlow only in the measuring subprocess, not the parent
    from RMBG.training.trainer import build_model, compile_model

    config = TrainConfig(model=model, image_size=(image_size, image_size), precision=precision, batch_size=batch)
    network = compile_model(build_model(config), config)
    photos, alphas = synthetic_arrays(batch, (image_size, image_size), seed=0)
    images, masks = photos.astype(np.float32), alphas[..., None]
    start = time.perf_counter()
    network.train_on_batch(images, masks)
    first = time.perf_counter() - start
    for _ in range(warmup):
        network.train_on_batch(images, masks)
    start = time.perf_counter()
    for _ in range(steps):
        loss = network.train_on_batch(images, masks)
    elapsed = time.perf_counter() - start
    if not np.isfinite(np.asarray(loss, dtype=np.float64)).all():
        raise FloatingPointError(f"{model} {precision}: the loss is not finite ({loss})")
    per_step = elapsed / steps
    return {
        "first_step_s": round(first, 3),
        "seconds_per_step": round(per_step, 4),
        "images_per_second": round(batch / per_step, 3),
        "parameters": int(network.count_params()),
    }


def _run_case(model: str, precision: str, args: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": model, "precision": precision, "image_size": args.size, "batch": args.batch, "steps": args.steps,
        "first_step_s": "", "seconds_per_step": "", "images_per_second": "", "parameters": "", "status": "", "note": "",
    }
    payload = json.dumps({"model": model, "precision": precision, "image_size": args.size, "batch": args.batch,
                          "steps": args.steps, "warmup": args.warmup})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        process = subprocess.run(
            [sys.executable, "-m", "RMBG.benchmark.training_speed", "--case", payload],
            capture_output=True, text=True, timeout=args.timeout, env=env,
        )
    except subprocess.TimeoutExpired:
        row.update(status="timeout", note=f"no result within {args.timeout} s")
        return row
    results = [line[len(RESULT_PREFIX):] for line in process.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode != 0 or not results:
        tail = (process.stderr or process.stdout).strip().splitlines()[-1:] or ["no output"]
        row.update(status="failed", note=tail[0][:200])
        return row
    row.update(json.loads(results[-1]), status="ok")
    return row


def _cpu_description() -> str:
    flags: set[str] = set()
    model_name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split())
    except OSError:
        pass
    bf16 = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return f"{model_name}, {os.cpu_count()} logical CPUs, bfloat16 instructions: {', '.join(bf16) or 'none'}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    header = "| model | precision | size | batch | images/s | s/step | first step s (tracing) | status |"
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        status = r["status"] if not r["note"] else f"{r['status']}: {r['note']}"
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['image_size']} | {r['batch']} | {r['images_per_second']} | "
            f"{r['seconds_per_step']} | {r['first_step_s']} | {status} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Measure every case, write the CSV and the Markdown table; exit code 1 if a case failed."""
    registered = set(list_models())
    rows = []
    for model in args.models:
        for precision in args.precisions:
            if model not in registered:
                print(f"note: {model} is not registered here; skipped (registered: {', '.join(sorted(registered))})")
                rows.append({
                    "model": model, "precision": precision, "image_size": args.size, "batch": args.batch,
                    "steps": args.steps, "first_step_s": "", "seconds_per_step": "", "images_per_second": "",
                    "parameters": "", "status": "skipped", "note": "not registered",
                })
                continue
            print(f"measuring {model} {precision} at {args.size} px, batch {args.batch}, {args.steps} steps...", flush=True)
            row = _run_case(model, precision, args)
            print(f"  {row['status']}: {row['images_per_second'] or '-'} images/s {row['note']}", flush=True)
            rows.append(row)
    args.output.mkdir(parents=True, exist_ok=True)
    with (args.output / "training_speed.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    command = "python -m RMBG.benchmark.training_speed " + " ".join(args.argv)
    text = (
        f"Training throughput (one Adam step on a synthetic batch, deep-supervision BCE), measured with\n"
        f"`{command.strip()}` on {_cpu_description()}.\n\n{markdown_table(rows)}\n"
    )
    (args.output / "training_speed.md").write_text(text, encoding="utf-8")
    print(text)
    return 1 if any(r["status"] in ("failed", "timeout") for r in rows) else 0


def _list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m RMBG.benchmark.training_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=_list, default=DEFAULT_MODELS, help="comma-separated registered names")
    parser.add_argument("--precisions", type=_list, default=DEFAULT_PRECISIONS,
                        help="comma-separated: float32, mixed_bfloat16, mixed_float16")
    parser.add_argument("--size", type=int, default=320, help="square image size (default 320)")
    parser.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first (default 1)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per case (default 1800)")
    parser.add_argument("-o", "--output", type=Path, default=Path("Data/benchmark/training_speed"), help="results folder")
    parser.add_argument("--smoke", action="store_true", help="64 px, batch 2, 1 timed step, no warm-up")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: measure one case in this process
    args = parser.parse_args(argv)
    if args.case:
        case = json.loads(args.case)
        print(RESULT_PREFIX + json.dumps(measure(**case)), flush=True)
        return 0
    if args.smoke:
        args.size, args.batch, args.steps, args.warmup = 64, 2, 1, 0
    for name in ("size", "batch", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    args.argv = argv
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
