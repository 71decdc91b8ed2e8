"""The in-process sections (opt-in: ``--sections model,stages``), driven from the parent: model
latency per backend x precision x size x batch x threads, and the stage profile of one photo.
Each measurement runs in a :mod:`RMBG.benchmark.worker` subprocess."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import numpy as np

from RMBG.benchmark.config import BenchmarkConfig, ModelCase, export_key
from RMBG.benchmark.masks import mask_agreement
from RMBG.benchmark.photos import make_megapixel_set, megapixel_cache
from RMBG.benchmark.worker import run_worker

Log = Callable[[str], None]
#: Backends that run an exported file.
EXPORTED = ("onnxruntime", "openvino", "tflite")


def backend_format(backend: str) -> str:
    """The export format a backend runs (``onnx`` or ``tflite``)."""
    return "tflite" if backend == "tflite" else "onnx"


def _fp16(case: ModelCase) -> bool:
    """Whether the case runs a file with float16 weights (TFLite only; the engines take float32 files)."""
    return case.backend == "tflite" and case.precision == "float16"


def wanted_exports(config: BenchmarkConfig) -> list[str]:
    """The :func:`export_key` of every file the model and stage sections need."""
    wanted = []
    if "model" in config.sections:
        for case in config.model_cases():
            if case.backend in EXPORTED and case.unsupported_reason(gpu=True) is None:
                wanted.append(export_key(backend_format(case.backend), case.image_size, _fp16(case)))
    if "stages" in config.sections and config.stage_backend in EXPORTED:
        wanted.append(export_key(backend_format(config.stage_backend), config.e2e_size))
    return wanted


def prepare_exports(config: BenchmarkConfig, log: Log) -> tuple[dict[str, str], bool, str]:
    """Export what is missing from ``config.files`` (one TensorFlow subprocess); ``(files, gpu, torch_state)``.

    Raises:
        RuntimeError: the preparation subprocess failed (its output is quoted).
    """
    files = {key: str(path) for key, path in dict(config.files).items()}
    missing = sorted(set(wanted_exports(config)) - set(files))
    torch_state = str(config.output / "prepared" / f"{config.model}_torch_state.npz")
    need_torch = "model" in config.sections and "pytorch" in config.backends
    need_gpu_check = "model" in config.sections and any(c.backend == "keras" and c.precision == "float16"
                                                         for c in config.model_cases())
    if not (missing or need_torch or need_gpu_check):
        return files, False, torch_state
    log(f"preparing {len(missing)} export(s){' and the PyTorch weights' if need_torch else ''}")
    exports = [{"format": k.split("-")[0], "image_size": int(k.split("-")[1]), "fp16": k.endswith("-fp16")} for k in missing]
    prepared = run_worker("prepare", {"model": config.model, "exports": exports,
                                      "torch_state": torch_state if need_torch else None}, timeout=config.timeout)
    if "error" in prepared:
        raise RuntimeError(f"benchmark: preparing the exports failed: {prepared['error']}")
    files.update(prepared["files"])
    return files, bool(prepared["gpu"]), torch_state


def run_model_section(config: BenchmarkConfig, photo_args: list[str], files: dict, gpu: bool, torch_state: str,
                      errors: list[str], log: Log):
    """Model latency of every case of the grid, with IoU against the Keras float32 masks of the same inputs."""
    import pandas as pd  # deferred: pandas (~0.5 s) only when a section builds its table

    rows = []
    masks_dir = config.output / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    for case in config.model_cases():
        row = {**dataclasses.asdict(case), "label": case.label}
        reason = case.unsupported_reason(gpu=gpu)
        if reason:
            rows.append({**row, "status": f"not run: {reason}"})
            continue
        key = export_key(backend_format(case.backend), case.image_size, _fp16(case))
        mask_file = masks_dir / f"{case.label.replace(' ', '_')}.npy"
        log(f"model {case.label}")
        result = run_worker("model", {
            "case": dataclasses.asdict(case), "model": config.model, "photos": photo_args, "repeats": config.repeats,
            "file": files.get(key), "torch_state": torch_state, "masks_out": str(mask_file)}, timeout=config.timeout)
        if "error" in result:
            errors.append(f"model {case.label}: {result['error']}")
            rows.append({**row, "status": "error", "error": result["error"][-300:]})
            continue
        rows.append({**row, **result, "status": "ok", "mask_file": str(mask_file)})
    table = pd.DataFrame(rows)
    _model_agreement(table, config.sizes)
    return table


def _model_agreement(table, sizes) -> None:
    """Add ``iou_mean``, ``iou_min``, ``mad_mean`` against the Keras float32 masks of each size, in place."""
    if table.empty or "mask_file" not in table:
        return
    for size in sizes:
        ok = table[(table.image_size == size) & (table.status == "ok")]
        reference_rows = ok[(ok.backend == "keras") & (ok.precision == "float32")]
        if reference_rows.empty:
            continue
        reference = np.load(reference_rows.iloc[0]["mask_file"])
        for index, row in ok.iterrows():
            iou, mad = zip(*[mask_agreement(m, r) for m, r in zip(np.load(row["mask_file"]), reference)])
            table.loc[index, "iou_mean"] = float(np.mean(iou))
            table.loc[index, "iou_min"] = float(np.min(iou))
            table.loc[index, "mad_mean"] = float(np.mean(mad))


def run_stage_section(config: BenchmarkConfig, photos: list[Path], photo_args: list[str], files: dict,
                      errors: list[str], log: Log):
    """Seconds per stage of one photo (serial) on up to 6 of the photos and on one photo of the largest megapixel size."""
    import pandas as pd  # deferred: pandas (~0.5 s) only when a section builds its table

    sets = [("base", photo_args[: min(len(photo_args), 6)])]
    if config.megapixels:
        largest = max(config.megapixels)
        paths = make_megapixel_set(photos[:1], largest, megapixel_cache(config.photo_cache))
        sets.append((f"{largest:g}mp", [str(p) for p in paths]))
    backend = config.stage_backend
    model_arg = config.model if backend == "keras" else files[export_key(backend_format(backend), config.e2e_size)]
    rows = []
    for name, paths in sets:
        log(f"stages on {name} ({len(paths)} photos, {backend})")
        result = run_worker("stages", {"backend": backend, "model": model_arg, "photos": paths}, timeout=config.timeout)
        if "error" in result:
            errors.append(f"stages {name}: {result['error']}")
            continue
        for stage, seconds in result["seconds"].items():
            encoder = stage.split(":", 1)[1] if stage.startswith("encode:") else None
            rows.append({"set": name, "megapixels": result["megapixels"], "stage": stage,
                         "seconds_per_photo": seconds / result["photos"],
                         "png_mb": result["png_bytes"][encoder] / result["photos"] / 1e6 if encoder else math.nan})
    return pd.DataFrame(rows)


__all__ = ["ModelCase", "prepare_exports", "run_model_section", "run_stage_section", "wanted_exports"]
