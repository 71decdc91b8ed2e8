"""Strict save and load of a model's variables (the converted-weights cache format).

Keras' own ``load_weights`` matches by structure and can leave variables untouched when the
structure differs; this format keys every array by the variable's path and refuses to load unless
the file and the model hold exactly the same variables with the same shapes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from RMBG.atomic import atomic_path


class WeightMismatchError(ValueError):
    """Weights and model disagree: a tensor is missing, left over or of the wrong shape."""


def save_variables(model, path: str | os.PathLike) -> Path:
    """Write every variable of ``model`` to a ``.npz`` keyed by variable path (atomically)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays = {variable.path: np.asarray(variable.numpy()) for variable in model.variables}
    if len(arrays) != len(model.variables):
        raise WeightMismatchError(f"model {model.name} has variables with duplicate paths")
    with atomic_path(target, suffix=".npz") as temporary:  # np.savez appends .npz to other names
        np.savez(temporary, **arrays)
    return target


def load_variables(model, path: str | os.PathLike) -> None:
    """Load a file written by :func:`save_variables`; any missing, extra or mis-shaped tensor raises."""
    with np.load(path) as stored:
        names = set(stored.files)
        missing = [v.path for v in model.variables if v.path not in names]
        extra = sorted(names - {v.path for v in model.variables})
        if missing or extra:
            raise WeightMismatchError(
                f"'{path}' does not fit model {model.name}: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}"
            )
        for variable in model.variables:
            value = stored[variable.path]
            if tuple(value.shape) != tuple(variable.shape):
                raise WeightMismatchError(
                    f"'{path}': {variable.path} has shape {value.shape}, the model expects {tuple(variable.shape)}"
                )
            variable.assign(value)
