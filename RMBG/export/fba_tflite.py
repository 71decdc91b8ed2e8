"""TFLite export of the FBA matting network (:class:`~RMBG.models.fba_matting.FBAMatting`).

The same three inputs and one output as the ONNX export (:mod:`RMBG.export.fba_signature`),
dynamic batch, height and width: the interpreter's inputs are resized for each call. The
function is frozen and converted as the segmenters are (:mod:`RMBG.export.tflite_export`), and
the metadata (``layout: fba``) is stored in the flatbuffer under ``rmbg_export``.
:class:`TFLiteFBA` is a drop-in ``model`` for :func:`RMBG.matting.fba.fba_matte`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.export.fba_signature import INPUT_CHANNELS, INPUT_NAMES, LAYOUT, fba_metadata, fba_serving_function
from RMBG.export.metadata import METADATA_KEY
from RMBG.export.tflite_export import add_tflite_metadata, convert_function_to_tflite, make_interpreter, read_tflite_metadata


def export_fba_tflite(model: Any, path: str | os.PathLike, *, fp16: bool = False) -> Path:
    """Write ``model`` (an FBAMatting) as a ``.tflite`` file to ``path`` (atomically); returns ``path``.

    Args:
        model: an FBAMatting.
        path: the file to write.
        fp16: float16 weights (half the size; the CPU interpreter computes in float32).
    """
    flatbuffer = convert_function_to_tflite(fba_serving_function(model), fp16=fp16)
    metadata = {**fba_metadata(model), "precision": "float16" if fp16 else "float32"}
    flatbuffer = add_tflite_metadata(flatbuffer, METADATA_KEY, json.dumps(metadata).encode())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, flatbuffer)


class TFLiteFBA:
    """An exported FBA network on the TFLite interpreter: ``TFLiteFBA(path)(inputs) -> (N, H, W, 7)``.

    Args:
        path: a file written by :func:`export_fba_tflite`.
        threads: interpreter threads (``None``: one per CPU core).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an FBA export (its metadata or inputs say otherwise).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"path: no such .tflite file '{self.path}'")
        layout = read_tflite_metadata(self.path).get("layout")
        if layout != LAYOUT:
            raise ValueError(f"path: '{self.path}' has layout {layout!r}, not an FBA export ({LAYOUT!r}); use export_fba_tflite")
        self.interpreter = make_interpreter(self.path, threads=threads)
        details = {d["name"]: d for d in self.interpreter.get_input_details()}
        if sorted(details) != sorted(INPUT_NAMES):
            raise ValueError(f"path: '{self.path}' has inputs {sorted(details)}, not an FBA export ({list(INPUT_NAMES)})")
        self._inputs = {name: details[name]["index"] for name in INPUT_NAMES}
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._shapes: dict[str, tuple[int, ...]] = {}

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """``(N, H, W, 7)`` alpha, F, B for the dict :func:`RMBG.matting.fba.prepare_fba` makes.

        Raises:
            ValueError: an input is missing or its shape does not fit the others.
        """
        feed = {}
        for name in INPUT_NAMES:
            if name not in inputs:
                raise ValueError(f"inputs: missing {name!r}; expected {list(INPUT_NAMES)} (RMBG.matting.fba.prepare_fba)")
            feed[name] = np.ascontiguousarray(inputs[name], np.float32)
        batch_hw = feed["image"].shape[:3]
        for name, array in feed.items():
            if array.ndim != 4 or array.shape[:3] != batch_hw or array.shape[3] != INPUT_CHANNELS[name]:
                raise ValueError(f"inputs: {name!r} has shape {array.shape}, expected {(*batch_hw, INPUT_CHANNELS[name])}")
        shapes = {name: array.shape for name, array in feed.items()}
        if shapes != self._shapes:
            for name, shape in shapes.items():
                self.interpreter.resize_tensor_input(self._inputs[name], shape, strict=False)
            self.interpreter.allocate_tensors()
            self._shapes = shapes
        for name, array in feed.items():
            self.interpreter.set_tensor(self._inputs[name], array)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output).copy()


__all__ = ["TFLiteFBA", "export_fba_tflite"]
