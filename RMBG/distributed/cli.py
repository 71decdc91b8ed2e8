"""The ``--engine ray`` options of ``python -m RMBG remove`` (hooked in by :mod:`RMBG.inference.cli`).

Imports neither Ray nor TensorFlow until a run starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Options that only mean something with ``--engine ray`` (flag, attribute).
_RAY_ONLY = (("--ray-address", "ray_address"), ("--actors", "actors"), ("--results", "results"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine``, ``--ray-address``, ``--actors`` and ``--results`` to the ``remove`` parser."""
    parser.add_argument("--engine", default="local", choices=("local", "ray"),
                        help="local: this process (default); ray: Ray Data model actors, on this machine or a cluster, "
                        "resumable and exactly-once; also reads .csv/.parquet manifests of paths or URIs (docs/scale.md)")
    parser.add_argument("--ray-address", default=None,
                        help="with --engine ray: 'auto' (the cluster of `ray start` or `ray job submit`), 'ray://host:10001', "
                        "or unset: a new local Ray instance")
    parser.add_argument("--actors", type=int, default=None,
                        help="with --engine ray: model actors (default: the cluster's CPUs / --threads)")
    parser.add_argument("--results", type=Path, default=None,
                        help="with --engine ray: the results manifest, .csv or .parquet (default <output>/rmbg_results.csv)")


def check_args(args: argparse.Namespace) -> None:
    """Validate the engine options (called with the other checks, before anything loads).

    Raises:
        ValueError: an option that needs ``--engine ray`` without it, a manifest for the local
            engine, or an option the ray engine cannot run; the message names the flag and the fix.
    """
    # deferred: the manifest reader (image I/O: PIL, cv2) stays out of `rmbg --help` start-up
    from RMBG.distributed.inputs import MANIFEST_SUFFIXES
    # deferred: the predictor (Remover: cv2, PIL) stays out of `rmbg --help` start-up
    from RMBG.distributed.predictor import DISTRIBUTED_BACKENDS
    # deferred: the results writer (worker: cv2, PIL) stays out of `rmbg --help` start-up
    from RMBG.distributed.results import RESULTS_SUFFIXES

    engine = getattr(args, "engine", "local")
    if engine != "ray":
        for flag, attribute in _RAY_ONLY:
            if getattr(args, attribute, None) is not None:
                raise ValueError(f"{flag}: applies to --engine ray only; add --engine ray or drop {flag}")
        if args.input.is_file() and args.input.suffix.lower() in MANIFEST_SUFFIXES:
            raise ValueError(f"input: '{args.input}' is a manifest; manifests are read by --engine ray (add it)")
        return
    if args.actors is not None and args.actors < 1:
        raise ValueError(f"--actors: expected a positive integer, got {args.actors}")
    if args.results is not None and args.results.suffix.lower() not in RESULTS_SUFFIXES:
        raise ValueError(f"--results: '{args.results}' must end in one of {', '.join(RESULTS_SUFFIXES)}")
    if args.backend not in DISTRIBUTED_BACKENDS:
        raise ValueError(f"--backend: --engine ray runs {', '.join(DISTRIBUTED_BACKENDS)}, got {args.backend}")
    if getattr(args, "weights", None) is not None:
        raise ValueError("--weights: not with --engine ray (actors load the model by name or file); save the model "
                         "with these weights as a .keras file and pass it with -m")


def run(args: argparse.Namespace, output: Path, post_options: dict) -> int:
    """Run ``remove`` on Ray; prints the summary; exit status 0 done, 1 some photos failed."""
    # deferred: the Ray driver (cv2, PIL, tqdm) loads only for --engine ray
    from RMBG.distributed.ray_remove import remove_dataset

    report = remove_dataset(
        args.input, output, model=args.model, backend=args.backend, precision=args.precision,
        address=args.ray_address, actors=args.actors, cpus_per_actor=args.threads or 1,
        batch_size=args.batch_size, format=args.format, bg_color=args.bg_color, threshold=args.threshold,
        post=args.post, post_options=post_options, overwrite=args.overwrite, recursive=args.recursive,
        workers=args.workers, results=args.results,
    )
    print(f"{args.input} -> {output}: {report.summary()}", file=sys.stderr if not report.ok else sys.stdout)
    return 0 if report.ok else 1
