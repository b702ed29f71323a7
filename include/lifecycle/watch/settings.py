"""Monitoring settings: the use case's ``monitoring`` section over the defaults, and shared constants.
"""

from __future__ import annotations

import logging
from typing import Any

from include.lifecycle.config import UseCase

log = logging.getLogger(__name__)


DEFAULTS: dict[str, Any] = {
    "drift_share_threshold": 0.3,
    "column_drift_threshold": 0.1,
    "prediction_drift_threshold": 0.1,
    "performance_min": {},
    "sample_rows": 50_000,
    "window_days": 7,
    "min_current_rows": 500,
    "performance_window_days": 30,
    "min_labelled_rows": 100,
    "drift_method": "psi",
}
# Methods whose value is a distance (drift when value >= threshold); every other Evidently method is a p-value.
DISTANCE_METHODS = {"psi", "wasserstein", "jensenshannon", "kl_div", "hellinger", "ed"}
PERFORMANCE_METRICS = ("roc_auc", "average_precision", "recall", "precision", "f1", "accuracy",
                       "expected_cost_per_customer")
TIMESERIES_COLUMNS = [
    "date", "version", "rows", "window_start", "window_days_used", "reference_rows", "drift_share",
    "drifted_columns_count", "dataset_drift", "prediction_drift", "labelled_rows", "roc_auc", "recall",
    "precision", "expected_cost_per_customer", "breach_dataset_drift", "breach_prediction_drift",
    "breach_performance", "breaches", "computed_at",
]


class MonitoringError(RuntimeError):
    """Monitoring cannot run as asked: nothing scored in the window, or a reference that fails its checksum."""


def settings(uc: UseCase) -> dict[str, Any]:
    """The ``monitoring`` section over the defaults above."""
    merged = {**DEFAULTS, **uc.section("monitoring")}
    merged["seed"] = int(merged.get("seed", uc.raw.get("seed", 0)))
    return merged
