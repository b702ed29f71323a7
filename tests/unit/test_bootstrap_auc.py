"""The bootstrap's weighted-rank ROC AUC gives the interval the per-resample ``roc_auc_score`` gives."""

from __future__ import annotations

import numpy as np
import pytest

from include.lifecycle.model import evaluation


@pytest.mark.parametrize("n, ties", [(40, True), (3_000, False), (3_000, True)])
def test_fast_auc_bootstrap_matches_roc_auc_score_per_resample(n, ties):
    rng = np.random.default_rng(n)
    y = (rng.random(n) < 0.3).astype(int)
    p = rng.random(n) * 0.6 + y * 0.25
    p = np.round(p, 2) if ties else p  # ties are where a rank-based AUC most easily goes wrong
    fast = evaluation.bootstrap_ci(y, p, evaluation._metric_fn("roc_auc", 0.5, {}), 200, 0.95, 3)
    slow = evaluation.bootstrap_ci(y, p, lambda a, b: evaluation._ranking_metric("roc_auc", a, b), 200, 0.95, 3)
    assert fast["valid_samples"] == slow["valid_samples"]
    assert fast["low"] == pytest.approx(slow["low"], abs=1e-12)
    assert fast["high"] == pytest.approx(slow["high"], abs=1e-12)


def test_resamples_with_one_class_are_skipped_as_before():
    y, p = np.array([0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.9])
    fast = evaluation.bootstrap_ci(y, p, evaluation._metric_fn("roc_auc", 0.5, {}), 100, 0.9, 1)
    slow = evaluation.bootstrap_ci(y, p, lambda a, b: evaluation._ranking_metric("roc_auc", a, b), 100, 0.9, 1)
    assert fast == slow and fast["valid_samples"] < 100
