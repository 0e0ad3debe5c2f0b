"""Evaluation: pure numpy metrics and the per-run report (plotly is imported only by figures)."""

from debias_core.evaluate.metrics import (
    aligned_conflicting_accuracy,
    aligned_mask,
    average_accuracy,
    average_precision,
    average_worst_accuracy,
    balanced_accuracy,
    bias_score,
    exclusive_cooccur_map,
    group_ids,
    per_class_ap,
    per_group_accuracy,
    worst_group_accuracy,
)
from debias_core.evaluate.report import (
    EvalReport,
    GroupRow,
    build_report,
    compare_reports_figure,
    format_group_table,
    group_accuracy_figure,
)

__all__ = [
    "EvalReport",
    "GroupRow",
    "aligned_conflicting_accuracy",
    "aligned_mask",
    "average_accuracy",
    "average_precision",
    "average_worst_accuracy",
    "balanced_accuracy",
    "bias_score",
    "build_report",
    "compare_reports_figure",
    "exclusive_cooccur_map",
    "format_group_table",
    "group_accuracy_figure",
    "group_ids",
    "per_class_ap",
    "per_group_accuracy",
    "worst_group_accuracy",
]
