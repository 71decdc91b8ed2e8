"""Does bf16-aware fine-tuning make U^2-NetP's bf16 masks match the official fp32 ones? (docs/runtime.md)

The candidate is a ``.keras`` checkpoint fine-tuned with ``python -m RMBG train`` under
``precision: mixed_bfloat16`` (the recipe is in docs/runtime.md). Both it and the official model
are prepared as runtime artefacts (``RMBG.runtime.prepare``; building one imports TensorFlow once)
and run on the runtime's OpenVINO engine over the probe photos, with the artefacts' own parity
helpers (:mod:`RMBG.runtime.parity`). The reference is the official model at fp32 (equal to Keras
fp32: IoU 1.0 in its artefact's parity record); for each of

    official bf16, fine-tuned fp32, fine-tuned bf16

it prints the masks' IoU at 0.5 against the reference (min with its photo, mean), the mean
absolute difference of the masks and the median time per photo (all cores). Needs a CPU with
native bf16 (AVX512-BF16 or AMX); elsewhere the engine refuses bf16.

    python scripts/bf16_finetune_probe.py Data/runs/u2netp-bf16/best.keras
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from RMBG.runtime import prepare
from RMBG.runtime.parity import compare_masks, probe_inputs, probe_photos, run_engines

_PHOTOS = 18


def masks_of(artefact, images: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """``{precision: (masks, median ms a photo)}`` of ``artefact`` on OpenVINO fp32 and bf16."""
    results = run_engines([("openvino", "fp32"), ("openvino", "bf16")], artefact.path, artefact.image_size, images)
    failed = {variant: result["error"] for variant, result in results.items() if isinstance(result, dict)}
    if failed:
        raise SystemExit(f"{artefact.path}: {failed}")
    return {precision: (masks, ms) for (_, precision), (masks, ms, _load) in results.items()}


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
    images, origin, count = probe_inputs(official.image_size, _PHOTOS)
    names = [p.stem for p in probe_photos(_PHOTOS)[0]]  # matches the images unless a photo failed to load

    runs = {args.reference: masks_of(official, images), "fine-tuned": masks_of(tuned, images)}
    reference, ms = runs[args.reference]["fp32"]
    print(f"{count} photos from {origin}; reference: {args.reference} fp32, {ms:.0f} ms/photo")
    print("| model | precision | IoU min (photo) | IoU mean | mean abs diff | ms a photo |")
    print("|---|---|---|---|---|---|")
    for name, precision in ((args.reference, "bf16"), ("fine-tuned", "fp32"), ("fine-tuned", "bf16")):
        masks, ms = runs[name][precision]
        overall = compare_masks(masks, reference)
        per_photo = [compare_masks(masks[i:i + 1], reference[i:i + 1])["iou_min"] for i in range(count)]
        worst = names[int(np.argmin(per_photo))] if len(names) == count else "?"
        print(f"| {name} | {precision} | {overall['iou_min']:.4f} ({worst}) | {overall['iou_mean']:.4f} "
              f"| {overall['mean_abs']:.4f} | {ms:.0f} |")


if __name__ == "__main__":
    main()
