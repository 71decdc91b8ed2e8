"""Does OpenVINO keep chosen nodes in fp32 under a bf16 inference hint? (docs/runtime.md)

Runs the prepared u2netp artefact (``python -m RMBG prepare u2netp``) on the probe photos with
OpenVINO fp32, then bf16 with growing sets of nodes marked ``disable_fp16_compression`` in their
runtime info, and prints the masks' IoU against fp32 and the time per photo.

    python scripts/openvino_precision_probe.py
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import openvino as ov

from RMBG.inference.image_io import load_image
from RMBG.runtime import prepare
from RMBG.runtime.parity import probe_photos


def main() -> None:
    artefact = prepare("u2netp")
    height, width = artefact.image_size
    photos, origin = probe_photos(18)
    images = np.stack([cv2.resize(load_image(p), (width, height), interpolation=cv2.INTER_LINEAR) for p in photos])
    images = images.astype(np.float32)
    core = ov.Core()

    def run(model, precision: str) -> tuple[np.ndarray, float]:
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                     "INFERENCE_NUM_THREADS": 2, "NUM_STREAMS": 1})
        request, masks, start = compiled.create_infer_request(), [], time.perf_counter()
        for image in images:
            masks.append(np.array(request.infer({0: image[None]})[compiled.output(0)])[0, ..., 0])
        return np.stack(masks), 1000 * (time.perf_counter() - start) / len(images)

    def iou(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a > 0.5, b > 0.5
        return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))

    reference, ms = run(core.read_model(str(artefact.path)), "f32")
    print(f"{len(images)} photos from {origin}; fp32 {ms:.0f} ms/photo")
    convolutions = [op.get_friendly_name() for op in core.read_model(str(artefact.path)).get_ordered_ops()
                    if op.get_type_name() == "Convolution"]
    variants = {
        "everything bf16": lambda op: False,
        "every non-convolution node fp32": lambda op: op.get_type_name() != "Convolution",
        "first and last 10 convolutions fp32": lambda op: op.get_friendly_name() in convolutions[:10] + convolutions[-10:],
        "every node fp32": lambda op: True,
    }
    for name, keep in variants.items():
        model, kept = core.read_model(str(artefact.path)), 0
        for op in model.get_ordered_ops():
            if keep(op):
                op.get_rt_info()["disable_fp16_compression_0"] = ""
                kept += 1
        masks, ms = run(model, "bf16")
        ious = [iou(a, b) for a, b in zip(masks, reference)]
        print(f"{name}: {kept} nodes kept fp32, IoU min {min(ious):.4f} mean {np.mean(ious):.4f}, {ms:.0f} ms/photo")


if __name__ == "__main__":
    main()
