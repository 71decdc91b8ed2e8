"""TensorFlow-free engines that run an exported artefact: onnxruntime and OpenVINO.

An engine takes a batch of photos already resized to the model's size, ``(N, h, w, 3)`` float32
pixel values in [0, 255] (the preprocessing is inside the artefact), and returns the masks
``(N, h, w)`` in [0, 1].

Threads. Two schemes are offered, because which one wins depends on the CPU and the batch:
``"per-core"`` runs the photos of a batch one per core at the same time, each on a single
thread (no synchronisation inside layers; activation memory of ``cores`` photos);
``"shared"`` runs the photos one after the other on one engine whose thread pool spans every
core (activation memory of one photo). On a GPU the whole batch runs at once. The default
is the one measured faster here (docs/benchmarks.md, "Threads"); ``threads`` overrides the count.
Thread pools never spin-wait, so the remover's decode/encode threads get the cores while the
model waits.

Precision. fp32 is always explicit: OpenVINO's CPU plugin otherwise picks bf16 on CPUs with
native bf16 (AMX, AVX512-BF16) and U^2-NetP's masks drift (docs/runtime.md). ``bf16``/``fp16``
are opt-in, OpenVINO only, and refused on a CPU without native support.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Engines in order of preference when nothing was measured.
ENGINE_NAMES = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "fp16")
THREAD_SCHEMES = ("per-core", "shared")

_OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_OPENVINO_CAPABILITY = {"bf16": "BF16", "fp16": "FP16"}


class PrecisionUnsupportedError(ValueError):
    """The requested precision has no native support on this CPU or engine."""


#: The package each engine imports.
ENGINE_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def engine_installed(name: str) -> bool:
    """Whether engine ``name``'s package imports (without importing it when it is absent)."""
    module = ENGINE_MODULES.get(name)
    return module is not None and importlib.util.find_spec(module) is not None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _check_batch(batch: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    height, width = image_size
    if batch.ndim != 4 or batch.shape[1:] != (height, width, 3):
        raise ValueError(
            f"batch: expected shape (N, {height}, {width}, 3), got {batch.shape}; resize photos to the model size first"
        )
    return np.ascontiguousarray(batch, dtype=np.float32)


class _Engine:
    """What both engines share: the batch check and the two thread schemes."""

    name = ""

    def __init__(self, path: str | os.PathLike, image_size, *, threads: int | None, scheme: str, precision: str):
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads: expected a positive integer or None, got {threads!r}")
        if scheme not in THREAD_SCHEMES:
            raise ValueError(f"scheme: expected one of {THREAD_SCHEMES}, got {scheme!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
        self.path = Path(path)
        self.image_size = tuple(int(v) for v in image_size)
        self.threads = threads or _cores()
        self.scheme = scheme if self.threads > 1 else "shared"
        self.precision = precision
        self._pool: ThreadPoolExecutor | None = None
        self.whole_batches = False  # a GPU provider runs a batch at once
        self._single = None  # per-core: the single-threaded runner, made on first use

    def _runner(self, threads: int):
        raise NotImplementedError

    def _run(self, runner, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Masks ``(N, h, w)`` in [0, 1] for a batch ``(N, h, w, 3)`` of float32 pixel values [0, 255]."""
        batch = _check_batch(batch, self.image_size)
        if self.whole_batches or len(batch) == 1:
            return self._run(self._shared, batch)[..., 0]
        if self.scheme == "shared":  # photo by photo: activation memory of one photo, not of the batch
            return np.concatenate([self._run(self._shared, batch[i:i + 1]) for i in range(len(batch))])[..., 0]
        if self._single is None:
            self._single = self._runner(1)
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=f"rmbg-{self.name}")
        parts = self._pool.map(lambda i: self._run(self._single, batch[i:i + 1]), range(len(batch)))
        return np.concatenate(list(parts))[..., 0]

    def close(self) -> None:
        """Stop the per-core thread pool (engines are also cleaned up at exit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class OnnxRuntimeEngine(_Engine):
    """An ``.onnx`` artefact on onnxruntime's CPU execution provider (CUDA first when installed).

    Args:
        path: the ``.onnx`` file.
        image_size: ``(height, width)`` of the model input.
        threads: cores to use (``None``: all this process may run on).
        scheme: ``"per-core"`` or ``"shared"`` (module doc).
        precision: only ``"fp32"`` (onnxruntime's CPU provider has no bf16/fp16 kernels for these models).
        providers: onnxruntime execution providers (``None``: CUDA if available, then CPU).
    """

    name = "onnxruntime"

    def __init__(self, path, image_size, *, threads=None, scheme="shared", precision="fp32", providers=None):
        import onnxruntime as ort  # deferred: onnxruntime loads only with its engine (OpenVINO runs without it)

        super().__init__(path, image_size, threads=threads, scheme=scheme, precision=precision)
        if precision != "fp32":
            raise PrecisionUnsupportedError(
                f"precision: onnxruntime runs these models in fp32 only, got {precision!r}; "
                "use --backend openvino for bf16/fp16 (on a CPU that supports it) or --precision fp32"
            )
        available = ort.get_available_providers()
        self.providers = list(providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available])
        self.whole_batches = self.providers[0] != "CPUExecutionProvider"
        self._shared = self._runner(self.threads)
        self.input_name = self._shared.get_inputs()[0].name

    def _runner(self, threads: int):
        import onnxruntime as ort  # deferred: onnxruntime loads only with its engine (OpenVINO runs without it)

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if not self.whole_batches:
            # On the CPU every call is one photo: a static batch lets onnxruntime fold the shape
            # arithmetic of the resize layers (measured: 5-10% less CPU per photo for U^2-NetP),
            # and with static shapes the memory-pattern planner only adds a second buffer set:
            # off, the session peaks at 271 MB instead of 459 MB and runs ~7% faster (U^2-NetP,
            # 320 px, AMD EPYC; docs/runtime.md).
            options.add_free_dimension_override_by_name("batch", 1)
            options.enable_mem_pattern = False
        return ort.InferenceSession(str(self.path), options, providers=self.providers)

    def _run(self, runner, batch: np.ndarray) -> np.ndarray:
        return runner.run(None, {self.input_name: batch})[0]

    @staticmethod
    def metadata(path: str | os.PathLike) -> dict[str, str]:
        """The ONNX file's ``metadata_props`` (read by onnxruntime; no onnx/TensorFlow import)."""
        import onnxruntime as ort  # deferred: onnxruntime loads only with its engine (OpenVINO runs without it)

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return dict(session.get_modelmeta().custom_metadata_map)


def openvino_capabilities() -> set[str]:
    """What OpenVINO's CPU plugin reports it runs natively here (``FP32``, ``BF16``, ``FP16``, ``INT8``...)."""
    import openvino as ov  # deferred: optional (openvino); probed only when asked

    return set(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


class OpenVINOEngine(_Engine):
    """An ``.onnx`` artefact on OpenVINO's CPU plugin, with the inference precision set explicitly.

    Compiled models are cached beside the artefact (OpenVINO's ``CACHE_DIR``), so a later process
    skips graph compilation.

    Args:
        path: the ``.onnx`` file.
        image_size: ``(height, width)`` of the model input.
        threads: cores to use (``None``: all).
        scheme: ``"per-core"`` or ``"shared"`` (module doc).
        precision: ``"fp32"`` (default, forced with ``INFERENCE_PRECISION_HINT=f32``), or opt-in
            ``"bf16"`` / ``"fp16"`` where the CPU has native support.
        cache_dir: folder for OpenVINO's compiled-model cache (``None``: beside the artefact).

    Raises:
        PrecisionUnsupportedError: bf16/fp16 on a CPU without native support.
    """

    name = "openvino"

    def __init__(self, path, image_size, *, threads=None, scheme="shared", precision="fp32", cache_dir=None):
        import openvino as ov  # deferred: OpenVINO loads only with its engine (onnxruntime runs without it)

        super().__init__(path, image_size, threads=threads, scheme=scheme, precision=precision)
        self._core = ov.Core()
        if precision != "fp32":
            capability = _OPENVINO_CAPABILITY[precision]
            found = set(self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
            if capability not in found:
                raise PrecisionUnsupportedError(
                    f"precision: {precision} needs native {capability} support, which this CPU lacks "
                    f"(OpenVINO reports {sorted(found)}); use --precision fp32"
                )
        cache = Path(cache_dir) if cache_dir is not None else self.path.parent / "openvino_cache"
        self._core.set_property({"CACHE_DIR": str(cache)})
        self._model = self._core.read_model(str(self.path))
        height, width = self.image_size
        self._model.reshape([1, height, width, 3])  # one photo per call on the CPU: static shapes
        self._shared = self._runner(self.threads)

    def _runner(self, threads: int):
        import openvino as ov  # deferred: OpenVINO loads only with its engine (onnxruntime runs without it)

        config = {
            "INFERENCE_PRECISION_HINT": _OPENVINO_PRECISION[self.precision],
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_HYPER_THREADING": False,
        }
        compiled = self._core.compile_model(self._model, "CPU", config)
        actual = compiled.get_property("INFERENCE_PRECISION_HINT")
        wanted = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16, "fp16": ov.Type.f16}[self.precision]
        if actual != wanted:
            raise PrecisionUnsupportedError(
                f"precision: OpenVINO compiled {self.path} at {actual}, not the {self.precision} asked for"
            )
        return _RequestPool(compiled)

    def _run(self, runner, batch: np.ndarray) -> np.ndarray:
        return runner.infer(batch)


class _RequestPool:
    """One OpenVINO infer request per calling thread (a request is not thread-safe)."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.output = compiled.output(0)
        self._local = threading.local()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return np.array(request.infer({0: batch})[self.output], copy=True)


ENGINES: dict[str, type[_Engine]] = {"onnxruntime": OnnxRuntimeEngine, "openvino": OpenVINOEngine}


def make_engine(name: str, path: str | os.PathLike, image_size, **options: Any) -> _Engine:
    """Engine ``name`` on the artefact at ``path``.

    Raises:
        ValueError: an unknown engine name.
        ImportError: the engine's package is not installed (with the pip command).
    """
    if name not in ENGINES:
        raise ValueError(f"backend: expected one of {sorted(ENGINES)}, got {name!r}")
    if not engine_installed(name):
        raise ImportError(f"backend: {name} is not installed; pip install {name}")
    return ENGINES[name](path, image_size, **options)
