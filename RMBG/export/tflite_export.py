"""TFLite (LiteRT) export, float32 or float16 weights.

The serving function of :mod:`RMBG.export.savedmodel_export` is frozen (variables become
constants) and converted with ``TFLiteConverter.from_concrete_functions``. Freezing first is
required: converted with its variables (``from_saved_model`` or an unfrozen concrete function),
a Keras 3 model becomes ``VAR_HANDLE``/``READ_VARIABLE`` ops whose values the interpreter never
initialises, and every output is NaN (a 0.5 MB file for U^2-NetP instead of 4.7 MB).

``fp16=True`` stores the weights as float16 (half the file size). On a CPU the interpreter
(XNNPACK) dequantises them to float32 when it loads the model, so it computes in float32.

The export metadata (see :mod:`RMBG.export`) is written into the flatbuffer's ``metadata``
list under ``rmbg_export``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.export.metadata import METADATA_KEY, export_metadata


def convert_function_to_tflite(function: Any, *, fp16: bool = False) -> bytes:
    """The TFLite flatbuffer of a ``tf.function`` with an input signature, frozen first (see the
    module doc), without RMBG metadata.

    Args:
        function: a ``tf.function`` whose ``input_signature`` is set.
        fp16: store float16 weights.
    """
    import tensorflow as tf  # deferred: TensorFlow only when converting; the TF-free runtime imports this module
    # deferred: TensorFlow only when converting
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if fp16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def convert_to_tflite(model: Any, *, fp16: bool = False) -> bytes:
    """The TFLite flatbuffer of ``model``'s serving function (frozen), without RMBG metadata.

    Args:
        model: a built Segmenter.
        fp16: store float16 weights.
    """
    from RMBG.export.savedmodel_export import serving_function  # deferred: TensorFlow only when converting

    return convert_function_to_tflite(serving_function(model), fp16=fp16)


def add_tflite_metadata(flatbuffer: bytes, name: str, value: bytes) -> bytes:
    """``flatbuffer`` with one more entry ``name`` → ``value`` in the model's metadata list."""
    # deferred: TensorFlow's flatbuffer schema only when writing metadata
    from tensorflow.lite.python import schema_py_generated as schema
    # deferred: TensorFlow's flatbuffer tools only when writing metadata
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(value, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = list(model.metadata or []) + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export_tflite(model: Any, path: str | os.PathLike, *, fp16: bool = False) -> Path:
    """Write ``model`` as a ``.tflite`` file (dynamic batch; resize the input to batch > 1).

    Args:
        model: a built Segmenter.
        path: the file to write (written to a temporary file, then renamed).
        fp16: float16 weights (half the size; computed in float32 on CPUs).

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer = convert_to_tflite(model, fp16=fp16)
    metadata = export_metadata(model, format="tflite", precision="float16" if fp16 else "float32")
    flatbuffer = add_tflite_metadata(flatbuffer, METADATA_KEY, json.dumps(metadata).encode())
    atomic_write_bytes(path, flatbuffer)
    return path


def read_tflite_metadata(path: str | os.PathLike) -> dict:
    """The RMBG metadata stored in a ``.tflite`` file.

    Raises:
        ValueError: the file has no ``rmbg_export`` metadata (it was not exported by RMBG).
    """
    # deferred: TensorFlow's flatbuffer schema only when reading metadata
    from tensorflow.lite.python import schema_py_generated as schema

    data = Path(path).read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() is not None and entry.Name().decode() == METADATA_KEY:
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode())
    raise ValueError(
        f"path: '{path}' has no '{METADATA_KEY}' metadata; it was not exported by RMBG. "
        "Export the model with `python -m RMBG export --format tflite`"
    )


def make_interpreter(path: str | os.PathLike, *, threads: int | None = None):
    """A TFLite interpreter for ``path`` (``threads=None``: one per CPU core).

    Uses ``tf.lite.Interpreter`` (its deprecation notice, which points to the separate
    ``ai_edge_litert`` package, is silenced: the interpreter is the same engine).
    """
    import tensorflow as tf  # deferred: TensorFlow (the TFLite interpreter) only when running a .tflite file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_path=str(path), num_threads=threads or os.cpu_count() or 1)


class TFLiteRunner:
    """Runs a ``.tflite`` segmenter on NumPy batches, resizing its input for each batch size.

    Args:
        path: the ``.tflite`` file.
        threads: interpreter threads (``None``: one per CPU core).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"path: no such .tflite file '{self.path}'")
        self.interpreter = make_interpreter(self.path, threads=threads)
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(v) for v in self._input["shape_signature"])
        self._batch = None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Masks ``(N, H, W, 1)`` for float32 pixel values ``(N, H, W, 3)`` in [0, 255]."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        expected = self.input_shape[1:]
        if images.ndim != 4 or images.shape[1:] != expected:
            raise ValueError(
                f"images: expected shape (N, {', '.join(map(str, expected))}), got {images.shape}; "
                "resize the photos to the model's size first (Remover does)"
            )
        if images.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], images.shape, strict=True)
            self.interpreter.allocate_tensors()
            self._batch = images.shape[0]
        self.interpreter.set_tensor(self._input["index"], images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).copy()


__all__ = ["TFLiteRunner", "add_tflite_metadata", "convert_function_to_tflite", "convert_to_tflite", "export_tflite",
           "make_interpreter", "read_tflite_metadata"]
