"""ONNX export of the FBA matting network (:class:`~RMBG.models.fba_matting.FBAMatting`), via tf2onnx.

The inputs and output are :mod:`RMBG.export.fba_signature`'s (the output is named ``fba``).
:class:`OnnxFBA` runs the file with onnxruntime alone and is a drop-in ``model`` for
:func:`RMBG.matting.fba.fba_matte` (no TensorFlow at run time).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.export.fba_signature import INPUT_NAMES, OUTPUT_NAME, fba_metadata, fba_serving_function
from RMBG.export.metadata import METADATA_KEY
from RMBG.export.onnx_export import _name_batch_dim, _rename_values


def export_fba_onnx(model: Any, path: str | os.PathLike, *, opset: int = 17) -> Path:
    """Write ``model`` (an FBAMatting) as ONNX to ``path`` (atomically); returns ``path``."""
    import onnx  # deferred: onnx only when exporting
    import tf2onnx  # deferred: tf2onnx (TensorFlow) only when exporting

    serve = fba_serving_function(model)
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=opset)
    graph = proto.graph
    if len(graph.output) != 1 or len(graph.input) != len(INPUT_NAMES):
        raise RuntimeError(f"tf2onnx wrote {len(graph.input)} inputs / {len(graph.output)} outputs, expected 3 / 1")
    renames = {graph.output[0].name: OUTPUT_NAME}
    for value in graph.input:
        renames[value.name] = next(n for n in INPUT_NAMES if value.name.split(":")[0] == n)
    _rename_values(graph, renames)
    _name_batch_dim(graph)
    graph.name = f"{model.name}_fba"
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(fba_metadata(model))
    onnx.checker.check_model(proto)
    return atomic_write_bytes(Path(path), proto.SerializeToString())


class OnnxFBA:
    """An exported FBA network run by onnxruntime: ``OnnxFBA(path)(inputs) -> (N, H, W, 7)``.

    Args:
        path: a file written by :func:`export_fba_onnx`.
        threads: intra-op threads (None: onnxruntime's default).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None):
        import onnxruntime as ort  # deferred: onnxruntime only to run the exported file

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = sorted(i.name for i in self.session.get_inputs())
        if names != sorted(INPUT_NAMES):
            raise ValueError(f"path: '{path}' has inputs {names}, not an FBA export ({list(INPUT_NAMES)}); use export_fba_onnx")

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: np.ascontiguousarray(inputs[name], np.float32) for name in INPUT_NAMES}
        return self.session.run([OUTPUT_NAME], feed)[0]
