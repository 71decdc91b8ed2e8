"""ONNX export of the FBA matting network (:class:`~RMBG.models.fba_matting.FBAMatting`), via tf2onnx.

Inputs (NHWC float32, dynamic batch, height and width; sides multiples of 8): ``image``
``(batch, H, W, 3)`` in [0, 1], ``trimap`` ``(batch, H, W, 2)`` and ``trimap_transform``
``(batch, H, W, 6)`` exactly as :func:`RMBG.matting.fba.prepare_fba` makes them. Output ``fba``
``(batch, H, W, 7)``: alpha, F, B. :class:`OnnxFBA` runs the file with onnxruntime alone and is a
drop-in ``model`` for :func:`RMBG.matting.fba.fba_matte` (no TensorFlow at run time).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.export.onnx_export import _name_batch_dim, _rename_values

INPUT_NAMES = ("image", "trimap", "trimap_transform")
INPUT_CHANNELS = {"image": 3, "trimap": 2, "trimap_transform": 6}
OUTPUT_NAME = "fba"
METADATA_KEY = "rmbg_export"


def export_fba_onnx(model: Any, path: str | os.PathLike, *, opset: int = 17) -> Path:
    """Write ``model`` (an FBAMatting) as ONNX to ``path`` (atomically); returns ``path``."""
    import onnx  # deferred: onnx only when exporting
    import tensorflow as tf  # deferred: TensorFlow only when exporting
    import tf2onnx  # deferred: tf2onnx (TensorFlow) only when exporting

    signature = [tf.TensorSpec((None, None, None, INPUT_CHANNELS[name]), tf.float32, name=name) for name in INPUT_NAMES]

    @tf.function(input_signature=signature)
    def serve(image, trimap, trimap_transform):
        return model({"image": image, "trimap": trimap, "trimap_transform": trimap_transform}, training=False)

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=opset)
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
    entry.key, entry.value = METADATA_KEY, json.dumps({"model": model.name, "layout": "fba", "inputs": list(INPUT_NAMES)})
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
