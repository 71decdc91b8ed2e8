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


def choose_engine(artefact: Artefact, precision: str = "fp32", images: int | None = None) -> tuple[str, str]:
    """``(engine, reason)`` for ``--backend auto``.

    Among the installed engines whose masks matched Keras fp32, the one that finishes soonest:
    for a run of ``images`` photos, ``import_s + load_s + images * ms_per_image`` (all measured
    when the artefact was built); for a long-running process (``images=None``: the server,
    workers), the lowest ``ms_per_image``. A few milliseconds per photo do not repay a slower
    start: on 18 photos OpenVINO's 4 % faster median did not make up its longer import and
    compile (whole process 7.2 s vs 6.5 s cold, docs/benchmarks.md).

    Raises:
        RuntimeError: no installed engine passed the parity check (the message gives the numbers).
        ValueError: ``images`` is not a non-negative integer.
    """
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 0):
        raise ValueError(f"images: expected the number of photos of the run (>= 0) or None, got {images!r}")
    installed = [name for name in ENGINE_NAMES if engine_installed(name)]
    if not installed:
        raise RuntimeError("backend: no inference engine is installed; pip install onnxruntime (or openvino)")
    parity = artefact.parity
    if not parity:
        return installed[0], f"{artefact.path} carries no parity record; {installed[0]} is the default engine"
    passed, rejected = [], []
    for order, name in enumerate(installed):
        entry = parity.get(name, {}).get(precision)
        if entry is None or "error" in entry:
            rejected.append(f"{name}: {'not measured' if entry is None else entry['error']}")
        elif entry["iou_min"] >= AUTO_MIN_IOU and entry.get("finite", True):
            passed.append((name, entry, order))
        else:
            rejected.append(f"{name}: IoU min {entry['iou_min']:.4f} < {AUTO_MIN_IOU}")
    if not passed:
        raise RuntimeError(
            f"backend auto: no installed engine matched Keras fp32 at {precision} on the probe photos "
            f"({'; '.join(rejected)}); use --backend keras"
        )

    def seconds(entry: dict) -> float:  # the run's estimated wall time, or the per-photo time
        if images is None:
            return entry["ms_per_image"] / 1000
        return entry["import_s"] + entry["load_s"] + images * entry["ms_per_image"] / 1000

    def cost(entry: dict) -> str:
        if images is None:
            return f"{entry['ms_per_image']:.0f} ms"
        return (f"{seconds(entry):.2f} s = {entry['import_s'] + entry['load_s']:.2f} s import and load "
                f"+ {images} x {entry['ms_per_image']:.0f} ms")

    ranked = sorted(passed, key=lambda item: (seconds(item[1]), item[2]))
    name, entry, _ = ranked[0]
    others = ", ".join(f"{n} {cost(e)}" for n, e, _ in ranked[1:])
    basis = "per image when built" if images is None else f"estimated for {images} photos"
    # "<engine> <precision>: " first: the benchmark reads the choice from the log by that prefix.
    reason = (f"{name} {precision}: {cost(entry)} {basis}{' (vs ' + others + ')' if others else ''}, "
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
    images: int | None = None,
):
    """An engine running ``model``'s artefact, ready to ``predict``.

    Args:
        model: a registry name, a ``.keras`` path, a :class:`~RMBG.registry.ModelWithWeights`, a
            Keras model or an RMBG ``.onnx`` file.
        backend: ``"auto"``, ``"onnxruntime"`` or ``"openvino"``.
        precision: ``"fp32"``, or opt-in ``"bf16"``/``"fp16"`` (OpenVINO, native CPU support only).
        threads: cores to use (``None``: all).
        scheme: ``"per-core"`` or ``"shared"`` (``None``: the engine's measured default).
        images: the photos the run will see, for ``auto``'s choice (:func:`choose_engine`);
            ``None``: a long-running process.

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
            backend, reason = choose_engine(artefact, images=images)
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
