"""Salient-object evaluation: metrics, batch evaluation of folders and models, reports and plots.

Imports no TensorFlow (``evaluate_model`` takes any ``predict_fn``), and nothing until a name is
used: pysodmetrics pulls in scikit-learn (3.6 s), which the CLI's start-up must not pay. Index CSVs and pairing by stem: :mod:`RMBG.data.index`.
"""

from __future__ import annotations

from RMBG.lazy import lazy_exports

_LAZY = {
    "EvaluationError": "RMBG.evaluation.evaluate",
    "EvaluationResult": "RMBG.evaluation.evaluate",
    "METRIC_KEYS": "RMBG.evaluation.sod_metrics",
    "SODEvaluator": "RMBG.evaluation.sod_metrics",
    "boundary_distance": "RMBG.evaluation.sod_metrics",
    "boundary_iou": "RMBG.evaluation.sod_metrics",
    "boundary_region": "RMBG.evaluation.sod_metrics",
    "compare_methods": "RMBG.evaluation.reports",
    "evaluate_folders": "RMBG.evaluation.evaluate",
    "evaluate_model": "RMBG.evaluation.evaluate",
    "evaluate_predictions": "RMBG.evaluation.evaluate",
    "plot_fmeasure_curves": "RMBG.evaluation.reports",
    "plot_pr_curves": "RMBG.evaluation.reports",
    "prepare_pair": "RMBG.evaluation.sod_metrics",
    "read_curves_csv": "RMBG.evaluation.reports",
    "write_curves_csv": "RMBG.evaluation.reports",
    "write_report": "RMBG.evaluation.reports",
    "write_rows_csv": "RMBG.evaluation.reports",
    "write_summary_json": "RMBG.evaluation.reports",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
