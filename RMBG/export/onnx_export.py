"""ONNX export through tf2onnx: the RMBG segmenter layout and the rembg ``u2net_custom`` layout.

* Segmenter layout (default): input ``images`` float32 ``(batch, H, W, 3)`` pixel values in
  [0, 255] (NHWC, already at the model's size), output ``mask`` float32 ``(batch, H, W, 1)`` in
  [0, 1], post-processed like the Keras model (min-max per image for the official presets).
* rembg layout (``rembg=True``): input ``input`` float32 ``(batch, 3, 320, 320)`` (NCHW) already
  normalised the way rembg does it (divide by the image's maximum, ImageNet mean/std), outputs
  ``d0`` … ``d6`` float32 ``(batch, 1, 320, 320)``, sigmoid applied, the fused map first. rembg
  reads ``outputs[0][:, 0]`` and min-max normalises it itself, exactly as for the official
  ``u2netp.onnx``. A NHWC first output would run but give rembg a wrong mask, hence the layout
  tests.

The batch dimension is dynamic (``batch``). The metadata (see :mod:`RMBG.export`) is stored in
the model's ``metadata_props`` under ``rmbg_export``. Reading metadata imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.export.metadata import METADATA_KEY, export_metadata

#: Default ONNX opset (onnxruntime 1.20+ runs it; tf2onnx 1.17 supports up to 18).
DEFAULT_OPSET = 17

#: What rembg's ``u2net_custom`` session hard-codes: size, scaling, mean and std.
REMBG_IMAGE_SIZE = (320, 320)
REMBG_MEAN = (0.485, 0.456, 0.406)
REMBG_STD = (0.229, 0.224, 0.225)

#: Input name of the rembg layout (rembg reads the name from the session, any name works).
REMBG_INPUT_NAME = "input"


def check_rembg_compatible(model: Any) -> None:
    """Raise ValueError unless ``model``'s preprocessing is what rembg's ``u2net_custom`` does.

    rembg resizes to 320x320, divides by the image's own maximum and applies ImageNet mean/std,
    whatever the model; a model trained with other preprocessing would get wrong inputs there.
    """
    converter = model.converter
    problems = []
    if tuple(converter.image_size or ()) != REMBG_IMAGE_SIZE:
        problems.append(f"image_size {converter.image_size} (rembg uses {REMBG_IMAGE_SIZE})")
    if converter.scaling != "image_max":
        problems.append(f"scaling {converter.scaling!r} (rembg divides by the image maximum: 'image_max')")
    for label, value, expected in (("mean", converter.mean, REMBG_MEAN), ("std", converter.std, REMBG_STD)):
        if value is None or not np.allclose(value, expected, atol=1e-6):
            problems.append(f"{label} {value} (rembg uses {expected})")
    if problems:
        raise ValueError(
            f"model: {model.name} cannot be exported for rembg's u2net_custom session: "
            + "; ".join(problems)
            + ". Export it without --rembg and run it with RMBG's onnxruntime backend instead"
        )


def rembg_function(model: Any):
    """A ``tf.function``: NCHW normalised input → the backbone's sigmoid maps, each ``(N, 1, H, W)``.

    The backbone's maps are returned in order (channel 0, the fused map, first).
    """
    import tensorflow as tf  # deferred: TensorFlow only to build the rembg-layout function

    check_rembg_compatible(model)
    height, width = REMBG_IMAGE_SIZE
    spec = tf.TensorSpec((None, 3, height, width), tf.float32, name=REMBG_INPUT_NAME)

    @tf.function(input_signature=[spec])
    def serve(x):
        logits = model.backbone(tf.transpose(x, [0, 2, 3, 1]), training=False)
        maps = tf.transpose(tf.sigmoid(tf.cast(logits, tf.float32)), [0, 3, 1, 2])
        return [maps[:, i:i + 1] for i in range(maps.shape[1])]

    return serve


def _rename_values(graph, renames: dict[str, str]) -> None:
    """Rename tensors (node inputs/outputs and graph inputs/outputs) of an ONNX graph in place."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name in renames:
            value.name = renames[value.name]


def _name_batch_dim(graph) -> None:
    """Give the dynamic first dimension of every graph input and output the name ``batch``."""
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"


def export_onnx(
    model: Any,
    path: str | os.PathLike,
    *,
    rembg: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Convert ``model`` to ONNX with tf2onnx (see the module doc for the two layouts).

    Args:
        model: a built Segmenter.
        path: the ``.onnx`` file to write (written to a temporary file, then renamed).
        rembg: write the rembg ``u2net_custom`` layout.
        opset: the ONNX opset.

    Returns:
        ``path``.

    Raises:
        ValueError: ``rembg=True`` for a model whose preprocessing rembg does not reproduce.
    """
    import onnx  # deferred: onnx only when exporting; the TF-free runtime imports this module
    import tf2onnx  # deferred: tf2onnx (TensorFlow) stays out of the TF-free runtime, which imports this module

    # deferred: TensorFlow stays out of the TF-free runtime, which imports this module
    from RMBG.export.savedmodel_export import INPUT_NAME, OUTPUT_NAME, input_spec, serving_function

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if rembg:
        function = rembg_function(model)
        signature = function.input_signature
        input_name = REMBG_INPUT_NAME
    else:
        function = serving_function(model)
        signature = (input_spec(model),)
        input_name = INPUT_NAME
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)

    graph = proto.graph
    if rembg:
        output_names = [f"d{i}" for i in range(len(graph.output))]
    else:
        output_names = [OUTPUT_NAME]
    if len(graph.output) != len(output_names):
        raise RuntimeError(f"tf2onnx wrote {len(graph.output)} outputs, expected {len(output_names)}")
    renames = {value.name: new for value, new in zip(graph.output, output_names)}
    renames.update({value.name: input_name for value in graph.input})
    _rename_values(graph, renames)
    _name_batch_dim(graph)
    graph.name = f"{model.name}_{'rembg' if rembg else 'segmenter'}"
    metadata = export_metadata(model, format="onnx", layout="rembg" if rembg else "segmenter")
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    proto.producer_name = "RMBG (tf2onnx)"
    onnx.checker.check_model(proto)

    atomic_write_bytes(path, proto.SerializeToString())
    return path


def read_onnx_metadata(path: str | os.PathLike) -> dict:
    """The RMBG metadata of an ``.onnx`` file (parses the protobuf; imports no TensorFlow).

    Raises:
        ValueError: the file has no ``rmbg_export`` entry (it was not exported by RMBG).
    """
    import onnx  # deferred: onnx only to read an export's metadata

    proto = onnx.load(str(path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise ValueError(
        f"path: '{path}' has no '{METADATA_KEY}' metadata; it was not exported by RMBG. "
        "Export the model with `python -m RMBG export --format onnx`"
    )


__all__ = ["DEFAULT_OPSET", "check_rembg_compatible", "export_onnx", "read_onnx_metadata", "rembg_function"]
