"""Parity of each installed engine with Keras fp32, measured when an artefact is built.

The probe photos are real when available: ``$RMBG_ASSETS/u2net_testdata/images`` (the 18
photos of the U^2-Net demo set), else ``Data/test/images``; else smooth synthetic images (said
so in the record). Each is resized the way the remover resizes, Keras fp32 predicts, and every
engine (and every opt-in low precision this CPU supports natively) predicts the same inputs.
The record keeps, per engine and precision: IoU of the masks at 0.5 (min, mean), max and mean
absolute difference, median milliseconds per image (batch 1, all cores, engines timed
interleaved), the seconds a fresh interpreter takes to import the engine (``import_s``) and a
cached load up to its first mask (``load_s``).
``--backend auto`` picks the fp32 engine whose IoU is at least :data:`AUTO_MIN_IOU` on every probe
and which finishes the run soonest (:func:`RMBG.runtime.select.choose_engine`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.paths import assets_dir, data_dir
from RMBG.runtime.engines import ENGINE_MODULES, ENGINE_NAMES, engine_installed, make_engine, openvino_capabilities

log = logging.getLogger(__name__)

#: The IoU (masks at 0.5, vs Keras fp32) an engine must reach on every probe photo to be chosen by auto.
AUTO_MIN_IOU = 0.99
#: Probe photos for models up to 512x512 input; larger models get :data:`LARGE_MODEL_PROBES`
#: (Keras on a 1024 px transformer costs tens of seconds per photo on 2 cores).
DEFAULT_PROBES = 18
LARGE_MODEL_PROBES = 4


def default_probes(image_size: tuple[int, int]) -> int:
    """Probe photos for a model of this input size; ``$RMBG_PARITY_PROBES`` caps it (the test suite
    sets 2, so the artefacts its modules share are built in seconds; the 18-photo parity of the
    default model is its own test)."""
    count = DEFAULT_PROBES if image_size[0] * image_size[1] <= 512 * 512 else LARGE_MODEL_PROBES
    cap = os.environ.get("RMBG_PARITY_PROBES")
    if cap is not None:
        if not cap.isdigit() or int(cap) < 1:
            raise ValueError(f"RMBG_PARITY_PROBES: expected a positive integer, got {cap!r}")
        count = min(count, int(cap))
    return count


def probe_photos(limit: int) -> tuple[list[Path], str]:
    """Up to ``limit`` real photos to measure parity on, and where they came from."""
    # deferred: image I/O (PIL, cv2) stays out of the runtime's start-up; only parity probes read photos
    from RMBG.inference.image_io import list_images

    for folder in (assets_dir() / "u2net_testdata" / "images", data_dir() / "test" / "images"):
        if folder.is_dir():
            photos = list_images(folder)[:limit]
            if photos:
                return photos, str(folder)
    return [], "synthetic"


def probe_inputs(image_size: tuple[int, int], limit: int) -> tuple[np.ndarray, str, int]:
    """Up to ``limit`` probe photos resized to ``image_size`` (float32 [0, 255]; synthetic blobs when
    there are none), where they came from, and how many loaded."""
    import cv2  # deferred: cv2 stays out of the runtime's start-up; only parity probes resize

    # deferred: image I/O (PIL, cv2) stays out of the runtime's start-up; only parity probes read photos
    from RMBG.inference.image_io import load_image

    height, width = image_size
    photos, origin = probe_photos(limit)
    arrays = []
    for path in photos:
        try:
            arrays.append(cv2.resize(load_image(path), (width, height), interpolation=cv2.INTER_LINEAR))
        except Exception as error:  # a probe photo that does not load is left out, and counted
            log.warning("parity probe %s skipped: %s", path, error)
    if not arrays:  # smooth blobs on a gradient: something a segmenter responds to
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
        for _ in range(min(limit, 4)):
            cy, cx, r = rng.uniform(0.3, 0.7, 3)
            blob = ((yy - cy) ** 2 + (xx - cx) ** 2 < (r / 2) ** 2)[..., None]
            arrays.append(np.where(blob, rng.uniform(0, 255, 3), 255 * np.dstack([yy, xx, 1 - yy])).astype(np.uint8))
        origin = "synthetic"
    return np.stack(arrays).astype(np.float32), origin, len(arrays)


def compare_masks(masks: np.ndarray, reference: np.ndarray) -> dict:
    """IoU at 0.5 (min and mean over photos) and absolute differences of ``masks`` (N, h, w) against ``reference``."""
    ious = []
    for a, b in zip(masks > 0.5, reference > 0.5):
        union = np.logical_or(a, b).sum()
        ious.append(float(np.logical_and(a, b).sum() / union) if union else 1.0)
    difference = np.abs(masks - reference)
    return {"iou_min": min(ious), "iou_mean": float(np.mean(ious)), "max_abs": float(difference.max()),
            "mean_abs": float(difference.mean()), "finite": bool(np.isfinite(masks).all())}


def run_engines(variants: list[tuple[str, str]], path: Path, image_size, images: np.ndarray) -> dict:
    """Masks and median ms/image of each ``(engine, precision)``, timed interleaved photo by photo
    so that a change in machine load affects every variant alike (batch 1, all cores)."""
    engines, results, load_s = {}, {}, {}
    for variant in variants:
        try:
            engine = make_engine(variant[0], path, image_size, precision=variant[1], scheme="shared")
            engine.predict(images[:1])  # warm-up (first call allocates and, for OpenVINO, compiles kernels)
            engine.close()
            # What a later process pays before its first mask: a second load, which finds what the
            # first one cached (OpenVINO's compiled blob), and its first call.
            start = time.perf_counter()
            engine = make_engine(variant[0], path, image_size, precision=variant[1], scheme="shared")
            engine.predict(images[:1])
            load_s[variant] = time.perf_counter() - start
            engines[variant] = engine
        except Exception as error:  # an engine that cannot run the file is recorded as such
            results[variant] = {"error": f"{type(error).__name__}: {error}"}
            log.warning("parity: %s %s failed: %s", *variant, error)
    masks = {variant: [] for variant in engines}
    times = {variant: [] for variant in engines}
    for i in range(len(images)):
        for variant, engine in engines.items():
            start = time.perf_counter()
            masks[variant].append(engine.predict(images[i:i + 1]))
            times[variant].append(time.perf_counter() - start)
    for variant, engine in engines.items():
        engine.close()
        results[variant] = (np.concatenate(masks[variant]), 1000 * float(np.median(times[variant])), load_s[variant])
    return results


def import_seconds(engine: str) -> float:
    """Seconds a fresh interpreter takes to import engine ``engine``'s package (what every
    ``remove`` process pays before loading; measured in a subprocess, the median of three).

    Raises:
        RuntimeError: the import fails in the subprocess (its stderr is quoted).
    """
    code = (f"import time; start = time.perf_counter(); import {ENGINE_MODULES[engine]}; "
            "print(time.perf_counter() - start)")
    runs = []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"import {ENGINE_MODULES[engine]} failed in a fresh interpreter: {done.stderr.strip()[-500:]}")
        runs.append(float(done.stdout.strip().splitlines()[-1]))
    return float(np.median(runs))


def low_precisions(engine: str) -> list[str]:
    """The opt-in precisions engine ``engine`` runs natively on this CPU."""
    if engine != "openvino":
        return []

    found = openvino_capabilities()
    return [p for p, capability in (("bf16", "BF16"), ("fp16", "FP16")) if capability in found]


def measure_engines(keras_model: Any, path: Path, *, probes: int | None = None) -> dict:
    """The parity record of the artefact at ``path`` (see the module doc)."""
    image_size = tuple(keras_model.converter.image_size)
    limit = probes or default_probes(image_size)
    images, origin, count = probe_inputs(image_size, limit)
    reference = np.concatenate(
        [keras_model(images[i:i + 1], training=False).numpy()[..., 0] for i in range(len(images))]
    )
    record: dict = {"probe": origin, "photos": count, "min_iou_for_auto": AUTO_MIN_IOU, "cpu": cpu_description(),
                    "engines": {}}
    variants = [(name, precision) for name in ENGINE_NAMES if engine_installed(name)
                for precision in ["fp32", *low_precisions(name)]]
    imports = {name: round(import_seconds(name), 3) for name in {name for name, _ in variants}}
    for (name, precision), result in run_engines(variants, path, image_size, images).items():
        if isinstance(result, dict):
            record["engines"].setdefault(name, {})[precision] = result
            continue
        masks, ms, load = result
        entry = {**compare_masks(masks, reference), "ms_per_image": round(ms, 2), "import_s": imports[name],
                 "load_s": round(load, 3)}
        record["engines"].setdefault(name, {})[precision] = entry
        log.info("parity vs Keras fp32, %s %s: IoU min %.4f, max |diff| %.2e, %.0f ms/image (median)",
                 name, precision, entry["iou_min"], entry["max_abs"], ms)
    return record


def cpu_description() -> dict:
    """The CPU model and the flags that decide engine speed and low-precision support."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    interesting = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "amx_int8", "avx512_vnni")
    return {"model": model, "flags": [f for f in interesting if f in flags]}
