"""``python -m RMBG remove`` and ``python -m RMBG samples``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from RMBG.distributed.cli import (
    add_arguments as add_engine_arguments,
    check_args as check_engine_args,
    run as run_on_ray,
)
from RMBG.inference.backends import check_backend_options
from RMBG.inference.compose import FORMATS, parse_color
from RMBG.inference.postprocess import POSTPROCESSORS
from RMBG.registry import ModelWithWeights, check_keras_file, check_task, list_models
from RMBG.runtime import prepare
from RMBG.runtime.select import choose_engine


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "remove",
        help="remove the background of a photo or a folder of photos",
        description="Remove backgrounds. Outputs are PNG files named after the inputs; existing outputs are "
        "kept unless --overwrite; earlier outputs are never taken as inputs. A bad file is reported and skipped. "
        "Exit code: 0 done, 1 some files failed, 2 unusable options (checked before the model loads), 130 interrupted.",
    )
    parser.add_argument("-i", "--input", required=True, type=Path, help="a photo or a folder of photos (--engine ray: also a .csv/.parquet manifest)")
    parser.add_argument("-o", "--output", type=Path, help="output folder (default: 'outputs' beside the input folder)")
    models = ", ".join(list_models(task="segmentation", pretrained=True))
    parser.add_argument("-m", "--model", default="u2netp", help=f"a pretrained segmentation model ({models}), a .keras file or an RMBG .onnx file (default u2netp)")
    parser.add_argument("--weights", type=Path, default=None, help="a local weight file in the model family's format (e.g. a fine-tuned "
                        "TRACER-B7 or InSPyReNet .pth) used instead of the official weights of --model (a registry name); "
                        "on every backend: the runtime exports it once, cached under the file's sha256")
    parser.add_argument("-f", "--format", default="rgba", choices=FORMATS, help="output kind (default rgba cutout)")
    parser.add_argument("--bg-color", default=None, help="background for --format color: '#RRGGBB', 'r,g,b' or a name")
    parser.add_argument("--threshold", type=float, default=None, help="binarise the mask at this value in (0, 1)")
    parser.add_argument("--batch-size", type=int, default=4, help="photos per model call (default 4)")
    parser.add_argument("--backend", default="auto", help="inference engine: auto (default: the fastest installed TensorFlow-free "
                        "engine whose masks matched Keras fp32 when the model was prepared), onnxruntime, openvino, keras, tflite")
    parser.add_argument("--precision", default="fp32", help="fp32 (default); bf16 or fp16 are opt-in (OpenVINO, CPUs with native support; masks drift, the measured cost is logged)")
    parser.add_argument("--threads", type=int, default=None, help="cores for the model (default: all)")
    parser.add_argument("--post", default="none", choices=sorted(POSTPROCESSORS), help="mask post-processing (default none)")
    parser.add_argument("--trimap-threshold", type=float, default=None, help="trimap confidence t in (0.5, 1): foreground above t, background below 1 - t (default: the preset's)")
    parser.add_argument("--trimap-dilation", type=int, default=None, help="trimap band outside the edge, square side in px (default: the preset's)")
    parser.add_argument("--trimap-erosion", type=int, default=None, help="trimap band inside the edge, square side in px (default: the preset's)")
    parser.add_argument("--post-weights", type=Path, default=None, help="--post fba: an FBA checkpoint (.pth, the official "
                        "resnet50_GN_WS layout, e.g. fine-tuned; or .keras) used instead of the official fba_matting "
                        "weights, or its export (.onnx from `export -m fba_matting`: FBA on onnxruntime, no TensorFlow)")
    parser.add_argument("--foreground-estimation", action=argparse.BooleanOptionalAction, default=None, help="estimate halo-free foreground colours (default: on for trimap-cf, matting-net, refine+matting)")
    parser.add_argument("-r", "--recursive", action="store_true", help="include sub-folders (their structure is kept)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--workers", type=int, default=2, help="threads for decoding and for writing (default 2)")

    add_engine_arguments(parser)  # --engine local|ray, --ray-address, --actors, --results
    parser.set_defaults(func=run_remove)

    prepare = subparsers.add_parser(
        "prepare", help="build a model's runtime artefact ahead of time (ONNX exported from Keras, parity measured)",
        description="Export the model once into the runtime cache ($RMBG_HOME/runtime) and measure every installed "
        "engine against Keras fp32 on the probe photos; later `remove` runs start without TensorFlow.",
    )
    prepare.add_argument("model", nargs="+", help=f"registry names ({models}, ...) or .keras files")
    prepare.add_argument("--weights", type=Path, default=None, help="a local weight file for the one registry name given "
                         "(as remove --weights): its artefact is keyed by the file's sha256")
    prepare.add_argument("--rebuild", action="store_true", help="build again even if a valid artefact exists")
    prepare.set_defaults(func=run_prepare)

    samples = subparsers.add_parser("samples", help="fill an empty folder with sample photos shipped by scikit-image")
    samples.add_argument("folder", type=Path)
    samples.set_defaults(func=run_samples)


def default_output(input_path: Path) -> Path:
    """``Data/test/images`` → ``Data/test/outputs``; a single file → ``outputs`` beside its folder."""
    folder = input_path if input_path.is_dir() else input_path.parent
    return folder.parent / "outputs" if folder.name == "images" else folder / "outputs"


#: Post-processors that make a trimap from the mask (so the --trimap-* options apply to them).
_TRIMAP_POSTS = ("trimap-cf", "matting-net", "refine+matting", "fba")
#: Model files a path may name, besides .keras (exported by ``python -m RMBG export``).
_EXPORTED_SUFFIXES = (".onnx", ".tflite")


def _check_model(model: str, *, local_weights: bool = False) -> None:
    """``--model``: a pretrained segmentation model of the registry (any segmentation model of it with
    ``local_weights``: ``--weights`` gives them), a Keras 3 file or an exported file.

    Checked without TensorFlow: a ``.keras`` file must be a zip archive holding ``config.json``.
    """
    path = Path(model)
    if path.suffix.lower() == ".keras":
        check_keras_file(path)
        return
    if path.suffix.lower() in _EXPORTED_SUFFIXES:
        if not path.is_file():
            raise ValueError(f"model: no such file '{path}'")
        return
    if model not in list_models():
        raise ValueError(
            f"model: {model!r} is neither a registered model ({', '.join(list_models())}) nor a .keras file"
        )
    check_task(model, "segmentation")
    if model not in list_models(pretrained=True) and not local_weights:
        raise ValueError(
            f"model: {model!r} has no pretrained weights; train it (python -m RMBG train) and pass the .keras "
            f"checkpoint, or use one of {', '.join(list_models(task='segmentation', pretrained=True))}"
        )


def _check_output_folder(output: Path) -> None:
    """``-o``: an existing writable folder, or a path whose nearest existing ancestor is one."""
    if output.exists():
        if not output.is_dir():
            raise ValueError(f"output: '{output}' exists and is not a folder; pass a folder for the cutouts")
        if not os.access(output, os.W_OK | os.X_OK):
            raise ValueError(f"output: the folder '{output}' is not writable; choose another -o")
        return
    ancestor = output.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"output: '{output}' cannot be created: '{ancestor}' is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"output: '{output}' cannot be created: the folder '{ancestor}' is not writable")


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{flag}: expected a positive integer, got {value}")


def validate_remove_args(args: argparse.Namespace) -> None:
    """Check every option of ``remove`` before anything is loaded (no TensorFlow, no model, well
    under a second). Cheap checks come first, the model (registry or file) last.

    Raises:
        ValueError: the first unusable option; the message names the flag, the value and the fix.
    """
    if not args.input.exists():
        raise ValueError(f"input: '{args.input}' does not exist; pass a photo or a folder of photos")
    if not os.access(args.input, os.R_OK | (os.X_OK if args.input.is_dir() else 0)):
        raise ValueError(f"input: '{args.input}' is not readable")
    _check_output_folder(args.output or default_output(args.input))
    if args.threshold is not None and not (math.isfinite(args.threshold) and 0.0 < args.threshold < 1.0):
        raise ValueError(f"--threshold: expected a number in (0, 1), e.g. 0.5, got {args.threshold}")
    if args.bg_color is not None:
        try:
            parse_color(args.bg_color)
        except ValueError as error:
            raise ValueError(f"--bg-color: {str(error).split(': ', 1)[-1]}") from None
        if args.format != "color":
            raise ValueError(
                f"--bg-color: applies to --format color only, got --format {args.format}; "
                "drop --bg-color or add --format color"
            )
    _positive(args.batch_size, "--batch-size")
    _positive(args.workers, "--workers")
    _positive(getattr(args, "threads", None), "--threads")
    try:
        check_backend_options(args.backend, getattr(args, "precision", "fp32"), getattr(args, "threads", None))
    except ValueError as error:  # its messages start with the option's name: make it the flag
        raise ValueError(f"--{error}") from None
    trimap_options = {"--trimap-threshold": args.trimap_threshold, "--trimap-dilation": args.trimap_dilation,
                      "--trimap-erosion": args.trimap_erosion}
    given = [flag for flag, value in trimap_options.items() if value is not None]
    if given and args.post not in _TRIMAP_POSTS:
        raise ValueError(f"{given[0]}: applies to --post {', '.join(_TRIMAP_POSTS)} only, got --post {args.post}")
    if args.foreground_estimation is not None and args.post == "none":
        raise ValueError("--foreground-estimation: applies to a --post other than none (it has no effect on a plain mask)")
    if args.trimap_threshold is not None and not (math.isfinite(args.trimap_threshold) and 0.5 < args.trimap_threshold < 1.0):
        raise ValueError(
            f"--trimap-threshold: expected a confidence in (0.5, 1), e.g. 0.9 (foreground above it, background "
            f"below 1 - it), got {args.trimap_threshold}"
        )
    for flag in ("--trimap-dilation", "--trimap-erosion"):
        if trimap_options[flag] is not None and trimap_options[flag] < 0:
            raise ValueError(f"{flag}: expected a square side in pixels >= 0 (0 disables it), got {trimap_options[flag]}")
    post_weights = getattr(args, "post_weights", None)
    if post_weights is not None:
        if args.post != "fba":
            raise ValueError(f"--post-weights: applies to --post fba only, got --post {args.post}")
        if not post_weights.is_file():
            raise ValueError(f"--post-weights: no such file '{post_weights}'; pass an FBA checkpoint (.pth)")
        from RMBG.matting.fba import check_fba_model_file  # deferred: numpy and cv2 only once a command runs

        check_fba_model_file(post_weights, "--post-weights")
    _check_model(args.model, local_weights=getattr(args, "weights", None) is not None)
    _check_weights(args)

    check_engine_args(args)


def _check_weights(args: argparse.Namespace) -> None:
    """``--weights``: an existing file, for a registry model name (a file model has its weights)."""
    weights = getattr(args, "weights", None)
    if weights is None:
        return
    if Path(args.model).suffix.lower() in (".keras", *_EXPORTED_SUFFIXES):
        raise ValueError(f"--weights: applies to a registry model name, but --model is the file '{args.model}', which holds its own weights")
    if not weights.is_file():
        raise ValueError(f"--weights: no such file '{weights}'; pass the path of a checkpoint of {args.model}")
    try:
        _model_spec(args.model, weights)  # a family with no weight importer is refused here, before anything loads
    except ValueError as error:
        raise ValueError(f"--{error}" if str(error).startswith("weights:") else str(error)) from None


def _model_spec(model: str, weights: Path | None):
    """What the remover and the runtime take: the name or file, or the name with its local weight file."""
    if weights is None:
        return model
    return ModelWithWeights.of(model, weights, task="segmentation")


def run_remove(args: argparse.Namespace) -> int:
    """Validate, then remove. Exit status: 0 done, 1 some files failed, 2 unusable options,
    130 interrupted (SIGINT: the outputs being written are finished, the summary is printed)."""
    try:
        validate_remove_args(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"python -m RMBG remove: error: {error}", file=sys.stderr)
        return 2
    try:
        return _remove(args)
    except KeyboardInterrupt:  # while the model loads, or a second Ctrl-C while outputs were finishing
        print("python -m RMBG remove: interrupted", file=sys.stderr)
        return 130


def _remove(args: argparse.Namespace) -> int:
    from RMBG.inference.remover import Remover  # deferred: the Remover (cv2, PIL) stays out of `rmbg --help` start-up
    from RMBG.inference.folder_plan import gather_inputs  # deferred: image I/O (PIL) stays out of `rmbg --help` start-up

    output = args.output or default_output(args.input)
    options = {
        "trimap_threshold": args.trimap_threshold, "trimap_dilation": args.trimap_dilation,
        "trimap_erosion": args.trimap_erosion, "foreground_estimation": args.foreground_estimation,
    }
    post_options = {key: value for key, value in options.items() if value is not None}  # only what was asked
    if getattr(args, "post_weights", None) is not None:
        post_options["fba_model"] = str(args.post_weights)
    if getattr(args, "engine", "local") == "ray":
        return run_on_ray(args, output, post_options)
    model = _model_spec(args.model, getattr(args, "weights", None))  # strict import when the model is built
    # The inputs are gathered before the model loads: auto weighs engine load time against the
    # photo count (a short run takes the engine that loads sooner).
    plan = gather_inputs(args.input, output, recursive=args.recursive)
    remover = Remover(model, backend=args.backend, precision=args.precision, threads=args.threads,
                      batch_size=args.batch_size, post=args.post, post_options=post_options,
                      images=len(plan.inputs))
    report = remover.process_folder(
        args.input, output, recursive=args.recursive, plan=plan, format=args.format, bg_color=args.bg_color,
        threshold=args.threshold, overwrite=args.overwrite, workers=args.workers,
    )
    print(f"{args.input} -> {output}: {report.summary()}", file=sys.stderr if not report.ok else sys.stdout)
    return 130 if report.interrupted else 0 if report.ok else 1


def run_prepare(args: argparse.Namespace) -> int:
    """Build (or find) each model's artefact and print its parity record. Exit status 2: unusable options."""
    weights = getattr(args, "weights", None)
    models = list(args.model)
    if weights is not None:  # checked before anything loads, as for remove
        try:
            if len(models) != 1:
                raise ValueError(f"--weights: applies to one registry model name, got {len(models)} models ({', '.join(models)})")
            _check_weights(argparse.Namespace(model=models[0], weights=weights))
            models = [_model_spec(models[0], weights)]
        except (ValueError, FileNotFoundError) as error:
            print(f"python -m RMBG prepare: error: {error}", file=sys.stderr)
            return 2

    for model in models:
        artefact = prepare(model, rebuild=args.rebuild)
        engine, reason = choose_engine(artefact)
        print(f"{model}: {artefact.path} (auto -> {reason})")
        for name, precisions in artefact.parity.items():
            for precision, entry in precisions.items():
                if "error" in entry:
                    print(f"  {name} {precision}: failed: {entry['error']}")
                else:
                    print(f"  {name} {precision}: IoU vs Keras fp32 min {entry['iou_min']:.4f} mean {entry['iou_mean']:.4f}, "
                          f"max |diff| {entry['max_abs']:.2e}, {entry['ms_per_image']:.0f} ms/image, "
                          f"{entry['import_s']:.2f} s import + {entry['load_s']:.2f} s load")
    return 0


def run_samples(args: argparse.Namespace) -> int:
    # deferred: image I/O (PIL, cv2) stays out of `rmbg --help` start-up
    from RMBG.inference.samples import fill_sample_photos

    copied = fill_sample_photos(args.folder)
    print(f"{args.folder}: {'added ' + str(len(copied)) + ' sample photos' if copied else 'already holds photos, nothing added'}")
    return 0
