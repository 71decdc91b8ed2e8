"""The ``onnxruntime`` and ``tflite`` inference backends of :class:`~RMBG.inference.remover.Remover`.

Each takes either an exported file (``.onnx`` / ``.tflite`` written by ``python -m RMBG export``)
or what the Keras backend takes (a registry name, a ``.keras`` path, a Segmenter). In the second
case the model is exported once into ``RMBG.paths.cache_dir()/exported/`` under a key derived
from its weights (the weight file's checksum for a registry name, the file's sha256 for a
``.keras`` file, :func:`RMBG.export.weights_fingerprint` for a model object), and later runs
reuse the file.

Given an ``.onnx`` file, the onnxruntime backend imports no TensorFlow: the input size and the
interpolation the Remover needs come from the file's metadata.

Usage::

    Remover("u2netp", backend="onnxruntime")
    Remover("exports/u2netp.onnx", backend="onnxruntime")
    python -m RMBG remove -i photos/ --backend onnxruntime
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.export import EXPORT_VERSION, FORMAT_SUFFIXES, read_metadata
from RMBG.inference.backends import register_backend
from RMBG.paths import cache_dir


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_cache_key(model: Any, format: str, *, fp16: bool = False) -> tuple[str, str]:
    """``(stem, key)`` naming the cached export of ``model``; the key hashes its weights.

    Args:
        model: a registry name, a ``.keras`` path or a Segmenter.
        format: ``"onnx"`` or ``"tflite"``.
        fp16: float16 weights (tflite).

    Raises:
        ValueError: a name that is not registered or has no pretrained weights.
        FileNotFoundError: a ``.keras`` path that does not exist.
    """
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        if text.endswith(".keras"):
            path = Path(text)
            if not path.is_file():
                raise FileNotFoundError(f"model: no such file '{text}'")
            stem, source = path.stem, f"keras-file:{_file_sha256(path)}"
        else:
            from RMBG.registry import list_models, model_info

            if text not in list_models(pretrained=True):
                raise ValueError(
                    f"model: {text!r} is neither an exported file nor a pretrained registered model "
                    f"({', '.join(list_models(pretrained=True))}) nor a .keras file"
                )
            spec = model_info(text)
            weights = spec.weights.sha256 or spec.weights.md5
            config = json.dumps(dict(spec.config), sort_keys=True, default=str)
            stem, source = text, f"registry:{text}:{weights}:{config}"
    else:
        from RMBG.export import weights_fingerprint

        stem, source = model.name, f"model:{weights_fingerprint(model)}"
    from RMBG import __version__

    digest = hashlib.sha256(f"{EXPORT_VERSION}|{__version__}|{format}|fp16={fp16}|{source}".encode())
    return stem, digest.hexdigest()[:16]


def exported_file(model: Any, format: str, *, fp16: bool = False) -> Path:
    """An exported file of ``model`` in ``format``: ``model`` itself if it is such a file,
    else the cached export (written now if absent).

    Args:
        model: an ``.onnx``/``.tflite`` path, a registry name, a ``.keras`` path or a Segmenter.
        format: ``"onnx"`` or ``"tflite"``.
        fp16: float16 weights when exporting (tflite).

    Raises:
        FileNotFoundError: an exported-file path that does not exist.
        ValueError: a file of the other format, or an unknown model name.
    """
    suffix = FORMAT_SUFFIXES[format]
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        if text.endswith(suffix):
            if not Path(text).is_file():
                raise FileNotFoundError(f"model: no such {suffix} file '{text}'")
            return Path(text)
        other = {s for f, s in FORMAT_SUFFIXES.items() if s and f != format}
        if any(text.endswith(s) for s in other):
            raise ValueError(
                f"model: '{text}' is not a {suffix} file; the {format} backend runs {suffix} files "
                f"(or a registry name / .keras file, exported on first use)"
            )
    stem, key = export_cache_key(model, format, fp16=fp16)
    target = cache_dir() / "exported" / f"{stem}-{key}{'-fp16' if fp16 else ''}{suffix}"
    if not target.is_file():
        from RMBG.export import export_model

        export_model(model, target, format, fp16=fp16)
    return target


def _segmenter_metadata(path: Path, backend: str) -> dict:
    metadata = read_metadata(path)
    if metadata.get("layout") != "segmenter":
        raise ValueError(
            f"model: '{path}' has the {metadata.get('layout')!r} layout (made for rembg); the {backend} "
            "backend runs the segmenter layout: export again without --rembg"
        )
    if metadata.get("image_size") is None:
        raise ValueError(f"model: '{path}' has no fixed input size in its metadata; export a model with image_size set")
    return metadata


class OnnxRuntimeBackend:
    """Runs an exported segmenter ``.onnx`` with onnxruntime.

    A batch of one photo runs on one session using every core (lowest latency). The photos of a
    larger batch run one per core at the same time (``parallel`` at once) in a second session
    with one intra-op thread: on a small CPU this keeps every core busy with whole convolutions
    instead of synchronising threads inside each layer (measured on 2 cores with batch 4: 10%
    faster, 9% less CPU time and half the memory of one session with two threads; see
    docs/benchmarks.md). Running single photos rather than chunks bounds the activation memory
    to ``parallel`` photos. Thread pools do not spin-wait (``session.intra_op.allow_spinning=0``),
    so the Remover's decode/encode threads get the cores while the model waits.

    Args:
        model: an ``.onnx`` file exported by RMBG, or a registry name / ``.keras`` path / Segmenter
            (exported once into the cache).
        threads: intra-op threads of the single-photo session (``None``: one per core).
        parallel: photos of a batch run at the same time (``None``: one per core; ``1``: the
            whole batch in the single-photo session).
        providers: onnxruntime execution providers (``None``: CUDA if available, then CPU). With
            CUDA, batches are not split.
    """

    name = "onnxruntime"

    def __init__(
        self,
        model: Any,
        *,
        threads: int | None = None,
        parallel: int | None = None,
        providers: list[str] | None = None,
    ):
        import onnxruntime as ort

        for label, value in (("threads", threads), ("parallel", parallel)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{label}: expected a positive integer or None, got {value!r}")
        self.path = exported_file(model, "onnx")
        self.metadata = _segmenter_metadata(self.path, self.name)
        self.image_size = tuple(self.metadata["image_size"])
        self.interpolation = self.metadata["interpolation"]
        if providers is None:
            available = ort.get_available_providers()
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.providers = list(providers)
        cores = os.cpu_count() or 1
        self.threads = threads or cores
        self.parallel = 1 if self.providers[0] != "CPUExecutionProvider" else (parallel or cores)
        self.session = self._session(self.threads)
        self.input_name = self.session.get_inputs()[0].name
        self._single_thread_session = None
        self._pool = None

    def _session(self, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.path), options, providers=self.providers)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Masks ``(N, h, w)`` for a batch ``(N, h, w, 3)`` of float32 pixel values [0, 255]."""
        height, width = self.image_size
        if batch.ndim != 4 or batch.shape[1:] != (height, width, 3):
            raise ValueError(
                f"batch: expected shape (N, {height}, {width}, 3), got {batch.shape}; resize photos to the model size first"
            )
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.parallel == 1 or len(batch) == 1:
            return self.session.run(None, {self.input_name: batch})[0][..., 0]
        if self._single_thread_session is None:
            from concurrent.futures import ThreadPoolExecutor

            self._single_thread_session = self._session(1)
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="rmbg-onnxruntime")
        session = self._single_thread_session
        outputs = self._pool.map(lambda i: session.run(None, {self.input_name: batch[i:i + 1]})[0], range(len(batch)))
        return np.concatenate(list(outputs))[..., 0]


class TFLiteBackend:
    """Runs an exported segmenter ``.tflite`` with the TFLite (LiteRT) interpreter in TensorFlow.

    Args:
        model: a ``.tflite`` file exported by RMBG, or a registry name / ``.keras`` path / Segmenter
            (exported once into the cache, float32).
        threads: interpreter threads (``None``: one per CPU core).
    """

    name = "tflite"

    def __init__(self, model: Any, *, threads: int | None = None):
        from RMBG.export.tflite_export import TFLiteRunner

        self.path = exported_file(model, "tflite")
        self.metadata = _segmenter_metadata(self.path, self.name)
        self.image_size = tuple(self.metadata["image_size"])
        self.interpolation = self.metadata["interpolation"]
        self.runner = TFLiteRunner(self.path, threads=threads)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Masks ``(N, h, w)`` for a batch ``(N, h, w, 3)`` of float32 pixel values [0, 255]."""
        return self.runner(batch)[..., 0]


register_backend("onnxruntime", OnnxRuntimeBackend)
register_backend("tflite", TFLiteBackend)

__all__ = ["OnnxRuntimeBackend", "TFLiteBackend", "export_cache_key", "exported_file"]
