"""``python -m RMBG models``: the registry as a table (TensorFlow-free)."""

from __future__ import annotations

from RMBG.registry import models_table


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the registered models")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the docs)")
    parser.set_defaults(func=lambda args: print(models_table(args.markdown)) or 0)
