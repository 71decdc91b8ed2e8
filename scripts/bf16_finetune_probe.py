"""Does bf16-aware fine-tuning make U^2-NetP's bf16 masks match the official fp32 ones? (docs/runtime.md)

The candidate is a ``.keras`` checkpoint fine-tuned with ``python -m RMBG train`` under
``precision: mixed_bfloat16`` (the recipe is in docs/runtime.md). Both it and the official model
are prepared as runtime artefacts (``RMBG.runtime.prepare``; building one imports TensorFlow once)
and run on OpenVINO's CPU plugin over the probe photos. The reference is the official model at
fp32 (equal to Keras fp32: IoU 1.0 in its artefact's parity record); for each of

    official bf16, fine-tuned fp32, fine-tuned bf16

it prints the masks' IoU at 0.5 against the reference (min, mean, worst photo), the mean
absolute difference of the masks and the time per photo (two threads). Needs a CPU with native
bf16 (AVX512-BF16 or AMX); elsewhere OpenVINO refuses bf16.

    python scripts/bf16_finetune_probe.py Data/runs/u2netp-bf16/best.keras
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from RMBG.inference.image_io import load_image
from RMBG.runtime import prepare
from RMBG.runtime.parity import probe_photos

_HINT = {"fp32": "f32", "bf16": "bf16"}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two soft masks thresholded at 0.5 (1.0 when both are empty)."""
    a, b = a > 0.5, b > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def run(core: ov.Core, onnx_path: Path, precision: str, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Masks of ``images`` (N, H, W, 3) from the artefact at ``precision``, and ms per photo."""
    model = core.read_model(str(onnx_path))
    model.reshape({model.inputs[0].get_any_name(): [1, *images.shape[1:]]})
    compiled = core.compile_model(
        model, "CPU", {"INFERENCE_NUM_THREADS": 2, "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": _HINT[precision]}
    )
    request, masks = compiled.create_infer_request(), []
    request.infer({0: images[:1]})  # first call allocates; not timed
    start = time.perf_counter()
    for image in images:
        masks.append(np.array(request.infer({0: image[None]})["mask"])[0, ..., 0])
    return np.stack(masks), 1000 * (time.perf_counter() - start) / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="the fine-tuned .keras file")
    parser.add_argument("--reference", default="u2netp", help="registry name of the official model (default u2netp)")
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint: no such file {str(args.checkpoint)!r}; give the .keras file a training run wrote")

    official, tuned = prepare(args.reference), prepare(args.checkpoint)
    if official.image_size != tuned.image_size:
        parser.error(f"checkpoint: input size {tuned.image_size} differs from {args.reference}'s {official.image_size}")
    height, width = official.image_size
    photos, origin = probe_photos(18)
    images = np.stack(
        [cv2.resize(load_image(p), (width, height), interpolation=cv2.INTER_LINEAR) for p in photos]
    ).astype(np.float32)

    core = ov.Core()
    reference, ms = run(core, official.path, "fp32", images)
    print(f"{len(images)} photos from {origin}; reference: {args.reference} fp32, {ms:.0f} ms/photo")
    print("| model | precision | IoU min (photo) | IoU mean | mean abs diff | ms a photo |")
    print("|---|---|---|---|---|---|")
    for name, artefact, precision in (
        (args.reference, official, "bf16"), ("fine-tuned", tuned, "fp32"), ("fine-tuned", tuned, "bf16"),
    ):
        masks, ms = run(core, artefact.path, precision, images)
        ious = [iou(m, r) for m, r in zip(masks, reference)]
        worst = int(np.argmin(ious))
        print(f"| {name} | {precision} | {ious[worst]:.4f} ({photos[worst].stem}) | {np.mean(ious):.4f} "
              f"| {np.abs(masks - reference).mean():.4f} | {ms:.0f} |")


if __name__ == "__main__":
    main()
