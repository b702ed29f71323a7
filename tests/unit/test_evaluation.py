"""evaluate() evidence and compare()'s blessing: thresholds, champions, slices, absolute vs relative."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from include.lifecycle.model.evaluation import (
    THRESHOLD_GRID,
    compare,
    costs,
    expected_cost,
    predict_positive,
)
from include.lifecycle.model.training import target_vector


def test_evaluate_reports_consistent_metrics(evals, split, small_uc, fitted) -> None:
    _, holdout = split
    ev = evals["logreg"]
    m = ev["metrics"]
    assert 0.75 < m["roc_auc"] < 0.95 and 0.4 < m["average_precision"] < 0.9
    assert 0 < m["brier"] < 0.25 and 0 < m["log_loss"] < 0.7
    cm = ev["confusion_matrix"]
    assert sum(cm.values()) == ev["rows"] == len(holdout)
    assert cm["tp"] + cm["fn"] == ev["positives"]
    assert m["recall"] == pytest.approx(cm["tp"] / (cm["tp"] + cm["fn"]))
    assert m["precision"] == pytest.approx(cm["tp"] / (cm["tp"] + cm["fp"]))
    c = costs(small_uc)
    by_hand = (cm["fn"] * c["fn"] + cm["fp"] * c["fp"] + cm["tp"] * c["tp"]) / ev["rows"]
    assert m["expected_cost_per_customer"] == pytest.approx(by_hand)


def test_threshold_minimises_the_business_cost(evals, split, small_uc, fitted) -> None:
    _, holdout = split
    model, _ = fitted["logreg"]
    y = target_vector(holdout, small_uc)
    p = predict_positive(model, holdout.drop(columns=["churn"]))
    chosen = evals["logreg"]["threshold"]
    best = expected_cost(y, p, chosen, costs(small_uc))
    assert all(best <= expected_cost(y, p, t, costs(small_uc)) + 1e-12 for t in THRESHOLD_GRID)
    # A missed churner costs ~8x an offer, so the threshold sits far below 0.5.
    assert chosen < 0.35
    assert best < expected_cost(y, p, 0.5, costs(small_uc))


def test_bootstrap_interval_contains_the_point_estimate(evals) -> None:
    for ev in evals.values():
        boot = ev["bootstrap"]
        assert boot["metric"] == "roc_auc" and boot["valid_samples"] == 60
        assert boot["low"] < boot["point"] < boot["high"]
        assert boot["high"] - boot["low"] < 0.2


def test_small_slices_are_reported_but_not_judged(evals, small_uc) -> None:
    senior = {s["value"]: s for s in evals["logreg"]["slices"]["senior_citizen"]}
    assert set(senior) == {"0", "1"}
    contract = evals["logreg"]["slices"]["contract"]
    assert {s["value"] for s in contract} == {"Month-to-month", "One year", "Two year"}
    for entries in evals["logreg"]["slices"].values():
        for s in entries:
            judged = s["rows"] >= small_uc.raw["evaluation"]["slice_min_rows"] and 0 < s["positives"] < s["rows"]
            assert s["judged"] == judged
            assert s["why_not_judged"] is None if judged else s["why_not_judged"]


def test_no_champion_value_thresholds_alone_decide(evals, small_uc, override) -> None:
    verdict = compare(evals["logreg"], None, small_uc)
    assert verdict["blessed"]
    # no champion: the value thresholds and each slice's own threshold, nothing relative to a champion
    assert {c["kind"] for c in verdict["checks"]} == {"value", "slice_value"}
    assert "value thresholds alone" in verdict["reasons"][0]
    strict = override(small_uc, **{"evaluation.thresholds": {"roc_auc": {"min": 0.99}},
                                   "evaluation.slice_thresholds": {}})
    refused = compare(evals["logreg"], None, strict)
    assert not refused["blessed"]
    assert refused["reasons"] == [refused["checks"][0]["detail"]]
    assert "roc_auc" in refused["reasons"][0] and ">= 0.99" in refused["reasons"][0]
    assert refused["checks"][0]["observed"] == evals["logreg"]["metrics"]["roc_auc"]


def _champion(ev: dict, version: int = 3, **metric_changes: float) -> dict:
    champ = copy.deepcopy(ev)
    champ["model_version"] = version
    for name, delta in metric_changes.items():
        champ["metrics"][name] += delta
    return champ


def test_a_clearly_better_champion_blocks_and_a_worse_one_does_not(evals, small_uc) -> None:
    cand = evals["logreg"]
    better = compare(cand, _champion(cand, roc_auc=0.05), small_uc)
    assert not better["blessed"]
    failed = [c for c in better["checks"] if c["status"] == "fail"]
    assert [(c["kind"], c["metric"]) for c in failed] == [("change", "roc_auc")]
    assert failed[0]["observed"] == pytest.approx(0.05) and failed[0]["bound"] == 0.01
    assert "champion v3" in better["reasons"][0] and "drop" in better["reasons"][0]
    worse = compare(cand, _champion(cand, roc_auc=-0.05, expected_cost_per_customer=5.0), small_uc)
    assert worse["blessed"] and "champion v3" in worse["reasons"][0]
    # real models: the challenger is judged against the other candidate on the same holdout
    real = compare(evals["hgb"], {**evals["logreg"], "model_version": 1}, small_uc)
    drop = evals["logreg"]["metrics"]["roc_auc"] - evals["hgb"]["metrics"]["roc_auc"]
    roc_check = next(c for c in real["checks"] if c["kind"] == "change" and c["metric"] == "roc_auc")
    assert roc_check["observed"] == pytest.approx(drop) and roc_check["passed"] == (drop <= 0.01)


def test_a_slice_regression_blocks_blessing(evals, small_uc) -> None:
    cand = evals["logreg"]
    champ = _champion(cand)
    judged = next(s for s in champ["slices"]["contract"] if s["judged"])
    judged["roc_auc"] += 0.08  # the champion was much better on this slice
    verdict = compare(cand, champ, small_uc)
    assert not verdict["blessed"]
    failed = [c for c in verdict["checks"] if c["status"] == "fail"]
    assert [c["slice"] for c in failed] == [f"contract={judged['value']}"]
    assert f"contract={judged['value']}" in verdict["reasons"][0]
    # the same regression within slice_max_drop passes
    judged["roc_auc"] -= 0.05
    assert compare(cand, champ, small_uc)["blessed"]


def test_unjudged_slices_never_block(evals, small_uc) -> None:
    cand = copy.deepcopy(evals["logreg"])
    champ = _champion(cand)
    small = cand["slices"]["contract"][0]
    small.update(judged=False, why_not_judged="12 rows < slice_min_rows 30")
    next(s for s in champ["slices"]["contract"] if s["value"] == small["value"])["roc_auc"] += 0.3
    verdict = compare(cand, champ, small_uc)
    assert verdict["blessed"]
    skipped = [c for c in verdict["checks"] if c["status"] == "skipped"]
    assert any("12 rows" in c["detail"] for c in skipped)


def test_relative_and_absolute_change_thresholds_differ(evals, small_uc, override) -> None:
    cand = copy.deepcopy(evals["logreg"])
    cand["metrics"]["expected_cost_per_customer"] = 10.8
    champ = _champion(cand)
    champ["metrics"]["expected_cost_per_customer"] = 10.0  # the candidate costs 0.8 more: +8%

    def verdict(rule: dict) -> dict:
        uc = override(small_uc, **{"evaluation.thresholds": {"expected_cost_per_customer": rule}})
        check = next(c for c in compare(cand, champ, uc)["checks"] if c["kind"] == "change")
        return check

    absolute = verdict({"max_rise": 1.0, "rise_kind": "absolute", "higher_is_better": False})
    relative = verdict({"max_rise": 0.05, "rise_kind": "relative", "higher_is_better": False})
    assert absolute["passed"] and absolute["observed"] == pytest.approx(0.8)
    assert not relative["passed"] and relative["observed"] == pytest.approx(0.08)
    assert "8.00%" in relative["detail"] and "rise" in relative["detail"]
    # the config's direction matters: a rise in a higher-is-better metric is no loss
    gain = verdict({"max_drop": 0.01, "drop_kind": "relative", "higher_is_better": True})
    assert gain["passed"] and gain["observed"] == pytest.approx(-0.08)


def test_different_holdouts_cannot_be_compared(evals, small_uc) -> None:
    champ = _champion(evals["logreg"])
    champ["holdout_sha256"] = "0" * 64
    verdict = compare(evals["logreg"], champ, small_uc)
    assert not verdict["blessed"] and "different holdouts" in verdict["reasons"][0]


def test_evaluation_is_json_ready(evals) -> None:
    import json

    text = json.dumps(evals["hgb"], allow_nan=False)
    assert "NaN" not in text and np.isfinite(json.loads(text)["metrics"]["roc_auc"])
