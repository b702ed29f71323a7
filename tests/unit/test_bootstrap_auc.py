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


@pytest.mark.parametrize("ties", [False, True])
def test_slice_intervals_take_the_same_path_and_give_the_same_intervals(ties):
    """Each slice's interval: ROC AUC from the drawn indices, every other metric on the drawn rows, one set of
    draws for all; the same numbers as the per-resample point metrics gave."""
    from include.lifecycle.model.slices import slice_intervals

    rng = np.random.default_rng(11)
    y = (rng.random(2_000) < 0.25).astype(int)
    p = rng.random(2_000) * 0.7 + y * 0.2
    p = np.round(p, 2) if ties else p
    cost = {"fn": 100.0, "fp": 10.0, "tp": 10.0, "tn": 0.0}
    names = ("roc_auc", "expected_cost_per_customer", "recall")
    fast = slice_intervals(y, p, {k: evaluation._metric_fn(k, 0.4, cost) for k in names}, 150, 0.9, 5)
    slow = slice_intervals(y, p, {k: (lambda name: lambda a, b: evaluation.point_metrics(a, b, 0.4, cost)[name])(k)
                                  for k in names}, 150, 0.9, 5)
    for name in names:
        assert fast[name]["valid_samples"] == slow[name]["valid_samples"] == 150
        assert fast[name]["low"] == pytest.approx(slow[name]["low"], abs=1e-12), name
        assert fast[name]["high"] == pytest.approx(slow[name]["high"], abs=1e-12), name
    assert fast["roc_auc"]["low"] < fast["roc_auc"]["high"]  # a real interval, not a degenerate one


def test_one_metric_is_the_same_number_point_metrics_gives():
    rng = np.random.default_rng(2)
    y, p = (rng.random(500) < 0.4).astype(int), rng.random(500)
    cost = {"fn": 5.0, "fp": 1.0, "tp": 1.0, "tn": 0.0}
    every = evaluation.point_metrics(y, p, 0.3, cost)
    assert {k: evaluation.metric_value(k, y, p, 0.3, cost) for k in every} == every
