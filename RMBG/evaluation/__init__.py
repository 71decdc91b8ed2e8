"""Salient-object evaluation: metrics, batch evaluation of folders and models, reports and plots.

Imports no TensorFlow (``evaluate_model`` takes any ``predict_fn``; the CLI imports the remover
only when ``--model`` is used).
"""

from RMBG.evaluation.evaluate import (
    EvaluationError,
    EvaluationResult,
    evaluate_folders,
    evaluate_model,
    evaluate_predictions,
    pair_folders,
    read_index,
)
from RMBG.evaluation.reports import (
    compare_methods,
    plot_fmeasure_curves,
    plot_pr_curves,
    read_curves_csv,
    write_curves_csv,
    write_report,
    write_rows_csv,
    write_summary_json,
)
from RMBG.evaluation.sod_metrics import (
    METRIC_KEYS,
    SODEvaluator,
    boundary_distance,
    boundary_iou,
    boundary_region,
    prepare_pair,
)

__all__ = [
    "METRIC_KEYS",
    "EvaluationError",
    "EvaluationResult",
    "SODEvaluator",
    "boundary_distance",
    "boundary_iou",
    "boundary_region",
    "compare_methods",
    "evaluate_folders",
    "evaluate_model",
    "evaluate_predictions",
    "pair_folders",
    "plot_fmeasure_curves",
    "plot_pr_curves",
    "prepare_pair",
    "read_curves_csv",
    "read_index",
    "write_curves_csv",
    "write_report",
    "write_rows_csv",
    "write_summary_json",
]
