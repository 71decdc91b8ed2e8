"""In-process measurements, each in its own subprocess: ``python -m RMBG.benchmark.worker <task> '<json>'``.

One backend's threads, memory and imports never disturb another's (onnxruntime measured slower
with TensorFlow active in the same process), and each process's peak RSS is its own. Tasks:

* ``prepare``: export the files the timed tasks need (TensorFlow), and the PyTorch weights.
* ``model``: latency of the model alone for one :class:`~RMBG.benchmark.config.ModelCase`.
* ``stages``: where the time of one photo goes (decode, resize, model, restore, compose, PNG encoders).

The parent (:func:`run_worker`) imports neither TensorFlow nor onnxruntime.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from RMBG.benchmark.config import MODEL_BACKENDS, ModelCase, export_key
from RMBG.benchmark.peers import PNG_ENCODERS, TorchU2NetP, keras_to_torch_state, rgba_cutout_uint8
from RMBG.benchmark.photos import prepare_batch
from RMBG.export.cache import exported_file
from RMBG.inference.backends import KerasBackend, TFLiteBackend
from RMBG.inference.image_io import load_image
from RMBG.inference.remover import Remover
from RMBG.registry import create_model, model_info
from RMBG.runtime import make_engine

RESULT_PREFIX = "RMBG-BENCHMARK-RESULT:"
#: The model section's precision names in :mod:`RMBG.runtime`'s terms.
RUNTIME_PRECISIONS = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux ``ru_maxrss`` is in KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def run_worker(task: str, arguments: dict, *, timeout: float, env: dict | None = None) -> dict:
    """Run ``task`` in a fresh Python process and return its result dict.

    The result carries ``wall_s`` (the subprocess's wall time, interpreter start included). A
    failing subprocess gives ``{"error": ...}`` with the end of its output (never a silent row).
    """
    command = [sys.executable, "-m", "RMBG.benchmark.worker", task, json.dumps(arguments)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    start = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{task}: timed out after {timeout:.0f} s", "wall_s": time.perf_counter() - start}
    wall = time.perf_counter() - start
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            result["wall_s"] = wall
            return result
    tail = (completed.stderr or completed.stdout or "")[-1500:]
    return {"error": f"{task}: exit code {completed.returncode}: {tail}", "wall_s": wall}


def _configure_threads(threads: int | None) -> None:
    if threads:
        import tensorflow as tf  # deferred: TensorFlow only in the Keras and prepare workers

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _gpu_visible() -> bool:
    import tensorflow as tf  # deferred: TensorFlow only in the Keras and prepare workers

    return bool(tf.config.list_physical_devices("GPU"))


def task_prepare(model: str, exports: list[dict], torch_state: str | None = None) -> dict:
    """Export the files the timed workers need (so they run without TensorFlow), and the PyTorch weights.

    Args:
        model: registry name.
        exports: ``{"format": "onnx"|"tflite", "fp16": bool, "image_size": int}`` each.
        torch_state: write the PyTorch U2NETP state dict (``.npz``) here.

    Returns:
        ``{"files": {key: path}, "gpu": bool}`` with keys from :func:`export_key`.
    """
    default_size = model_info(model).input_size
    files = {}
    for item in exports:
        size = int(item["image_size"])
        source: Any = model
        if tuple(default_size or ()) != (size, size):
            source = create_model(model, pretrained=True, image_size=(size, size))
        path = exported_file(source, item["format"], fp16=bool(item["fp16"]))
        files[export_key(item["format"], size, bool(item["fp16"]))] = str(path)
    if torch_state:
        state = keras_to_torch_state(create_model(model, pretrained=True).backbone)
        Path(torch_state).parent.mkdir(parents=True, exist_ok=True)
        np.savez(torch_state, **state)
    return {"files": files, "gpu": _gpu_visible()}


def _model_predictor(case: ModelCase, model: str, file: str | None, torch_state: str | None):
    """A function ``batch (N, s, s, 3) float32 [0, 255] -> masks (N, s, s)`` for ``case``."""
    if case.backend == "keras":
        import keras  # deferred: Keras (TensorFlow) only in the Keras worker; the others measure without it

        _configure_threads(case.threads)
        if case.precision != "float32":
            keras.mixed_precision.set_global_policy(f"mixed_{case.precision}")

        backend = KerasBackend(create_model(model, pretrained=True, image_size=(case.image_size, case.image_size)))
        return backend.predict
    if case.backend in ("onnxruntime", "openvino"):
        scheme = "shared" if case.threads else "per-core"  # a thread count means one engine on that many threads
        return make_engine(case.backend, file, (case.image_size, case.image_size), threads=case.threads, scheme=scheme,
                           precision=RUNTIME_PRECISIONS[case.precision]).predict
    if case.backend == "tflite":
        return TFLiteBackend(file, threads=case.threads).predict
    if case.backend == "pytorch":
        return TorchU2NetP(torch_state, threads=case.threads).predict
    raise ValueError(f"backend: expected one of {MODEL_BACKENDS}, got {case.backend!r}")


def task_model(case: dict, model: str, photos: list[str], repeats: int, file: str | None = None,
               torch_state: str | None = None, masks_out: str | None = None) -> dict:
    """Time one :class:`ModelCase` on ``photos`` (cycled to fill the batches)."""
    case = ModelCase(**case)
    start = time.perf_counter()
    predict = _model_predictor(case, model, file, torch_state)
    load_s = time.perf_counter() - start
    images = prepare_batch([Path(p) for p in photos], case.image_size)
    count = max(len(images), case.batch_size)
    order = [i % len(images) for i in range(math.ceil(count / case.batch_size) * case.batch_size)]
    batches = [images[order[i:i + case.batch_size]] for i in range(0, len(order), case.batch_size)]
    start = time.perf_counter()
    first = predict(batches[0])
    first_s = time.perf_counter() - start
    masks = [first]
    for batch in batches[1:]:
        masks.append(predict(batch))
    latencies = []
    cpu = time.process_time()
    for _ in range(max(1, repeats)):
        for batch in batches:
            start = time.perf_counter()
            predict(batch)
            latencies.append(time.perf_counter() - start)
    cpu_per_image = (time.process_time() - cpu) / (len(latencies) * case.batch_size)
    masks = np.concatenate(masks)[: len(images)]
    if not np.isfinite(masks).all():
        raise FloatingPointError(f"{case.label}: the masks hold NaN or infinite values")
    if masks_out:
        np.save(masks_out, masks.astype(np.float32))
    median = float(np.median(latencies))
    return {
        "load_s": load_s, "first_call_s": first_s, "median_batch_s": median,
        "min_batch_s": float(np.min(latencies)), "per_image_s": median / case.batch_size,
        "images_per_s": case.batch_size / median, "cpu_per_image_s": cpu_per_image, "calls": len(latencies),
        "peak_rss_mb": peak_rss_bytes() / 1e6,
    }


def task_stages(backend: str, model: str, photos: list[str]) -> dict:
    """Seconds per stage of one photo at a time (serial), summed over ``photos``."""
    remover = Remover(model, backend=backend, batch_size=1)
    totals: dict[str, float] = {}
    sizes: dict[str, int] = {}
    remover.predict_batch(remover.prepare(load_image(photos[0]))[None])  # warm-up

    def timed(name, function, *args):
        start = time.perf_counter()
        value = function(*args)
        totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
        return value

    pixels = 0
    for path in photos:
        image = timed("decode", load_image, path)
        pixels += image.shape[0] * image.shape[1]
        prepared = timed("resize", remover.prepare, image)
        small = timed("model", remover.predict_batch, prepared[None])[0]
        mask = timed("restore", remover.restore, small, image.shape[:2])
        result = timed("compose", remover.finish, image, mask, "rgba")
        timed("restore+compose:uint8", rgba_cutout_uint8, image, small)
        for name, encoder in PNG_ENCODERS.items():
            sizes[name] = sizes.get(name, 0) + len(timed(f"encode:{name}", encoder, result))
    return {"seconds": totals, "png_bytes": sizes, "photos": len(photos), "megapixels": pixels / len(photos) / 1e6,
            "peak_rss_mb": peak_rss_bytes() / 1e6}


TASKS = {"prepare": task_prepare, "model": task_model, "stages": task_stages}


def main(argv: Sequence[str]) -> int:
    """Run one task; print its result as one JSON line after :data:`RESULT_PREFIX`."""
    if len(argv) != 2 or argv[0] not in TASKS:
        print(f"usage: python -m RMBG.benchmark.worker {{{','.join(TASKS)}}} '<json arguments>'", file=sys.stderr)
        return 2
    result = TASKS[argv[0]](**json.loads(argv[1]))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
