"""``python -m RMBG export``: write a model as ONNX, TFLite or a SavedModel."""

from __future__ import annotations

import argparse
from pathlib import Path

from RMBG.export import EXPORT_FORMATS, FORMAT_SUFFIXES, export_model, measure_parity, read_metadata
from RMBG.tracking.commands import tracked_command
from RMBG.tracking.options import add_tracking_arguments


def register(subparsers) -> None:
    """Add the ``export`` command."""
    parser = subparsers.add_parser(
        "export",
        help="export a model to ONNX, TFLite or SavedModel",
        description="Export a model. ONNX and TFLite take NHWC float32 pixel values [0, 255] at the model's size "
        "(dynamic batch) and return the mask (N, H, W, 1); --rembg writes the layout rembg's u2net_custom "
        "session runs (NCHW normalised input, fused sigmoid map first). fba_matting exports its own three-input "
        "signature (image, trimap, trimap_transform -> alpha, F, B), the file --post-weights takes. See docs/export.md.",
    )
    parser.add_argument("-m", "--model", default="u2netp", help="a registered pretrained model name or a .keras file (default u2netp)")
    parser.add_argument("--weights", type=Path, default=None, metavar="FILE",
                        help="a local checkpoint of the --model name (e.g. a fine-tuned .pth) instead of its official weights")
    parser.add_argument("-f", "--format", required=True, choices=EXPORT_FORMATS, help="output format")
    parser.add_argument("-o", "--output", required=True, type=Path, help="output file (.onnx / .tflite) or SavedModel folder")
    parser.add_argument("--fp16", action="store_true", help="float16 weights (tflite only)")
    parser.add_argument("--rembg", action="store_true", help="rembg u2net_custom layout (onnx only)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--check", type=Path, default=None, metavar="PHOTOS",
                        help="then compare the export with the Keras model on the photos of this folder (max/mean |diff|, IoU, NaN)")
    add_tracking_arguments(parser)
    parser.set_defaults(func=run_export)


@tracked_command("export")
def run_export(args: argparse.Namespace) -> int:
    """Run ``export``; returns the exit code."""
    suffix = FORMAT_SUFFIXES[args.format]
    if suffix and args.output.suffix != suffix:
        raise SystemExit(f"--output: a {args.format} export is a '{suffix}' file, got '{args.output}'; name it e.g. '{args.output.with_suffix(suffix)}'")
    if args.fp16 and args.format != "tflite":
        raise SystemExit(f"--fp16: float16 export is offered for --format tflite only, got --format {args.format}")
    if args.rembg and args.format != "onnx":
        raise SystemExit(f"--rembg: the rembg layout is an ONNX file; use --format onnx, got --format {args.format}")
    model = _model_argument(args)
    path = export_model(model, args.output, args.format, fp16=args.fp16, rembg=args.rembg, opset=args.opset)
    metadata = read_metadata(path)
    if metadata.get("layout") == "fba":
        print(f"{args.model} -> {path} ({args.format}, fba layout: inputs {', '.join(metadata['inputs'])}; any size, sides multiples of 8)")
        if args.check is not None:  # a .keras FBA file (a name is refused before the export)
            raise SystemExit(_FBA_CHECK)
        return 0
    size = "x".join(map(str, metadata["image_size"]))
    print(f"{args.model} -> {path} ({args.format}, {metadata['layout']} layout, {metadata['precision']}, {size})")
    if args.check is not None:
        # deferred: image I/O (PIL, cv2) stays out of `rmbg --help` start-up
        from RMBG.inference.image_io import list_images

        photos = list_images(args.check)
        if not photos:
            raise SystemExit(f"--check: no photos in '{args.check}'; give a folder of photos")
        result = measure_parity(path, model, photos)
        print(f"parity vs Keras on {result['photos']} photos: max |diff| {result['max_abs']:.3g}, "
              f"mean |diff| {result['mean_abs']:.3g}, min IoU {result['iou_min']:.4f}, non-finite values {result['nan']}")
        if result["nan"]:
            return 1
    return 0


_FBA_CHECK = "--check: compares segmentation masks on photos, which fba_matting (a matting network) does not make; drop --check"


def _model_argument(args: argparse.Namespace):
    """``--model`` (with ``--weights``) as :func:`RMBG.export.export_model` takes it, checked before
    anything loads (a one-line SystemExit)."""
    from RMBG.registry import ModelWithWeights, list_models, model_info  # deferred: the registry only when exporting

    is_name = not str(args.model).endswith(".keras")
    if args.check is not None and is_name and args.model in list_models() and model_info(args.model).family == "fba_matting":
        raise SystemExit(_FBA_CHECK)
    if args.weights is None:
        return args.model
    if not is_name:
        raise SystemExit(f"--weights: applies to a registry model name, but --model is the file '{args.model}', which holds its own weights")
    if not args.weights.is_file():
        raise SystemExit(f"--weights: no such file '{args.weights}'; pass the path of a checkpoint of {args.model}")
    try:
        return ModelWithWeights.of(args.model, args.weights)
    except ValueError as error:
        raise SystemExit(f"--weights: {error}") from None
