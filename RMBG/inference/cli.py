"""``python -m RMBG remove`` and ``python -m RMBG samples``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    from RMBG.inference.compose import FORMATS
    from RMBG.inference.postprocess import POSTPROCESSORS

    parser = subparsers.add_parser(
        "remove",
        help="remove the background of a photo or a folder of photos",
        description="Remove backgrounds. Outputs are PNG files named after the inputs; existing outputs are "
        "kept unless --overwrite. A bad file is reported and skipped; the exit code is 1 if any failed.",
    )
    parser.add_argument("-i", "--input", required=True, type=Path, help="a photo or a folder of photos")
    parser.add_argument("-o", "--output", type=Path, help="output folder (default: 'outputs' beside the input folder)")
    # The help is static on purpose: listing the registry here would import TensorFlow for every
    # command (4.8 s), also for `remove --backend onnxruntime`, which does not need it.
    parser.add_argument("-m", "--model", default="u2netp", help="a pretrained segmentation model from `python -m RMBG models` (u2netp, u2net) or a .keras file (default u2netp)")
    parser.add_argument("-f", "--format", default="rgba", choices=FORMATS, help="output kind (default rgba cutout)")
    parser.add_argument("--bg-color", default=None, help="background for --format color: '#RRGGBB', 'r,g,b' or a name")
    parser.add_argument("--threshold", type=float, default=None, help="binarise the mask at this value in (0, 1)")
    parser.add_argument("--batch-size", type=int, default=4, help="photos per model call (default 4)")
    parser.add_argument("--backend", default="keras", help="inference backend: keras, onnxruntime, tflite (default keras)")
    parser.add_argument("--post", default="none", choices=sorted(POSTPROCESSORS), help="mask post-processing (default none)")
    parser.add_argument("--trimap-threshold", type=float, default=None, help="trimap confidence t in (0.5, 1): foreground above t, background below 1 - t (default: the preset's)")
    parser.add_argument("--trimap-dilation", type=int, default=None, help="trimap band outside the edge, square side in px (default: the preset's)")
    parser.add_argument("--trimap-erosion", type=int, default=None, help="trimap band inside the edge, square side in px (default: the preset's)")
    parser.add_argument("--foreground-estimation", action=argparse.BooleanOptionalAction, default=None, help="estimate halo-free foreground colours (default: on for trimap-cf, matting-net, refine+matting)")
    parser.add_argument("-r", "--recursive", action="store_true", help="include sub-folders (their structure is kept)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--workers", type=int, default=2, help="threads for decoding and for writing (default 2)")
    parser.set_defaults(func=run_remove)

    samples = subparsers.add_parser("samples", help="fill an empty folder with sample photos shipped by scikit-image")
    samples.add_argument("folder", type=Path)
    samples.set_defaults(func=run_samples)


def default_output(input_path: Path) -> Path:
    """``Data/test/images`` → ``Data/test/outputs``; a single file → ``outputs`` beside its folder."""
    folder = input_path if input_path.is_dir() else input_path.parent
    return folder.parent / "outputs" if folder.name == "images" else folder / "outputs"


def run_remove(args: argparse.Namespace) -> int:
    from RMBG.inference.remover import Remover

    output = args.output or default_output(args.input)
    options = {
        "trimap_threshold": args.trimap_threshold, "trimap_dilation": args.trimap_dilation,
        "trimap_erosion": args.trimap_erosion, "foreground_estimation": args.foreground_estimation,
    }
    post_options = {key: value for key, value in options.items() if value is not None}  # only what was asked
    remover = Remover(args.model, backend=args.backend, batch_size=args.batch_size, post=args.post, post_options=post_options)
    report = remover.process_folder(
        args.input, output, recursive=args.recursive, format=args.format, bg_color=args.bg_color,
        threshold=args.threshold, overwrite=args.overwrite, workers=args.workers,
    )
    print(f"{args.input} -> {output}: {report.summary()}", file=sys.stderr if report.failed else sys.stdout)
    return 0 if report.ok else 1


def run_samples(args: argparse.Namespace) -> int:
    from RMBG.inference.samples import fill_sample_photos

    copied = fill_sample_photos(args.folder)
    print(f"{args.folder}: {'added ' + str(len(copied)) + ' sample photos' if copied else 'already holds photos, nothing added'}")
    return 0
