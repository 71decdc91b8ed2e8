"""Dataset tooling for RMBG. Imports no TensorFlow.

Each tool is a module and a function of the same name (``python -m Preprocess <command>`` runs
them from a shell)::

    from Preprocess import prepare_dataset, validate, index, plot
    csv_path = prepare_dataset("photos/", "masks/", "Data/horse", category="horse")

The functions are exported here, so ``Preprocess.rename`` is the function; import a module's
other names with ``from Preprocess.rename import RenameCollisionError``.
"""

from ._common import Problem, Report
from .combine import LAYOUTS, combine
from .index import COLUMNS, index, read_index
from .plot import plot
from .prepare import prepare_dataset
from .rename import RenameCollisionError, RenameResult, rename, undo
from .resize import resize
from .validate import validate

__all__ = [
    "COLUMNS",
    "LAYOUTS",
    "Problem",
    "RenameCollisionError",
    "RenameResult",
    "Report",
    "combine",
    "index",
    "plot",
    "prepare_dataset",
    "read_index",
    "rename",
    "resize",
    "undo",
    "validate",
]
