"""Choosing the engine: ``--backend auto`` and the opt-in low precisions.

``auto`` takes the fastest installed engine whose fp32 masks matched Keras fp32 (IoU at least
:data:`~RMBG.runtime.parity.AUTO_MIN_IOU` on every probe photo) when the artefact was built; the
choice and its reason are logged. Low precision is never chosen by ``auto``: ``bf16``/``fp16``
must be asked for, and the measured cost (IoU vs fp32, speed) is logged when it is.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from RMBG.runtime.artefact import Artefact, onnx_file_artefact, prepare
from RMBG.runtime.engines import ENGINE_NAMES, PRECISIONS, PrecisionUnsupportedError, engine_installed, make_engine
from RMBG.runtime.parity import AUTO_MIN_IOU

log = logging.getLogger(__name__)

BACKENDS = ("auto", *ENGINE_NAMES)


def choose_engine(artefact: Artefact, precision: str = "fp32") -> tuple[str, str]:
    """``(engine, reason)`` for ``--backend auto``.

    Raises:
        RuntimeError: no installed engine passed the parity check (the message gives the numbers).
    """
    installed = [name for name in ENGINE_NAMES if engine_installed(name)]
    if not installed:
        raise RuntimeError("backend: no inference engine is installed; pip install onnxruntime (or openvino)")
    parity = artefact.parity
    if not parity:
        return installed[0], f"{artefact.path} carries no parity record; {installed[0]} is the default engine"
    passed, rejected = [], []
    for name in installed:
        entry = parity.get(name, {}).get(precision)
        if entry is None or "error" in entry:
            rejected.append(f"{name}: {'not measured' if entry is None else entry['error']}")
        elif entry["iou_min"] >= AUTO_MIN_IOU and entry.get("finite", True):
            passed.append((entry["ms_per_image"], name, entry))
        else:
            rejected.append(f"{name}: IoU min {entry['iou_min']:.4f} < {AUTO_MIN_IOU}")
    if not passed:
        raise RuntimeError(
            f"backend auto: no installed engine matched Keras fp32 at {precision} on the probe photos "
            f"({'; '.join(rejected)}); use --backend keras"
        )
    ms, name, entry = min(passed)
    others = ", ".join(f"{n} {m:.0f} ms" for m, n, _ in sorted(passed) if n != name)
    reason = (f"{name} {precision}: {ms:.0f} ms/image when built{' (vs ' + others + ')' if others else ''}, "
              f"masks IoU min {entry['iou_min']:.4f} vs Keras fp32 on {artefact.metadata['parity']['photos']} photos")
    return name, reason


def resolve_artefact(model: Any) -> Artefact:
    """The artefact for ``model``: an RMBG ``.onnx`` file as is, else the prepared (or built) one."""
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".onnx"):
        return onnx_file_artefact(model)
    return prepare(model)


def _log_precision_cost(artefact: Artefact, engine: str, precision: str) -> None:
    entry = artefact.parity.get(engine, {}).get(precision)
    base = artefact.parity.get(engine, {}).get("fp32")
    if entry and "error" not in entry:
        speed = f", {entry['ms_per_image']:.0f} ms/image vs {base['ms_per_image']:.0f} at fp32" if base and "error" not in base else ""
        log.warning("%s %s (opt-in): masks IoU vs Keras fp32 min %.4f mean %.4f on %d probe photos%s",
                    engine, precision, entry["iou_min"], entry["iou_mean"], artefact.metadata["parity"]["photos"], speed)
    else:
        log.warning("%s %s (opt-in): its cost was not measured when the artefact was built", engine, precision)


def load_engine(
    model: Any,
    backend: str = "auto",
    *,
    precision: str = "fp32",
    threads: int | None = None,
    scheme: str | None = None,
):
    """An engine running ``model``'s artefact, ready to ``predict``.

    Args:
        model: a registry name, a ``.keras`` path, a :class:`~RMBG.registry.ModelWithWeights`, a
            Keras model or an RMBG ``.onnx`` file.
        backend: ``"auto"``, ``"onnxruntime"`` or ``"openvino"``.
        precision: ``"fp32"``, or opt-in ``"bf16"``/``"fp16"`` (OpenVINO, native CPU support only).
        threads: cores to use (``None``: all).
        scheme: ``"per-core"`` or ``"shared"`` (``None``: the engine's measured default).

    Raises:
        ValueError: an unknown backend or precision, or low precision on onnxruntime.
        PrecisionUnsupportedError: low precision without native support.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS} (or keras), got {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    artefact = resolve_artefact(model)
    if backend == "auto":
        if precision != "fp32":
            backend, reason = "openvino", f"--precision {precision} runs on OpenVINO"
            if not engine_installed("openvino"):
                raise PrecisionUnsupportedError(f"precision: {precision} needs OpenVINO (pip install openvino)")
        else:
            backend, reason = choose_engine(artefact)
        log.info("backend auto -> %s", reason)
    if precision != "fp32":
        _log_precision_cost(artefact, backend, precision)
    options = {"threads": threads, "precision": precision}
    if scheme is not None:
        options["scheme"] = scheme
    engine = make_engine(backend, artefact.path, artefact.image_size, **options)
    engine.interpolation = artefact.interpolation
    engine.artefact = artefact
    return engine
