"""Batch background removal beyond one process: Ray Data, sharded, resumable and exactly-once.

    from RMBG.distributed import remove_dataset
    report = remove_dataset("photos/", "cutouts/", actors=8)            # a local Ray instance
    report = remove_dataset("manifest.parquet", "/mnt/shared/cutouts", address="auto")
    python -m RMBG remove -i photos/ -o cutouts/ --engine ray --actors 8

The outputs are the files the single-process ``remove`` command writes (same names, formats and
options), plus a results manifest (``rmbg_results.csv``: input, output, status, error,
mask_sha256, seconds) and a hidden state folder ``.rmbg/`` (the run lock and the write journal).
See ``docs/scale.md``.

Importing this package imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

from RMBG.lazy import lazy_exports

_LAZY = {
    "remove_dataset": "RMBG.distributed.ray_remove",
    "DatasetReport": "RMBG.distributed.results",
    "plan_inputs": "RMBG.distributed.inputs",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
