"""``python -m RMBG <command>``: the command line.

Each command lives beside the code it drives and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (a callable taking the parsed arguments and returning an exit code).
Command modules are imported only when the CLI starts, and TensorFlow only when a command needs it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

#: The modules that provide commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "RMBG.inference.cli",
    "RMBG.training.cli",
    "RMBG.evaluation.cli",
    "RMBG.export.cli",
    "RMBG.benchmark.cli",
    "RMBG.server.cli",
    "RMBG.registry_cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available command."""
    parser = argparse.ArgumentParser(
        prog="python -m RMBG",
        description="RMBG: background removal with Keras 3 / TensorFlow.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
