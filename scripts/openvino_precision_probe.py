"""Can part of U^2-NetP run in bf16 on OpenVINO with the masks unchanged? (docs/runtime.md)

Runs the prepared u2netp artefact (``python -m RMBG prepare u2netp``) on the probe photos with
OpenVINO fp32 (the reference), then:

1. bf16 with every node marked fp32 in its runtime info, once with ``precise_0`` (the key
   ``ov::disable_fp16_compression`` writes) and once with the older ``disable_fp16_compression_0``;
2. the graph split in two at a convolution (``onnx.utils.Extractor``): the part before the cut in
   one precision and the part after it in the other, the tensors that cross the cut (skip
   connections included) passed from the first compiled model to the second.

For each variant it prints the masks' IoU at 0.5 against fp32 (min and mean over the photos), the
share of the convolutions' multiply-adds that ran in bf16 and the time per photo (both parts, two
threads). Needs a CPU with native bf16 (AVX512-BF16 or AMX); elsewhere OpenVINO refuses bf16.

    python scripts/openvino_precision_probe.py
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import onnx
import onnx.utils
import openvino as ov

from RMBG.inference.image_io import load_image
from RMBG.runtime import prepare
from RMBG.runtime.parity import probe_photos

_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def conv_macs(model: onnx.ModelProto) -> dict[str, float]:
    """Multiply-adds of every convolution (by node name) at batch 1, from inferred shapes."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1  # the dynamic batch, made static
    model = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.value_info}
    shapes.update({v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.output})
    weights = {w.name: list(w.dims) for w in model.graph.initializer}
    macs = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            out, kernel = shapes[node.output[0]], weights[node.input[1]]  # NCHW output, OIHW kernel
            macs[node.name] = float(np.prod(out) * np.prod(kernel[1:]))
    return macs


def split(model: onnx.ModelProto, cut: int) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """The graph before node ``cut`` and the graph from it on, joined by every tensor that crosses."""
    nodes, graph_inputs = model.graph.node, [v.name for v in model.graph.input]
    produced = set(graph_inputs) | {name for node in nodes[:cut] for name in node.output}
    consumed = {name for node in nodes[cut:] for name in node.input}
    crossing = sorted(produced & consumed)
    model = onnx.shape_inference.infer_shapes(model)
    known = {v.name for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    for name in crossing:  # shape inference stops at some of tf2onnx's nodes: a float of any shape
        if name not in known:
            model.graph.value_info.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    extractor = onnx.utils.Extractor(model)
    first = extractor.extract_model(graph_inputs, [name for name in crossing if name not in graph_inputs])
    second = extractor.extract_model(crossing, [v.name for v in model.graph.output])
    return first, second


def main() -> None:
    artefact = prepare("u2netp")
    height, width = artefact.image_size
    photos, origin = probe_photos(18)
    images = np.stack([cv2.resize(load_image(p), (width, height), interpolation=cv2.INTER_LINEAR) for p in photos])
    images = images.astype(np.float32)
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": 2, "NUM_STREAMS": 1}

    def compile_for(model, precision: str, shapes: dict | None = None):
        if isinstance(model, onnx.ModelProto):
            model = core.read_model(model.SerializeToString(), ov.Tensor(np.zeros(0, np.uint8)))
        model.reshape(shapes or {model.inputs[0].get_any_name(): [1, height, width, 3]})
        return core.compile_model(model, "CPU", {**config, "INFERENCE_PRECISION_HINT": _PRECISION[precision]})

    def run(stages) -> tuple[np.ndarray, float]:
        requests, masks, start = [c.create_infer_request() for c in stages], [], time.perf_counter()
        for image in images:
            feed = {"images": image[None]}
            for compiled, request in zip(stages, requests):
                result = request.infer({i.get_any_name(): feed[i.get_any_name()] for i in compiled.inputs})
                feed.update({name: np.array(result[o]) for o in compiled.outputs for name in o.get_names()})
            masks.append(feed["mask"][0, ..., 0])
        return np.stack(masks), 1000 * (time.perf_counter() - start) / len(images)

    def iou(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a > 0.5, b > 0.5
        return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))

    def report(name: str, masks: np.ndarray, ms: float, bf16_share: float) -> None:
        ious = [iou(a, b) for a, b in zip(masks, reference)]
        print(f"{name}: bf16 share of conv MACs {bf16_share:.0%}, IoU min {min(ious):.4f} mean {np.mean(ious):.4f}, {ms:.0f} ms/photo")

    reference, ms = run([compile_for(core.read_model(str(artefact.path)), "fp32")])
    print(f"{len(images)} photos from {origin}; fp32 {ms:.0f} ms/photo")

    for key in ("precise_0", "disable_fp16_compression_0"):
        model = core.read_model(str(artefact.path))
        for op in model.get_ordered_ops():
            op.get_rt_info()[key] = ""
        masks, ms = run([compile_for(model, "bf16")])
        report(f"bf16 hint, every node marked '{key}'", masks, ms, 1.0)

    graph = onnx.load(str(artefact.path))
    macs = conv_macs(graph)
    total = sum(macs.values())
    positions = [i for i, node in enumerate(graph.graph.node) if node.op_type == "Conv"]
    for fraction in (0.25, 0.5, 0.6, 0.7, 0.8, 0.9):
        cut = positions[int(fraction * len(positions))]
        before = sum(macs[node.name] for node in graph.graph.node[:cut] if node.op_type == "Conv") / total
        first, second = split(graph, cut)
        for low, high in (("bf16", "fp32"),) + ((("fp32", "bf16"),) if fraction == 0.5 else ()):
            stage_one = compile_for(first, low)
            crossing = {name: list(o.get_shape()) for o in stage_one.outputs for name in o.get_names()}
            crossing["images"] = [1, height, width, 3]
            second_model = core.read_model(second.SerializeToString(), ov.Tensor(np.zeros(0, np.uint8)))
            shapes = {i.get_any_name(): crossing[i.get_any_name()] for i in second_model.inputs}
            masks, ms = run([stage_one, compile_for(second_model, high, shapes)])
            share = before if low == "bf16" else 1 - before
            report(f"first {fraction:.0%} of the convolutions {low}, the rest {high}", masks, ms, share)


if __name__ == "__main__":
    main()
