"""What runs the model inside :class:`~RMBG.inference.remover.Remover`: one dispatch, three kinds.

* ``auto`` (default), ``onnxruntime``, ``openvino``: the TensorFlow-free runtime
  (:mod:`RMBG.runtime`): the model's exported artefact, prepared once (for a registry name, a
  ``.keras`` file, or a registry name with a local weight file, :class:`~RMBG.registry.ModelWithWeights`,
  keyed by that file's sha256). ``auto`` given a Keras model object in memory runs it with Keras
  (TensorFlow is loaded already).
* ``keras``: the Keras model itself through one traced ``tf.function`` (imports TensorFlow).
* ``tflite``: an exported ``.tflite`` on the TFLite interpreter in TensorFlow.

Every predictor takes a batch of photos already resized to the model's size, ``(N, h, w, 3)``
float32 pixel values in [0, 255], and returns masks ``(N, h, w)`` in [0, 1]; it exposes
``image_size`` (or ``None``: any size) and ``interpolation``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from RMBG.export.cache import exported_file, segmenter_metadata
from RMBG.export.tflite_export import TFLiteRunner
from RMBG.registry import ModelWithWeights, check_pretrained_name, check_task, load_model
from RMBG.runtime import load_engine
from RMBG.runtime.engines import PRECISIONS, THREAD_SCHEMES
from RMBG.runtime.select import BACKENDS as RUNTIME_BACKENDS

log = logging.getLogger(__name__)

#: Every ``backend=`` value, the default first.
BACKENDS = (*RUNTIME_BACKENDS, "keras", "tflite")


class KerasBackend:
    """Runs a :class:`~RMBG.models.segmenter.Segmenter` through one traced ``tf.function``."""

    name = "keras"

    def __init__(self, model: Any, *, threads: int | None = None):
        import tensorflow as tf  # deferred: TensorFlow only for backend='keras'; the runtime backends stay TF-free

        if threads is not None:  # must happen before TensorFlow runs its first op
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        self.model = load_model(model)
        converter = getattr(self.model, "converter", None)
        if converter is None:
            raise TypeError(
                f"model: {self.model.name} has no image converter; RMBG runs Segmenter models "
                "(built by RMBG.create_model or saved from one)"
            )
        self.image_size = converter.image_size
        self.interpolation = converter.interpolation
        height, width = self.image_size or (None, None)
        signature = [tf.TensorSpec((None, height, width, 3), tf.float32)]
        self._predict = tf.function(lambda x: self.model(x, training=False), input_signature=signature)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self._predict(np.ascontiguousarray(batch, dtype=np.float32)).numpy()[..., 0]


class TFLiteBackend:
    """Runs an exported segmenter ``.tflite`` with the TFLite (LiteRT) interpreter in TensorFlow.

    Args:
        model: a ``.tflite`` file exported by RMBG, or a registry name / ``.keras`` path / Segmenter
            (exported once into the cache, float32).
        threads: interpreter threads (``None``: one per CPU core).
    """

    name = "tflite"

    def __init__(self, model: Any, *, threads: int | None = None):
        self.path = exported_file(model, "tflite")
        self.metadata = segmenter_metadata(self.path, self.name)
        self.image_size = tuple(self.metadata["image_size"])
        self.interpolation = self.metadata["interpolation"]
        self.runner = TFLiteRunner(self.path, threads=threads)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Masks ``(N, h, w)`` for a batch ``(N, h, w, 3)`` of float32 pixel values [0, 255]."""
        return self.runner(batch)[..., 0]


def check_backend_options(backend: str, precision: str = "fp32", threads: int | None = None,
                          scheme: str | None = None) -> None:
    """Validate the options of :func:`make_predictor` without loading anything.

    Raises:
        ValueError: an unknown backend, precision or scheme, a non-positive thread count, or a
            low precision on a backend that runs fp32 only.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads: expected a positive integer, got {threads!r}")
    if scheme is not None and scheme not in THREAD_SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(THREAD_SCHEMES)}, got {scheme!r}")
    if precision != "fp32" and backend not in ("auto", "openvino"):
        raise ValueError(
            f"precision: {precision} runs on OpenVINO only (--backend openvino or auto), got --backend {backend}"
        )


def make_predictor(model: Any, backend: str = "auto", *, precision: str = "fp32", threads: int | None = None,
                   scheme: str | None = None, images: int | None = None):
    """The predictor for ``model`` on ``backend`` (see the module doc).

    ``images`` (the photos the run will see, ``None`` for a long-running process) lets ``auto``
    weigh each engine's load time against its per-photo time
    (:func:`RMBG.runtime.select.choose_engine`).

    Raises:
        ValueError: see :func:`check_backend_options`; an unknown model.
    """
    check_backend_options(backend, precision, threads, scheme)
    if isinstance(model, str) and not model.endswith((".keras", ".onnx", ".tflite")):
        check_pretrained_name(model, "segmentation")  # the same refusals on every backend
    if isinstance(model, ModelWithWeights):
        check_task(model.name, "segmentation")  # a name with a local checkpoint goes to the runtime like a name
    if backend == "auto" and precision == "fp32" and not isinstance(model, (str, os.PathLike, ModelWithWeights)):
        # A Keras model object is already in memory with TensorFlow loaded: exporting it now would
        # cost more (tf2onnx, parity) than the runtime saves. Names and files go to the runtime.
        log.info("backend auto -> keras (a Keras model object in memory; save it and pass the path for the runtime)")
        backend = "keras"
    if backend == "keras":
        return KerasBackend(model, threads=threads)
    if backend == "tflite":
        return TFLiteBackend(model, threads=threads)

    return load_engine(model, backend, precision=precision, threads=threads, scheme=scheme, images=images)
