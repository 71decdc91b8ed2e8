"""The benchmark harness: model latency, end-to-end folder throughput, megapixel scaling, stages.

Every measurement runs in its OWN subprocess (``python -m RMBG.benchmark.harness <task> <json>``),
so one backend's threads, memory and imports never disturb another's (onnxruntime measured
slower with TensorFlow active in the same process), and each process's peak RSS is its own.
The parent process imports neither TensorFlow nor onnxruntime.

Measurements:

* **model**: latency of the model alone (backend x precision x input size x batch x threads) on
  the real photos resized to the model's size; median seconds per batch, images per second,
  first-call seconds, peak RSS, and mask agreement (IoU at 0.5, mean absolute difference) with
  the Keras float32 masks of the same inputs.
* **end_to_end**: a whole folder (decode → resize → model → restore → compose → PNG encode →
  write), ours through :meth:`Remover.process_folder` per backend, and the peers side by side
  on the same photos: rembg's own ``p`` command with ``u2net_custom`` on the same official
  weights, and the PyTorch U2NETP of u2net-fast (model latency). Seconds to import, to load the
  model and to process, photos per second, ratio to rembg, peak RSS, mask agreement with the
  Keras float32 outputs.
* **megapixels**: the same for the photos upscaled to 1, 4, 12, 24 MP.
* **stages**: where the time of one photo goes (decode, resize, model, restore, compose, PNG
  encode), with alternative PNG encoders.

Results are CSV files, PNG plots and ``summary.md`` in the output folder (:func:`run_benchmark`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

#: Backends and precisions the harness knows how to measure on a CPU, and why others are left out.
MODEL_BACKENDS = ("keras", "onnxruntime", "tflite", "pytorch")
PRECISIONS = ("float32", "bfloat16", "float16")
UNSUPPORTED = {
    ("onnxruntime", "bfloat16"): "onnxruntime's CPU provider has no bfloat16 convolution kernels on x86",
    ("onnxruntime", "float16"): "onnxruntime's CPU provider has no float16 convolution kernels on x86 (casts around every op)",
    ("tflite", "bfloat16"): "TFLite has no bfloat16 weights",
    ("pytorch", "bfloat16"): "only the float32 reference is measured for the PyTorch peer",
    ("pytorch", "float16"): "only the float32 reference is measured for the PyTorch peer",
}
END_TO_END_BACKENDS = ("keras", "onnxruntime", "tflite")
RESULT_PREFIX = "RMBG-BENCHMARK-RESULT:"


# === configuration ===========================================================================
@dataclass(frozen=True)
class ModelCase:
    """One model-latency measurement.

    Attributes:
        backend: ``keras``, ``onnxruntime``, ``tflite`` or ``pytorch`` (u2net-fast's U2NETP).
        precision: ``float32``, ``bfloat16`` (Keras ``mixed_bfloat16``) or ``float16``
            (TFLite float16 weights on CPU; Keras ``mixed_float16`` on a GPU).
        image_size: the model's square input size.
        batch_size: images per call.
        threads: intra-op threads (``None``: the backend's default). For onnxruntime a thread
            count also turns off its default of running the photos of a batch one per core at
            the same time, so ``threads=2`` measures one two-thread session on the whole batch.
    """

    backend: str
    precision: str = "float32"
    image_size: int = 320
    batch_size: int = 1
    threads: int | None = None

    @property
    def label(self) -> str:
        threads = f" t{self.threads}" if self.threads else ""
        return f"{self.backend} {self.precision} {self.image_size}px b{self.batch_size}{threads}"

    def unsupported_reason(self, gpu: bool = False) -> str | None:
        """Why this case cannot be measured here, or ``None``."""
        if self.backend not in MODEL_BACKENDS:
            return f"unknown backend {self.backend!r}"
        if self.precision not in PRECISIONS:
            return f"unknown precision {self.precision!r}"
        if (self.backend, self.precision) == ("keras", "float16") and not gpu:
            return "float16 compute needs a GPU (none visible to TensorFlow)"
        return UNSUPPORTED.get((self.backend, self.precision))


@dataclass
class BenchmarkConfig:
    """What :func:`run_benchmark` measures. See ``python -m RMBG benchmark --help``.

    Attributes:
        output: folder for CSV files, plots, prepared photos, exports and outputs.
        photos: folder of photos (default: the 18 real photos of ``$RMBG_ASSETS/u2net_testdata``).
        limit: use only the first ``limit`` photos.
        model: registry name of the model.
        backends: model-latency backends.
        precisions: precisions to try for every backend (unsupported pairs are listed, not run).
        sizes: model input sizes (square).
        batches: batch sizes.
        threads: intra-op thread counts (``None``: default).
        repeats: timed passes over the photos per model case.
        end_to_end: backends timed on the whole folder pipeline.
        e2e_batch: Remover batch size in the end-to-end runs.
        e2e_extra_batches: further batch sizes timed end to end on the same photos.
        rounds: interleaved rounds of every end-to-end run; each run keeps its fastest round
            (``process_s``) and reports the median round too (a shared machine is noisy).
        workers: Remover read/write threads.
        peers: ``rembg`` (its ``p`` command, ``u2net_custom``) and/or ``pytorch`` (u2net-fast).
        peer_weights: the official ``u2netp.onnx`` rembg runs (default ``$RMBG_ASSETS/weights/u2netp.onnx``).
        megapixels: photo sizes for the scaling runs (empty: skip).
        mp_count: photos per megapixel size.
        mp_backend: our backend in the scaling runs.
        stages: profile the stages of one photo.
        e2e_size: the model's input size in the end-to-end, scaling and stage runs (its preset size).
        files: files already exported, by :func:`export_key` (``{"onnx-320": "u2netp.onnx"}``);
            the others are exported (and cached) by a preparation subprocess.
        timeout: seconds allowed to each subprocess.
    """

    output: Path
    photos: Path | None = None
    limit: int | None = None
    model: str = "u2netp"
    backends: Sequence[str] = ("keras", "onnxruntime", "tflite", "pytorch")
    precisions: Sequence[str] = ("float32", "bfloat16", "float16")
    sizes: Sequence[int] = (320,)
    batches: Sequence[int] = (1, 4)
    threads: Sequence[int | None] = (None,)
    repeats: int = 3
    end_to_end: Sequence[str] = ("keras", "onnxruntime", "tflite")
    e2e_batch: int = 4
    e2e_extra_batches: Sequence[int] = (1,)
    rounds: int = 1
    workers: int = 2
    peers: Sequence[str] = ("rembg", "pytorch")
    peer_weights: Path | None = None
    megapixels: Sequence[float] = (1, 4, 12, 24)
    mp_count: int = 3
    mp_backend: str = "onnxruntime"
    stages: bool = True
    e2e_size: int = 320
    files: Mapping[str, str | os.PathLike] = field(default_factory=dict)
    timeout: float = 1800.0

    @classmethod
    def smoke(cls, output: str | os.PathLike, **overrides: Any) -> "BenchmarkConfig":
        """A tiny run: 2 photos, 1 repeat, model latency of Keras and onnxruntime (float32, batch 1),
        end to end with onnxruntime only, no peers, no scaling, no stages (about a minute)."""
        values = dict(
            output=Path(output), limit=2, backends=("keras", "onnxruntime"), precisions=("float32",),
            batches=(1,), repeats=1, end_to_end=("onnxruntime",), e2e_batch=2, e2e_extra_batches=(), peers=(),
            megapixels=(), stages=False,
        )
        values.update(overrides)
        return cls(**values)

    def model_cases(self) -> list[ModelCase]:
        """Every model-latency case of the grid (including unsupported ones, reported as such)."""
        cases = []
        for backend in self.backends:
            for precision in self.precisions:
                for size in self.sizes:
                    for batch in self.batches:
                        for threads in self.threads:
                            cases.append(ModelCase(backend, precision, int(size), int(batch), threads))
        return cases


# === helpers shared by the parent and the workers =============================================
def export_key(format: str, image_size: int, fp16: bool = False) -> str:
    """Key of an exported file in :attr:`BenchmarkConfig.files`: ``onnx-320``, ``tflite-320-fp16``..."""
    return f"{format}-{int(image_size)}{'-fp16' if fp16 else ''}"


def _backend_format(backend: str) -> str:
    return "onnx" if backend == "onnxruntime" else "tflite"


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux ``ru_maxrss`` is in KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def mask_agreement(mask: np.ndarray, reference: np.ndarray, threshold: float = 0.5) -> tuple[float, float]:
    """``(IoU, mean absolute difference)`` of two masks in [0, 1] (IoU of ``> threshold``; 1.0 when both are empty)."""
    if mask.shape != reference.shape:
        raise ValueError(f"mask: shape {mask.shape} differs from the reference's {reference.shape}")
    a, b = mask > threshold, reference > threshold
    union = np.logical_or(a, b).sum()
    iou = float(np.logical_and(a, b).sum() / union) if union else 1.0
    return iou, float(np.abs(mask.astype(np.float32) - reference.astype(np.float32)).mean())


def default_photos() -> Path:
    """The 18 real photos of the shared assets (``$RMBG_ASSETS/u2net_testdata/images``)."""
    from RMBG.paths import assets_dir

    return assets_dir() / "u2net_testdata" / "images"


def select_photos(folder: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The photos of ``folder`` in name order, the first ``limit`` of them.

    Raises:
        FileNotFoundError: the folder is missing or holds no photos.
    """
    from RMBG.inference.image_io import list_images

    photos = list_images(folder)
    if not photos:
        raise FileNotFoundError(f"photos: no photos in '{folder}'")
    return photos[:limit] if limit else photos


def prepare_batch(paths: Sequence[Path], size: int) -> np.ndarray:
    """Photos decoded and resized (bilinear, like the Remover) to ``size`` x ``size``, float32 [0, 255]."""
    import cv2

    from RMBG.inference.image_io import load_image

    return np.stack([
        cv2.resize(load_image(p), (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) for p in paths
    ])


def make_megapixel_set(photos: Sequence[Path], megapixels: float, folder: str | os.PathLike) -> list[Path]:
    """Copies of ``photos`` resized (bicubic) to about ``megapixels`` MP, aspect kept, JPEG quality 95.

    Existing files of the right size are reused.
    """
    import cv2

    from RMBG.inference.image_io import load_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in photos:
        target = folder / f"{path.stem}.jpg"
        if not target.exists():
            image = load_image(path)
            height, width = image.shape[:2]
            scale = math.sqrt(megapixels * 1e6 / (height * width))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            temporary = target.with_name(f".{target.name}.part.jpg")
            if not cv2.imwrite(str(temporary), cv2.cvtColor(resized, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f"could not write '{temporary}'")
            os.replace(temporary, target)
        written.append(target)
    return written


def run_worker(task: str, arguments: dict, *, timeout: float, env: dict | None = None) -> dict:
    """Run ``task`` in a fresh Python process and return its result dict.

    The result carries ``wall_s`` (the subprocess's wall time, interpreter start included). A
    failing subprocess gives ``{"error": ...}`` with the end of its output (never a silent row).
    """
    command = [sys.executable, "-m", "RMBG.benchmark.harness", task, json.dumps(arguments)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    start = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)
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


# === workers (each runs in its own subprocess) ================================================
def _configure_threads(threads: int | None) -> None:
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _gpu_visible() -> bool:
    import tensorflow as tf

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
    from RMBG.export.backends import exported_file
    from RMBG.registry import create_model, model_info

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
        from RMBG.benchmark.peers import keras_to_torch_state

        state = keras_to_torch_state(create_model(model, pretrained=True).backbone)
        Path(torch_state).parent.mkdir(parents=True, exist_ok=True)
        np.savez(torch_state, **state)
    return {"files": files, "gpu": _gpu_visible()}


def _model_predictor(case: ModelCase, model: str, file: str | None, torch_state: str | None):
    """A function ``batch (N, s, s, 3) float32 [0, 255] -> masks (N, s, s)`` for ``case``."""
    if case.backend == "keras":
        import keras

        _configure_threads(case.threads)
        if case.precision != "float32":
            keras.mixed_precision.set_global_policy(f"mixed_{case.precision}")
        from RMBG.inference.backends import KerasBackend
        from RMBG.registry import create_model

        backend = KerasBackend(create_model(model, pretrained=True, image_size=(case.image_size, case.image_size)))
        return backend.predict
    if case.backend == "onnxruntime":
        from RMBG.export.backends import OnnxRuntimeBackend

        return OnnxRuntimeBackend(file, threads=case.threads, parallel=1 if case.threads else None).predict
    if case.backend == "tflite":
        from RMBG.export.backends import TFLiteBackend

        return TFLiteBackend(file, threads=case.threads).predict
    if case.backend == "pytorch":
        from RMBG.benchmark.peers import TorchU2NetP

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
        "peak_rss_mb": peak_rss_bytes() / 2**20,
    }


def task_pipeline(backend: str, model: str, input: str, output: str, batch_size: int, workers: int,
                  precision: str = "float32") -> dict:
    """Ours end to end: ``Remover(model, backend).process_folder(input, output)`` (RGBA PNG outputs)."""
    start = time.perf_counter()
    if backend == "keras" and precision != "float32":
        import keras

        keras.mixed_precision.set_global_policy(f"mixed_{precision}")
    from RMBG.inference.remover import Remover

    import_s = time.perf_counter() - start
    start = time.perf_counter()
    remover = Remover(model, backend=backend, batch_size=batch_size)
    load_s = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    report = remover.process_folder(input, output, overwrite=True, workers=workers, progress=False)
    process_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    if report.failed:
        raise RuntimeError(f"pipeline: {report.summary()}")
    return {"import_s": import_s, "load_s": load_s, "process_s": process_s, "cpu_s": cpu_s, "photos": len(report.written),
            "peak_rss_mb": peak_rss_bytes() / 2**20}


def task_rembg(input: str, output: str, model_path: str) -> dict:
    """rembg end to end: its own ``p`` command (``rembg p -m u2net_custom -x '{"model_path": ...}'``)."""
    from RMBG.benchmark.peers import run_rembg_p

    return {**run_rembg_p(input, output, model_path), "peak_rss_mb": peak_rss_bytes() / 2**20}


def task_stages(backend: str, model: str, photos: list[str]) -> dict:
    """Seconds per stage of one photo at a time (serial), summed over ``photos``."""
    from RMBG.benchmark.peers import PNG_ENCODERS, rgba_cutout_uint8
    from RMBG.inference.image_io import load_image
    from RMBG.inference.remover import Remover

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
            "peak_rss_mb": peak_rss_bytes() / 2**20}


TASKS = {"prepare": task_prepare, "model": task_model, "pipeline": task_pipeline, "rembg": task_rembg,
         "stages": task_stages}


def _worker_main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] not in TASKS:
        print(f"usage: python -m RMBG.benchmark.harness {{{','.join(TASKS)}}} '<json arguments>'", file=sys.stderr)
        return 2
    result = TASKS[argv[0]](**json.loads(argv[1]))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# === the whole run ============================================================================
def _log(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _read_alpha(folder: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    masks = {}
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            band = image.getchannel("A") if image.mode == "RGBA" else image.convert("L")
            masks[path.stem] = np.asarray(band, dtype=np.float32) / 255.0
    return masks


def _agreement(masks: dict[str, np.ndarray], reference: dict[str, np.ndarray] | None) -> tuple[float, float, float]:
    """(mean IoU, min IoU, mean MAD) against the reference outputs (NaN without a reference)."""
    if not reference:
        return math.nan, math.nan, math.nan
    scores = [mask_agreement(masks[k], reference[k]) for k in reference if k in masks]
    if len(scores) != len(reference):
        missing = sorted(set(reference) - set(masks))
        raise RuntimeError(f"outputs missing for {missing}")
    ious = [s[0] for s in scores]
    return float(np.mean(ious)), float(np.min(ious)), float(np.mean([s[1] for s in scores]))


def run_benchmark(config: BenchmarkConfig) -> dict[str, Any]:
    """Run every measurement of ``config``; write CSV files, plots and ``summary.md`` to ``config.output``.

    Returns:
        ``{"model": DataFrame, "end_to_end": DataFrame, "megapixels": DataFrame, "stages": DataFrame,
        "files": [paths], "errors": [messages]}``.
    """
    import pandas as pd

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    photos = select_photos(config.photos or default_photos(), config.limit)
    base = output / "photos" / f"base-{len(photos)}"
    if not base.exists() or sorted(p.name for p in base.iterdir()) != sorted(p.name for p in photos):
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        for path in photos:
            shutil.copy2(path, base / path.name)
    photo_args = [str(base / p.name) for p in photos]
    errors: list[str] = []
    timeout = config.timeout

    # --- prepare exports (one subprocess with TensorFlow) ---
    cases = config.model_cases()
    wanted = []
    for case in cases:
        if case.backend in ("onnxruntime", "tflite") and case.unsupported_reason(gpu=True) is None:
            wanted.append(export_key(_backend_format(case.backend), case.image_size, case.precision == "float16"))
    for backend in list(config.end_to_end) + ([config.mp_backend] if config.megapixels or config.stages else []):
        if backend in ("onnxruntime", "tflite"):
            wanted.append(export_key(_backend_format(backend), config.e2e_size))
    files = {key: str(path) for key, path in dict(config.files).items()}
    missing = sorted(set(wanted) - set(files))
    torch_state = str(output / "prepared" / f"{config.model}_torch_state.npz")
    need_torch = "pytorch" in config.backends or "pytorch" in config.peers
    need_gpu_check = any(c.backend == "keras" and c.precision == "float16" for c in cases)
    gpu = False
    if missing or need_torch or need_gpu_check:
        _log(f"preparing {len(missing)} export(s){' and the PyTorch weights' if need_torch else ''}")
        exports = [{"format": k.split("-")[0], "image_size": int(k.split("-")[1]), "fp16": k.endswith("-fp16")} for k in missing]
        prepared = run_worker("prepare", {"model": config.model, "exports": exports,
                                          "torch_state": torch_state if need_torch else None}, timeout=timeout)
        if "error" in prepared:
            raise RuntimeError(f"benchmark: preparing the exports failed: {prepared['error']}")
        files.update(prepared["files"])
        gpu = prepared["gpu"]

    # --- model latency ---
    rows = []
    masks_dir = output / "masks"
    masks_dir.mkdir(exist_ok=True)
    model_cases = list(cases)
    if "pytorch" in config.peers and "pytorch" not in config.backends:
        model_cases += [ModelCase("pytorch", "float32", s, b) for s in config.sizes for b in config.batches]
    for case in model_cases:
        row = {**dataclasses.asdict(case), "label": case.label}
        reason = case.unsupported_reason(gpu=gpu)
        if reason:
            rows.append({**row, "status": f"not run: {reason}"})
            continue
        key = export_key(_backend_format(case.backend), case.image_size, case.precision == "float16")
        mask_file = masks_dir / f"{case.label.replace(' ', '_')}.npy"
        _log(f"model {case.label}")
        result = run_worker("model", {
            "case": dataclasses.asdict(case), "model": config.model, "photos": photo_args, "repeats": config.repeats,
            "file": files.get(key), "torch_state": torch_state, "masks_out": str(mask_file)}, timeout=timeout)
        if "error" in result:
            errors.append(f"model {case.label}: {result['error']}")
            rows.append({**row, "status": "error", "error": result["error"][-300:]})
            continue
        rows.append({**row, **result, "status": "ok", "mask_file": str(mask_file)})
    model_table = pd.DataFrame(rows)
    if not model_table.empty and "mask_file" in model_table:
        for size in config.sizes:
            ref_rows = model_table[(model_table.backend == "keras") & (model_table.precision == "float32")
                                   & (model_table.image_size == size) & (model_table.status == "ok")]
            if ref_rows.empty:
                continue
            reference = np.load(ref_rows.iloc[0]["mask_file"])
            for index, row in model_table[(model_table.image_size == size) & (model_table.status == "ok")].iterrows():
                iou, mad = zip(*[mask_agreement(m, r) for m, r in zip(np.load(row["mask_file"]), reference)])
                model_table.loc[index, "iou_mean"] = float(np.mean(iou))
                model_table.loc[index, "iou_min"] = float(np.min(iou))
                model_table.loc[index, "mad_mean"] = float(np.mean(mad))

    # --- end to end on the same photos, then on the megapixel sets; interleaved rounds ---
    outputs = output / "outputs"
    peer_weights = Path(config.peer_weights) if config.peer_weights else None
    if "rembg" in config.peers and peer_weights is None:
        from RMBG.paths import assets_dir

        peer_weights = assets_dir() / "weights" / "u2netp.onnx"

    def end_to_end(tool: str, backend: str, batch: int, folder: Path, out: Path, n: int, mp: float | None) -> dict:
        shutil.rmtree(out, ignore_errors=True)
        if tool == "rembg":
            result = run_worker("rembg", {"input": str(folder), "output": str(out), "model_path": str(peer_weights)},
                                timeout=timeout)
            return {"tool": tool, "backend": "onnxruntime (u2net_custom)", "batch_size": 1, "workers": 1,
                    "photos": n, "megapixels": mp, **result}
        model_arg = config.model if backend == "keras" else files[export_key(_backend_format(backend), config.e2e_size)]
        result = run_worker("pipeline", {"backend": backend, "model": model_arg, "input": str(folder), "output": str(out),
                                         "batch_size": batch, "workers": config.workers}, timeout=timeout)
        return {"tool": tool, "backend": backend, "batch_size": batch, "workers": config.workers, "photos": n,
                "megapixels": mp, **result}

    runs = [("RMBG", "keras", config.e2e_batch)] if "keras" in config.end_to_end else []
    runs += [("RMBG", b, config.e2e_batch) for b in config.end_to_end if b != "keras"]
    runs += [("RMBG", b, n) for b in config.end_to_end for n in config.e2e_extra_batches if n != config.e2e_batch]
    runs += [("rembg", "onnxruntime", 1)] if "rembg" in config.peers else []
    e2e_rows, reference = [], None
    for round_index in range(config.rounds):
        for tool, backend, batch in runs:
            out = outputs / f"{tool}-{backend}-b{batch}"
            _log(f"end to end {tool} {backend} b{batch} on {len(photos)} photos (round {round_index + 1}/{config.rounds})")
            row = {**end_to_end(tool, backend, batch, base, out, len(photos), None), "round": round_index}
            if "error" in row:
                errors.append(f"end to end {tool} {backend} b{batch}: {row['error']}")
            else:
                masks = _read_alpha(out)
                if tool == "RMBG" and backend == "keras" and reference is None:
                    reference = masks
                row["iou_mean"], row["iou_min"], row["mad_mean"] = _agreement(masks, reference)
            e2e_rows.append(row)
    e2e_table = _finish_e2e(_best_of_rounds(pd.DataFrame(e2e_rows)))

    mp_rows = []
    tools = [("RMBG", config.mp_backend)] + ([("rembg", "onnxruntime")] if "rembg" in config.peers else [])
    for round_index in range(config.rounds):
        for mp in config.megapixels:
            folder = output / "photos" / f"{mp:g}mp"
            make_megapixel_set(photos[: config.mp_count], mp, folder)
            for tool, backend in tools:
                out = outputs / f"{mp:g}mp-{tool}"
                _log(f"{mp:g} MP: {tool} on {config.mp_count} photos (round {round_index + 1}/{config.rounds})")
                row = {**end_to_end(tool, backend, config.e2e_batch, folder, out, config.mp_count, mp), "round": round_index}
                if "error" in row:
                    errors.append(f"{mp:g} MP {tool}: {row['error']}")
                mp_rows.append(row)
                shutil.rmtree(out, ignore_errors=True)  # 24 MP outputs are large
    mp_table = _finish_e2e(_best_of_rounds(pd.DataFrame(mp_rows)), by_megapixels=True)

    # --- stages ---
    stage_rows = []
    if config.stages:
        sets = [("base", photo_args[: min(len(photo_args), 6)])]
        if config.megapixels:
            largest = max(config.megapixels)
            sets.append((f"{largest:g}mp", [str(p) for p in make_megapixel_set(photos[:1], largest, output / "photos" / f"{largest:g}mp")]))
        for name, paths in sets:
            backend = config.mp_backend
            model_arg = config.model if backend == "keras" else files[export_key(_backend_format(backend), config.e2e_size)]
            _log(f"stages on {name} ({len(paths)} photos, {backend})")
            result = run_worker("stages", {"backend": backend, "model": model_arg, "photos": paths}, timeout=timeout)
            if "error" in result:
                errors.append(f"stages {name}: {result['error']}")
                continue
            for stage, seconds in result["seconds"].items():
                encoder = stage.split(":", 1)[1] if stage.startswith("encode:") else None
                stage_rows.append({"set": name, "megapixels": result["megapixels"], "stage": stage,
                                   "seconds_per_photo": seconds / result["photos"],
                                   "png_mb": result["png_bytes"][encoder] / result["photos"] / 2**20 if encoder else math.nan})
    stage_table = pd.DataFrame(stage_rows)

    written = _write_outputs(output, config, model_table, e2e_table, mp_table, stage_table, errors)
    return {"model": model_table, "end_to_end": e2e_table, "megapixels": mp_table, "stages": stage_table,
            "files": written, "errors": errors}


def _best_of_rounds(table):
    """One row per run (tool, backend, batch, size): the fastest round's times, the median round's
    processing time, the number of rounds, and the agreement of the first round."""
    if table.empty or "process_s" not in table:
        return table
    keys = ["tool", "backend", "batch_size", "megapixels"]
    table = table.dropna(subset=["process_s"])
    rows = []
    for _, group in table.groupby(keys, dropna=False, sort=False):
        best = group.loc[group["process_s"].idxmin()].to_dict()
        best["process_s_median"] = float(group["process_s"].median())
        best["cpu_s"] = float(group["cpu_s"].min()) if "cpu_s" in group else math.nan
        best["wall_s"] = float(group["wall_s"].min())
        best["rounds"] = len(group)
        for column in ("iou_mean", "iou_min", "mad_mean"):
            if column in group:
                best[column] = group[column].iloc[0]
        rows.append(best)
    import pandas as pd

    return pd.DataFrame(rows)


def _finish_e2e(table, by_megapixels: bool = False):
    """Add photos/s (steady and cold) and the ratio to rembg (per megapixel size when asked)."""
    if table.empty or "process_s" not in table:
        return table
    table["photos_per_s"] = table["photos"] / table["process_s"]
    table["photos_per_s_cold"] = table["photos"] / table["wall_s"]
    table["s_per_photo"] = table["process_s"] / table["photos"]
    if "cpu_s" in table:
        table["cpu_s_per_photo"] = table["cpu_s"] / table["photos"]
    groups = table.groupby("megapixels", dropna=False) if by_megapixels else [(None, table)]
    for _, group in groups:
        rembg = group[group.tool == "rembg"].dropna(subset=["photos_per_s"])
        if rembg.empty or rembg["photos_per_s"].isna().all():
            continue
        table.loc[group.index, "ratio_to_rembg"] = group["photos_per_s"] / float(rembg["photos_per_s"].iloc[0])
        table.loc[group.index, "ratio_to_rembg_cold"] = group["photos_per_s_cold"] / float(rembg["photos_per_s_cold"].iloc[0])
    return table


def _markdown(table, columns: Sequence[str]) -> str:
    present = [c for c in columns if c in table]
    if table.empty or not present:
        return "(nothing measured)\n"
    lines = ["| " + " | ".join(present) + " |", "|" + "---|" * len(present)]
    for _, row in table[present].iterrows():
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append("" if math.isnan(value) else f"{value:.4g}")
            else:
                cells.append("" if value is None else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine_description() -> str:
    """CPU model, logical cores and the Python/library versions, for the summary."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    return f"{cpu}, {os.cpu_count()} logical cores, load average {load:.2f} at the end, Python {platform.python_version()}"


def _write_outputs(output: Path, config: BenchmarkConfig, model_table, e2e_table, mp_table, stage_table, errors) -> list[Path]:
    written = []
    for name, table in (("model_latency", model_table), ("end_to_end", e2e_table), ("megapixels", mp_table),
                        ("stages", stage_table)):
        if not table.empty:
            path = output / f"{name}.csv"
            table.to_csv(path, index=False)
            written.append(path)
    written += _plots(output, model_table, e2e_table, mp_table, stage_table)
    summary = [
        "# Benchmark summary", "", f"Machine: {machine_description()}", "",
        f"Photos: {config.limit or 'all'} from {config.photos or default_photos()}; model repeats {config.repeats}; "
        f"end-to-end rounds {config.rounds} (fastest kept; process_s_median is the median round).", "",
        "## Model latency", "",
        _markdown(model_table, ["label", "status", "per_image_s", "images_per_s", "cpu_per_image_s", "first_call_s", "peak_rss_mb",
                                "iou_mean", "iou_min", "mad_mean"]),
        "## End to end (same photos, RGBA PNG outputs)", "",
        _markdown(e2e_table, ["tool", "backend", "batch_size", "photos", "rounds", "process_s", "process_s_median", "wall_s",
                              "photos_per_s", "photos_per_s_cold", "ratio_to_rembg", "ratio_to_rembg_cold",
                              "cpu_s_per_photo", "load_s", "peak_rss_mb", "iou_mean", "iou_min", "mad_mean"]),
        "## Megapixel scaling", "",
        _markdown(mp_table, ["megapixels", "tool", "backend", "photos", "rounds", "s_per_photo", "process_s_median",
                             "photos_per_s", "ratio_to_rembg", "cpu_s_per_photo", "peak_rss_mb"]),
        "## Stages (seconds per photo, serial)", "",
        _markdown(stage_table, ["set", "megapixels", "stage", "seconds_per_photo", "png_mb"]),
    ]
    if errors:
        summary += ["## Errors", ""] + [f"- {e}" for e in errors] + [""]
    path = output / "summary.md"
    path.write_text("\n".join(summary))
    written.append(path)
    return written


def _plots(output: Path, model_table, e2e_table, mp_table, stage_table) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if not model_table.empty and "images_per_s" in model_table:
        ok = model_table[model_table.status == "ok"]
        if not ok.empty:
            fig, ax = plt.subplots(figsize=(8, 0.4 * len(ok) + 1.5))
            ax.barh(ok["label"], ok["images_per_s"])
            ax.set_xlabel("images per second (model only)")
            ax.invert_yaxis()
            fig.tight_layout()
            written.append(output / "model_latency.png")
            fig.savefig(written[-1], dpi=100)
            plt.close(fig)
    if not e2e_table.empty and "photos_per_s" in e2e_table:
        ok = e2e_table.dropna(subset=["photos_per_s"])
        if not ok.empty:
            labels = [f"{t} {b} b{int(n)}" for t, b, n in zip(ok["tool"], ok["backend"], ok["batch_size"])]
            fig, ax = plt.subplots(figsize=(8, 0.5 * len(ok) + 1.5))
            ax.barh(labels, ok["photos_per_s"], label="steady (after loading)")
            ax.barh(labels, ok["photos_per_s_cold"], label="cold (whole process)", alpha=0.6)
            ax.set_xlabel("photos per second, end to end")
            ax.legend()
            ax.invert_yaxis()
            fig.tight_layout()
            written.append(output / "end_to_end.png")
            fig.savefig(written[-1], dpi=100)
            plt.close(fig)
    if not mp_table.empty and "s_per_photo" in mp_table:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for tool, group in mp_table.dropna(subset=["s_per_photo"]).groupby("tool"):
            axes[0].plot(group["megapixels"], group["s_per_photo"], marker="o", label=tool)
            axes[1].plot(group["megapixels"], group["peak_rss_mb"], marker="o", label=tool)
        axes[0].set_xlabel("megapixels")
        axes[0].set_ylabel("seconds per photo")
        axes[1].set_xlabel("megapixels")
        axes[1].set_ylabel("peak RSS (MiB)")
        for ax in axes:
            ax.legend()
            ax.grid(alpha=0.3)
        fig.tight_layout()
        written.append(output / "megapixels.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    if not stage_table.empty:
        pivot = stage_table.pivot_table(index="set", columns="stage", values="seconds_per_photo")
        fig, ax = plt.subplots(figsize=(9, 4))
        pivot.plot.barh(ax=ax)
        ax.set_xlabel("seconds per photo")
        fig.tight_layout()
        written.append(output / "stages.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    return written


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
