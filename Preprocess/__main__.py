"""Command line: ``python -m Preprocess <command> ...`` (``--help`` on any command for its options).

Exit status: 0 on success, 1 when ``validate`` or ``index`` reported problems, 2 on a usage or input error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ._common import write_text_atomic
from .combine import LAYOUTS, combine
from .index import index
from .plot import plot
from .prepare import prepare_dataset
from .rename import rename, undo
from .resize import resize
from .validate import validate


def _size(text: str) -> int | tuple[int, int]:
    """``"1024"`` -> 1024; ``"640x480"`` -> (640, 480)."""
    try:
        if "x" in text.lower():
            width, height = text.lower().split("x")
            return int(width), int(height)
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N (longest side) or WxH, e.g. 1024 or 640x480, got {text!r}") from None


def _common(parser: argparse.ArgumentParser, *, workers: bool = True) -> None:
    if workers:
        parser.add_argument("--workers", type=int, default=None, help="threads (default: CPU count, at most 8)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per tool."""
    parser = argparse.ArgumentParser(
        prog="python -m Preprocess",
        description="RMBG dataset tools: rename, resize, index, combine, validate, plot, undo, prepare.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = commands.add_parser("rename", help="rename images (and their masks in lockstep) to <category>_<nnnn>")
    p.add_argument("folder", type=Path)
    p.add_argument("--category", required=True)
    p.add_argument("--masks", type=Path, default=None, help="masks folder renamed in lockstep (paired by stem)")
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument("--start", type=int, default=1)
    p.add_argument("--digits", type=int, default=None)
    p.add_argument("--manifest", type=Path, default=None, help="manifest CSV path (default: in the folder)")
    _common(p, workers=False)

    p = commands.add_parser("undo", help="reverse a rename from its manifest CSV")
    p.add_argument("manifest", type=Path)
    p.add_argument("--dry-run", action="store_true")
    _common(p, workers=False)

    p = commands.add_parser("resize", help="resize photos, binary masks or alpha mattes into a new folder")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path, nargs="?", default=None, help="output folder (omit with --in-place)")
    p.add_argument("--size", type=_size, required=True, help="longest side N, or WxH")
    p.add_argument("--kind", choices=("image", "mask", "alpha"), default="image")
    p.add_argument("--no-keep-aspect", action="store_true", help="stretch to exactly the size")
    p.add_argument("--in-place", action="store_true", help="replace the files in src")
    p.add_argument("--mask-method", choices=("area", "nearest"), default="area")
    _common(p)

    p = commands.add_parser("index", help="pair images and masks into an index CSV with a seeded split")
    p.add_argument("images_dir", type=Path)
    p.add_argument("masks_dir", type=Path)
    p.add_argument("out_csv", type=Path)
    p.add_argument("--split", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stratify", action="store_true", help="keep category proportions in each split")
    p.add_argument("--category-from", choices=("prefix", "folder"), default="prefix")
    p.add_argument("--overwrite", action="store_true", help="replace an existing CSV")
    _common(p)

    p = commands.add_parser("combine", help="import a public dataset layout into DST_ROOT/images + masks")
    p.add_argument("source", type=Path)
    p.add_argument("dst_root", type=Path)
    p.add_argument("--layout", choices=sorted(LAYOUTS), required=True)
    p.add_argument("--category", default=None)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=None, help="with --limit: a seeded random sample")
    p.add_argument("--link", action="store_true", help="symlink instead of copying")
    _common(p)

    p = commands.add_parser("validate", help="report unreadable files, odd modes, non-binary/mismatched/empty masks")
    p.add_argument("images", type=Path, help="images folder or index CSV")
    p.add_argument("masks", type=Path, nargs="?", default=None, help="masks folder (paired by stem)")
    p.add_argument("--fix-threshold", action="store_true", help="write non-binary masks thresholded")
    p.add_argument("--fix-size", action="store_true", help="write masks resized to their photo's size")
    p.add_argument("--out-dir", type=Path, default=None, help="where fixed masks go")
    p.add_argument("--in-place", action="store_true", help="replace the masks themselves")
    p.add_argument("--threshold", type=int, default=128)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--overwrite", action="store_true", help="replace files in --out-dir")
    p.add_argument("--report", type=Path, default=None, help="also save the report table as CSV")
    _common(p)

    p = commands.add_parser("plot", help="category distribution and sample grid PNGs")
    p.add_argument("source", type=Path, help="index CSV or dataset root")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")

    p = commands.add_parser("prepare", help="combine + validate with fixes + index, in one step")
    p.add_argument("images_dir", type=Path)
    p.add_argument("masks_dir", type=Path)
    p.add_argument("dst_root", type=Path)
    p.add_argument("--category", required=True)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--stratify", action="store_true")
    p.add_argument("--rebuild", action="store_true")
    _common(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    progress = not getattr(args, "no_progress", False)
    try:
        if args.command == "rename":
            rename(args.folder, args.category, masks=args.masks, dry_run=args.dry_run, start=args.start,
                   digits=args.digits, manifest=args.manifest, progress=progress)
        elif args.command == "undo":
            undo(args.manifest, dry_run=args.dry_run, progress=progress)
        elif args.command == "resize":
            resize(args.src, args.dst, args.size, keep_aspect=not args.no_keep_aspect, kind=args.kind,
                   in_place=args.in_place, mask_method=args.mask_method, workers=args.workers, progress=progress)
        elif args.command == "index":
            frame = index(args.images_dir, args.masks_dir, args.out_csv, split=tuple(args.split), seed=args.seed,
                          stratify=args.stratify, category_from=args.category_from, overwrite=args.overwrite,
                          workers=args.workers, progress=progress)
            return 1 if frame.attrs["report"].problems else 0
        elif args.command == "combine":
            combine(args.source, args.dst_root, layout=args.layout, category=args.category, limit=args.limit,
                    link=args.link, seed=args.seed, workers=args.workers, progress=progress)
        elif args.command == "validate":
            table = validate(args.images, args.masks, fix_threshold=args.fix_threshold, fix_size=args.fix_size,
                             out_dir=args.out_dir, in_place=args.in_place, threshold=args.threshold,
                             limit=args.limit, overwrite=args.overwrite, workers=args.workers, progress=progress)
            if args.report is not None:
                write_text_atomic(args.report, table.to_csv(index=False, lineterminator="\n"))
                print(f"report table: {args.report}")
            return 1 if len(table) else 0
        elif args.command == "plot":
            for path in plot(args.source, args.out_dir, samples=args.samples, seed=args.seed, overwrite=args.overwrite):
                print(path)
        elif args.command == "prepare":
            print(prepare_dataset(args.images_dir, args.masks_dir, args.dst_root, category=args.category,
                                  limit=args.limit, seed=args.seed, size=args.size, stratify=args.stratify,
                                  rebuild=args.rebuild, workers=args.workers, progress=progress))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
