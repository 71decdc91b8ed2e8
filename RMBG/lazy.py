"""Lazy re-exports for package ``__init__`` files (PEP 562).

A package lists the names it offers and the submodule each lives in; a name's submodule is
imported when the name is first used, so importing the package stays cheap (no TensorFlow,
scikit-learn or pymatting until something needs them)::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {"train": "RMBG.training.trainer"})
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, which re-exports ``exports`` (name → module)."""
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            setattr(sys.modules[package], name, value)  # later look-ups skip this function
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__, names
