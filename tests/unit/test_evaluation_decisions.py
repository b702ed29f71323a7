"""Evaluation and blessing on hand-computable holdouts: metrics, the cost threshold, the bootstrap, slices, compare().

A stand-in model returns the probabilities a column of the frame holds, so each number below can be checked
by hand; every fixture is function-scoped so a mutation tool sees which test covers which function.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from include.lifecycle.model.evaluation import (
    CURVE_POINTS,
    LOWER_IS_BETTER,
    bootstrap_ci,
    compare,
    cost_optimal_threshold,
    costs,
    evaluate,
    expected_cost,
    holdout_fingerprint,
    point_metrics,
    predict_positive,
)

Y = np.array([1, 1, 1, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.6])
COST = {"fn": 10.0, "fp": 1.0, "tp": 0.5, "tn": 0.25}


class ColumnModel:
    """Probability of the positive class = the frame's ``p`` column."""

    def __init__(self, classes=(0, 1)) -> None:
        self.classes_ = np.array(classes)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = frame["p"].to_numpy(dtype=float)
        return np.column_stack([1 - p, p] if list(self.classes_) == [0, 1] else [p, 1 - p])


def use_case(override, churn_uc, **evaluation):
    return override(churn_uc, dataset={"id": "cid", "target": "y", "positive_label": 1, "labels": [0, 1]},
                    columns={"plan": {"kind": "categorical"}, "charges": {"kind": "numeric"}, "p": {"kind": "numeric"}},
                    slices=["plan"], business={"cost_false_negative": 10, "cost_false_positive": 1},
                    evaluation=evaluation)


@pytest.fixture
def uc(override, churn_uc):
    return use_case(override, churn_uc, primary_metric="roc_auc", slice_min_rows=4,
                    bootstrap={"samples": 12, "confidence": 0.9, "seed": 3})


def holdout(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1).round(3)
    plan = np.where(np.arange(n) % 4 == 0, "gold", np.where(np.arange(n) % 4 == 1, "silver", "basic"))
    return pd.DataFrame({"cid": [f"c{i}" for i in range(n)], "plan": plan, "charges": rng.uniform(10, 100, n),
                         "p": p, "y": y})


# -- point metrics -----------------------------------------------------------------------------
def test_point_metrics_by_hand() -> None:
    m = point_metrics(Y, P, 0.5, COST)
    # predicted positive: 0.9, 0.8, 0.7, 0.6 -> tp 2, fp 2, fn 1, tn 2
    assert m["precision"] == 0.5 and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["accuracy"] == pytest.approx(4 / 7)
    assert m["expected_cost_per_customer"] == pytest.approx((1 * 10 + 2 * 1 + 2 * 0.5 + 2 * 0.25) / 7)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y, P))
    assert m["average_precision"] == pytest.approx(average_precision_score(Y, P))
    assert m["log_loss"] == pytest.approx(log_loss(Y, P))
    assert m["brier"] == pytest.approx(brier_score_loss(Y, P))


def test_a_score_equal_to_the_threshold_is_positive() -> None:
    m = point_metrics(np.array([1, 0]), np.array([0.5, 0.49]), 0.5, COST)
    assert m["recall"] == 1.0 and m["precision"] == 1.0 and m["accuracy"] == 1.0
    assert expected_cost(np.array([1, 0]), np.array([0.5, 0.49]), 0.5, COST) == (0.5 + 0.25) / 2


def test_undefined_metrics_are_none_not_nan() -> None:
    negatives = point_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.9]), 0.5, COST)
    assert negatives["roc_auc"] is None and negatives["average_precision"] is None
    assert negatives["recall"] is None and negatives["f1"] == 0.0 and negatives["precision"] == 0.0
    none_predicted = point_metrics(np.array([1, 0]), np.array([0.1, 0.2]), 0.5, COST)
    assert none_predicted["precision"] == 0.0 and none_predicted["recall"] == 0.0 and none_predicted["f1"] == 0.0
    empty = point_metrics(np.array([], dtype=int), np.array([]), 0.5, COST)
    assert empty["accuracy"] is None and empty["log_loss"] is None and empty["expected_cost_per_customer"] == 0.0


def test_costs_default_to_one_per_error_and_nothing_per_right_answer(override, churn_uc) -> None:
    assert costs(override(churn_uc, business={})) == {"fn": 1.0, "fp": 1.0, "tp": 0.0, "tn": 0.0}
    custom = override(churn_uc, business={"cost_false_negative": 8, "cost_false_positive": 2,
                                          "cost_true_positive": 0.5, "cost_true_negative": 0.1})
    assert costs(custom) == {"fn": 8.0, "fp": 2.0, "tp": 0.5, "tn": 0.1}


# -- the business threshold --------------------------------------------------------------------
def test_the_threshold_is_the_cheapest_and_the_lowest_on_ties() -> None:
    y, p = np.array([1, 0]), np.array([0.3, 0.2])
    plain = {"fn": 1.0, "fp": 1.0, "tp": 0.0, "tn": 0.0}
    assert cost_optimal_threshold(y, p, plain) == 0.21  # any of 0.21..0.30 separates; the lowest wins
    # a right "yes" that costs a lot: flag nobody (just above the highest score)
    assert cost_optimal_threshold(y, p, {**plain, "fn": 0.0, "tp": 5.0}) == 0.31
    # a right "no" that costs a lot: flag everybody
    assert cost_optimal_threshold(y, p, {**plain, "fp": 0.0, "tn": 5.0}) == 0.01
    # a missed positive costing more than a false alarm pulls the threshold down to the positive's score
    y3, p3 = np.array([1, 0, 0]), np.array([0.15, 0.4, 0.1])
    assert cost_optimal_threshold(y3, p3, {"fn": 10.0, "fp": 1.0, "tp": 0.0, "tn": 0.0}) == 0.11
    assert cost_optimal_threshold(y3, p3, {"fn": 0.5, "fp": 1.0, "tp": 0.0, "tn": 0.0}) == 0.41


# -- bootstrap ---------------------------------------------------------------------------------
def _auc(y, p):
    return None if len(np.unique(y)) < 2 else roc_auc_score(y, p)


def test_bootstrap_is_a_seeded_percentile_interval() -> None:
    y, p = np.tile(Y, 5), np.tile(P, 5)
    ci = bootstrap_ci(y, p, _auc, samples=20, confidence=0.8, seed=11)
    rng = np.random.default_rng(11)
    values = [_auc(y[i], p[i]) for i in (rng.integers(0, len(y), len(y)) for _ in range(20))]
    low, high = np.quantile(values, [0.1, 0.9])
    assert ci == {"samples": 20, "valid_samples": 20, "confidence": 0.8, "seed": 11,
                  "low": pytest.approx(low, rel=1e-12), "high": pytest.approx(high, rel=1e-12)}
    assert bootstrap_ci(y, p, _auc, 20, 0.8, 11) == ci
    assert bootstrap_ci(y, p, _auc, 20, 0.8, 12)["low"] != ci["low"]
    wider = bootstrap_ci(y, p, _auc, 20, 0.95, 11)
    assert wider["low"] < ci["low"] and wider["high"] > ci["high"]


def test_one_class_resamples_are_skipped_and_counted() -> None:
    y, p = np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3])
    ci = bootstrap_ci(y, p, _auc, samples=30, confidence=0.95, seed=0)
    assert 0 < ci["valid_samples"] < 30
    nothing = bootstrap_ci(np.array([0, 0]), np.array([0.1, 0.2]), _auc, 5, 0.95, 0)
    assert nothing["valid_samples"] == 0 and nothing["low"] is None and nothing["high"] is None


# -- evaluate ----------------------------------------------------------------------------------
def test_evaluate_holds_the_evidence_the_sme_reads(uc) -> None:
    frame = holdout()
    ev = evaluate(ColumnModel(), frame, uc)
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    assert ev["rows"] == 40 and ev["positives"] == int(y.sum()) and ev["base_rate"] == pytest.approx(y.mean())
    assert ev["threshold"] == cost_optimal_threshold(y, p, costs(uc))
    assert ev["metrics"] == point_metrics(y, p, ev["threshold"], costs(uc))
    cm = ev["confusion_matrix"]
    pred = p >= ev["threshold"]
    assert cm == {"tn": int((~pred & (y == 0)).sum()), "fp": int((pred & (y == 0)).sum()),
                  "fn": int((~pred & (y == 1)).sum()), "tp": int((pred & (y == 1)).sum())}
    assert ev["primary_metric"] == "roc_auc" and ev["slice_metric"] == "roc_auc" and ev["slice_min_rows"] == 4
    boot = ev["bootstrap"]
    assert (boot["metric"], boot["point"], boot["samples"], boot["confidence"], boot["seed"]) == \
        ("roc_auc", ev["metrics"]["roc_auc"], 12, 0.9, 3)
    expected = bootstrap_ci(y, p, _auc, 12, 0.9, 3)  # evaluate's ranked AUC per resample: equal up to float noise
    assert {k: boot[k] for k in expected} == {k: pytest.approx(v, abs=1e-12) if isinstance(v, float) else v
                                              for k, v in expected.items()}
    assert ev["holdout_sha256"] == holdout_fingerprint(frame, uc)
    assert ev["costs"] == costs(uc)
    assert set(ev["curves"]) == {"roc", "pr", "calibration"}
    assert len(ev["curves"]["roc"]["fpr"]) == len(ev["curves"]["roc"]["tpr"]) <= CURVE_POINTS
    assert ev["curves"]["pr"]["base_rate"] == round(float(y.mean()), 5)


def test_evaluate_defaults_when_the_yaml_says_little(override, churn_uc) -> None:
    uc = use_case(override, churn_uc)
    frame = holdout(60, seed=1)
    ev = evaluate(ColumnModel(), frame, uc)
    assert ev["primary_metric"] == "roc_auc" and ev["slice_min_rows"] == 30
    assert (ev["bootstrap"]["samples"], ev["bootstrap"]["confidence"], ev["bootstrap"]["seed"]) == (200, 0.95, 0)
    by_plan = {s["value"]: s for s in ev["slices"]["plan"]}
    assert by_plan["basic"]["judged"] is True and by_plan["gold"]["judged"] is False  # 30 rows vs 15
    assert by_plan["gold"]["why_not_judged"] == "15 rows < slice_min_rows 30"


def test_evaluate_uses_the_configured_primary_metric(override, churn_uc) -> None:
    uc = use_case(override, churn_uc, primary_metric="recall", slice_metric="average_precision",
                  bootstrap={"samples": 4, "seed": 1})
    ev = evaluate(ColumnModel(), holdout(), uc)
    assert ev["bootstrap"]["metric"] == "recall" and ev["bootstrap"]["point"] == ev["metrics"]["recall"]
    assert ev["slice_metric"] == "average_precision"
    frame = holdout()
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    assert ev["bootstrap"]["low"] == bootstrap_ci(
        y, p, lambda a, b: point_metrics(a, b, ev["threshold"], costs(uc))["recall"], 4, 0.95, 1)["low"]


def test_slices_group_each_value_with_its_own_rows(uc) -> None:
    frame = holdout()
    frame.loc[3, "plan"] = None
    ev = evaluate(ColumnModel(), frame, uc)
    slices = ev["slices"]["plan"]
    assert [s["value"] for s in slices] == ["<missing>", "basic", "gold", "silver"]
    for s in slices:
        rows = frame[frame["plan"].fillna("<missing>") == s["value"]]
        assert s["column"] == "plan" and s["rows"] == len(rows) and s["positives"] == int(rows["y"].sum())
        m = point_metrics(rows["y"].to_numpy(), rows["p"].to_numpy(), ev["threshold"], costs(uc))
        assert s["recall"] == m["recall"] and s["expected_cost_per_customer"] == m["expected_cost_per_customer"]
        assert s["roc_auc"] == m["roc_auc"] and s["precision"] == m["precision"]
        assert s["average_precision"] == m["average_precision"]
    missing = slices[0]
    assert missing["rows"] == 1 and missing["judged"] is False
    assert missing["why_not_judged"] == "1 rows < slice_min_rows 4"


def test_a_one_class_slice_is_reported_not_judged(uc) -> None:
    frame = holdout()
    frame.loc[frame["plan"] == "gold", "y"] = 0
    gold = {s["value"]: s for s in evaluate(ColumnModel(), frame, uc)["slices"]["plan"]}["gold"]
    assert gold["rows"] == 10 and gold["judged"] is False and gold["why_not_judged"] == "a single class"
    assert gold["roc_auc"] is None


def test_numeric_slices_are_quartiles(override, churn_uc) -> None:
    uc = override(use_case(override, churn_uc, slice_min_rows=4, bootstrap={"samples": 2}), slices=["charges"])
    frame = holdout()
    slices = evaluate(ColumnModel(), frame, uc)["slices"]["charges"]
    assert len(slices) == 4 and [s["rows"] for s in slices] == [10, 10, 10, 10]
    assert all(s["judged"] == (len(np.unique(frame.loc[
        pd.qcut(frame["charges"], 4).astype(str) == s["value"], "y"])) == 2) for s in slices)


def test_predict_positive_reads_the_positive_column() -> None:
    frame = pd.DataFrame({"p": [0.2, 0.7]})
    assert predict_positive(ColumnModel(), frame).tolist() == [0.2, 0.7]
    assert predict_positive(ColumnModel(classes=(1, 0)), frame).tolist() == [0.2, 0.7]


def test_the_holdout_fingerprint_ignores_order_and_sees_labels(uc) -> None:
    frame = holdout()
    print_ = holdout_fingerprint(frame, uc)
    assert holdout_fingerprint(frame.iloc[::-1], uc) == print_
    flipped = frame.copy()
    flipped.loc[0, "y"] = 1 - flipped.loc[0, "y"]
    assert holdout_fingerprint(flipped, uc) != print_
    assert len(print_) == 64


def test_curves_need_both_classes(uc) -> None:
    frame = holdout()
    frame["y"] = 0
    assert evaluate(ColumnModel(), frame, uc)["curves"] == {}


# -- compare: the blessing ---------------------------------------------------------------------
def ev_doc(metrics: dict, slices: dict | None = None, holdout_sha: str = "h1", version: int | None = None) -> dict:
    return {"metrics": metrics, "slices": slices or {}, "holdout_sha256": holdout_sha, "model_version": version}


def rule(override, churn_uc, thresholds: dict, **more):
    # The slices' own value thresholds (tests/unit/test_slices.py) are off here: these pin the change rules alone.
    return override(churn_uc, evaluation={"thresholds": thresholds, "slice_thresholds": {}, **more})


def checks_of(result: dict, kind: str) -> list[dict]:
    return [c for c in result["checks"] if c["kind"] == kind]


def test_value_thresholds_pass_exactly_on_the_bound(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"roc_auc": {"min": 0.8}, "log_loss": {"max": 0.5}})
    on = compare(ev_doc({"roc_auc": 0.8, "log_loss": 0.5}), None, uc)
    assert on["blessed"] is True and [c["status"] for c in on["checks"]] == ["pass", "pass"]
    assert on["checks"][0]["detail"] == "roc_auc is 0.8000, meeting the required >= 0.8."
    assert on["checks"][1]["comparison"] == "<=" and on["checks"][0]["comparison"] == ">="
    assert on["reasons"] == ["Blessed: all 2 judged checks passed (with no champion, value thresholds alone decided)."]
    assert on["champion_version"] is None
    below = compare(ev_doc({"roc_auc": 0.7999, "log_loss": 0.5001}), None, uc)
    assert below["blessed"] is False and [c["passed"] for c in below["checks"]] == [False, False]
    assert below["reasons"] == ["roc_auc is 0.7999, missing the required >= 0.8.",
                                "log_loss is 0.5001, missing the required <= 0.5."]


def test_a_metric_that_cannot_be_computed_fails_its_threshold(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"recall": {"min": 0.5, "max": 0.99}})
    out = compare(ev_doc({"recall": None}), None, uc)
    assert out["blessed"] is False
    assert [c["status"] for c in out["checks"]] == ["fail", "fail"] and out["checks"][0]["observed"] is None
    assert out["reasons"][0] == "recall could not be computed on the holdout, so it cannot reach >= 0.5."
    assert out["reasons"][1] == "recall could not be computed on the holdout, so it cannot reach <= 0.99."
    assert compare(ev_doc({}), None, uc)["blessed"] is False  # absent counts as not computed


def test_f1_and_accuracy_thresholds_are_judged_on_the_candidate(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"f1": {"min": 0.6}, "accuracy": {"min": 0.7}})
    assert compare(ev_doc({"f1": 0.61, "accuracy": 0.71}), None, uc)["blessed"] is True
    out = compare(ev_doc({"f1": 0.59, "accuracy": 0.71}), None, uc)
    assert out["blessed"] is False and [c["metric"] for c in out["checks"] if not c["passed"]] == ["f1"]


def test_change_thresholds_against_the_champion_on_the_boundary(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"roc_auc": {"max_drop": 0.02}})
    champion = ev_doc({"roc_auc": 0.85}, version=3)
    at_bound = compare(ev_doc({"roc_auc": 0.83}), champion, uc)
    change = checks_of(at_bound, "change")[0]
    assert at_bound["blessed"] is True and change["passed"] is True
    assert change["observed"] == pytest.approx(0.02) and change["bound"] == 0.02
    assert (change["candidate_value"], change["champion_value"], change["relative"], change["higher_is_better"]) == \
        (0.83, 0.85, False, True)
    assert change["detail"] == ("roc_auc is 0.8300 against 0.8500 for champion v3: a absolute drop of +0.0200, "
                                "within the allowed 0.02.")
    assert at_bound["champion_version"] == 3
    assert at_bound["reasons"] == ["Blessed: all 2 judged checks passed (against champion v3)."]
    beyond = compare(ev_doc({"roc_auc": 0.8299}), champion, uc)
    assert beyond["blessed"] is False and "beyond the allowed 0.02" in beyond["reasons"][0]
    better = compare(ev_doc({"roc_auc": 0.9}), champion, uc)
    assert checks_of(better, "change")[0]["observed"] == pytest.approx(-0.05)


def test_lower_is_better_metrics_default_to_a_rise(override, churn_uc) -> None:
    assert {"log_loss", "brier", "expected_cost_per_customer"} <= LOWER_IS_BETTER
    uc = rule(override, churn_uc, {"log_loss": {"max_rise": 0.04}, "brier": {"max_drop": 0.01}})
    champion = ev_doc({"log_loss": 0.25, "brier": 0.2})
    out = compare(ev_doc({"log_loss": 0.30, "brier": 0.15}), champion, uc)
    by_metric = {c["metric"]: c for c in checks_of(out, "change")}
    assert by_metric["log_loss"]["higher_is_better"] is False and by_metric["log_loss"]["passed"] is False
    assert by_metric["log_loss"]["observed"] == pytest.approx(0.05)
    assert "a absolute rise of +0.0500, beyond the allowed 0.04" in by_metric["log_loss"]["detail"]
    # brier is lower-is-better with only max_drop given: that bound is used, on the rise (here an improvement)
    assert by_metric["brier"]["passed"] is True and by_metric["brier"]["observed"] == pytest.approx(-0.05)
    explicit = rule(override, churn_uc, {"log_loss": {"max_drop": 0.04, "higher_is_better": True}})
    flipped = checks_of(compare(ev_doc({"log_loss": 0.30}), champion, explicit), "change")[0]
    assert flipped["higher_is_better"] is True and flipped["observed"] == pytest.approx(-0.05)
    assert flipped["passed"] is True


def test_relative_change_thresholds(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"expected_cost_per_customer": {"max_rise": 0.05, "rise_kind": "relative"}})
    champion = ev_doc({"expected_cost_per_customer": 100.0}, version=2)
    at_bound = checks_of(compare(ev_doc({"expected_cost_per_customer": 105.0}), champion, uc), "change")[0]
    assert at_bound["passed"] is True and at_bound["relative"] is True
    assert at_bound["observed"] == pytest.approx(0.05)
    assert "a relative rise of 5.00%, within the allowed 0.05" in at_bound["detail"]
    beyond = checks_of(compare(ev_doc({"expected_cost_per_customer": 105.2}), champion, uc), "change")[0]
    assert beyond["passed"] is False
    zero = ev_doc({"expected_cost_per_customer": 0.0})
    assert checks_of(compare(ev_doc({"expected_cost_per_customer": 0.0}), zero, uc), "change")[0]["observed"] == 0.0
    worse = checks_of(compare(ev_doc({"expected_cost_per_customer": 1.0}), zero, uc), "change")[0]
    assert worse["observed"] == math.inf and worse["passed"] is False
    drop = rule(override, churn_uc, {"roc_auc": {"max_drop": 0.1, "drop_kind": "relative"}})
    rel = checks_of(compare(ev_doc({"roc_auc": 0.72}), ev_doc({"roc_auc": 0.8}), drop), "change")[0]
    assert rel["observed"] == pytest.approx(0.1) and rel["passed"] is True


def test_a_change_that_cannot_be_judged_is_skipped_not_failed(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"roc_auc": {"max_drop": 0.01}})
    out = compare(ev_doc({"roc_auc": 0.8}), ev_doc({}), uc)
    change = checks_of(out, "change")[0]
    assert change["status"] == "skipped" and change["passed"] is None and change["observed"] is None
    assert change["detail"] == "roc_auc change vs the champion not judged: a value is missing."
    assert out["blessed"] is True
    assert out["reasons"] == ["Blessed: all 1 judged checks passed (against the champion)."]  # the holdout check
    no_rule = compare(ev_doc({"roc_auc": 0.5}), ev_doc({"roc_auc": 0.9}), rule(override, churn_uc, {"roc_auc": {}}))
    assert checks_of(no_rule, "change") == [] and no_rule["blessed"] is True


def test_different_holdouts_block_the_blessing(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {})
    out = compare(ev_doc({}, holdout_sha="a"), ev_doc({}, holdout_sha="b"), uc)
    assert out["blessed"] is False and out["checks"][0]["kind"] == "holdout"
    assert out["reasons"] == ["Candidate and champion were scored on different holdouts, so they cannot be compared."]
    same = compare(ev_doc({}, holdout_sha="a"), ev_doc({}, holdout_sha="a"), uc)
    assert same["blessed"] is True and same["checks"][0]["passed"] is True
    assert same["checks"][0]["detail"] == "Candidate and champion were scored on the same holdout rows."


def _slice(value: str, auc: float | None, judged: bool = True, rows: int = 50, why: str | None = None,
           cost: float = 1.0) -> dict:
    return {"column": "plan", "value": value, "rows": rows, "judged": judged, "why_not_judged": why,
            "roc_auc": auc, "expected_cost_per_customer": cost}


def test_slice_checks_on_the_boundary(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {}, slice_max_drop=0.04)
    champion = ev_doc({}, {"plan": [_slice("gold", 0.80), _slice("basic", 0.70)]}, version=5)
    cand = ev_doc({}, {"plan": [_slice("gold", 0.76), _slice("basic", 0.6599)]})
    out = compare(cand, champion, uc)
    gold, basic = checks_of(out, "slice")
    assert gold["slice"] == "plan=gold" and gold["passed"] is True and gold["observed"] == pytest.approx(0.04)
    assert gold["rows"] == 50 and (gold["candidate_value"], gold["champion_value"]) == (0.76, 0.80)
    assert gold["detail"] == ("Slice plan=gold: roc_auc 0.7600 against 0.8000 for champion v5 (+0.0400 worse), "
                              "within the allowed 0.04.")
    assert basic["passed"] is False and out["blessed"] is False
    assert out["reasons"] == [basic["detail"]] and "beyond the allowed 0.04" in basic["detail"]


def test_slice_defaults_drop_and_metric(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {})
    champion = ev_doc({}, {"plan": [_slice("gold", 0.80)]})
    assert compare(ev_doc({}, {"plan": [_slice("gold", 0.75)]}), champion, uc)["blessed"] is True
    assert compare(ev_doc({}, {"plan": [_slice("gold", 0.7499)]}), champion, uc)["blessed"] is False
    primary = rule(override, churn_uc, {}, primary_metric="expected_cost_per_customer")
    cheap, dear = _slice("gold", 0.1, cost=1.0), _slice("gold", 0.9, cost=1.06)
    # the primary metric is the slice metric when none is set; a cost is lower-is-better
    out = compare(ev_doc({}, {"plan": [dear]}), ev_doc({}, {"plan": [cheap]}), primary)
    check = checks_of(out, "slice")[0]
    assert check["metric"] == "expected_cost_per_customer" and check["observed"] == pytest.approx(0.06)
    assert out["blessed"] is False
    improved = compare(ev_doc({}, {"plan": [cheap]}), ev_doc({}, {"plan": [dear]}), primary)
    assert improved["blessed"] is True and checks_of(improved, "slice")[0]["observed"] == pytest.approx(-0.06)
    chosen = rule(override, churn_uc, {}, slice_metric="roc_auc", primary_metric="expected_cost_per_customer")
    assert checks_of(compare(ev_doc({}, {"plan": [dear]}), ev_doc({}, {"plan": [cheap]}), chosen),
                     "slice")[0]["metric"] == "roc_auc"


@pytest.mark.parametrize(("cand", "champ", "why"), [
    (_slice("gold", 0.5, judged=False, why="12 rows < slice_min_rows 30"), _slice("gold", 0.9),
     "12 rows < slice_min_rows 30"),
    (_slice("gold", 0.5), _slice("gold", 0.9, judged=False), "not judged for the champion"),
    (_slice("gold", 0.5), None, "not judged for the champion"),
    (_slice("gold", None), _slice("gold", 0.9), "not judged for the champion"),
    (_slice("gold", 0.5), _slice("gold", None), "not judged for the champion"),
])
def test_unjudged_slices_are_reported_and_never_block(override, churn_uc, cand, champ, why) -> None:
    uc = rule(override, churn_uc, {})
    champion = ev_doc({}, {"plan": [champ] if champ else [_slice("silver", 0.9)]})
    out = compare(ev_doc({}, {"plan": [cand]}), champion, uc)
    check = checks_of(out, "slice")[0]
    assert check["status"] == "skipped" and check["bound"] == 0.05 and check["rows"] == 50
    assert check["detail"] == f"Slice plan=gold reported, not judged: {why}."
    assert out["blessed"] is True


def test_curves_are_the_holdout_curves_thinned_for_the_model_card() -> None:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    from include.lifecycle.model.evaluation import _curves

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 1500)
    p = np.clip(0.1 * y + rng.uniform(0, 0.9, 1500), 0, 1).round(4)
    curves = _curves(y, p)
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    assert len(fpr) > CURVE_POINTS and len(curves["roc"]["fpr"]) == CURVE_POINTS
    idx = np.unique(np.linspace(0, len(fpr) - 1, CURVE_POINTS).astype(int))
    assert curves["roc"] == {"fpr": np.round(fpr[idx], 5).tolist(), "tpr": np.round(tpr[idx], 5).tolist()}
    assert curves["roc"]["fpr"][0] == 0.0 and curves["roc"]["tpr"][-1] == 1.0  # both ends kept
    ridx = np.unique(np.linspace(0, len(recall) - 1, CURVE_POINTS).astype(int))
    assert curves["pr"]["recall"] == np.round(recall[::-1][ridx], 5).tolist()
    assert curves["pr"]["precision"] == np.round(precision[::-1][ridx], 5).tolist()
    assert curves["pr"]["recall"][0] == 0.0 and curves["pr"]["recall"][-1] == 1.0
    assert curves["pr"]["base_rate"] == round(float(y.mean()), 5)
    assert curves["calibration"] == {"mean_predicted": np.round(mean, 5).tolist(),
                                     "fraction_positive": np.round(frac, 5).tolist()}
    assert len(curves["calibration"]["mean_predicted"]) == 10
    short = _curves(Y, P)  # fewer points than CURVE_POINTS: every point kept
    assert short["roc"]["fpr"] == np.round(roc_curve(Y, P)[0], 5).tolist()


def test_every_check_names_its_metric_observation_and_bound(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"roc_auc": {"min": 0.8, "max_drop": 0.02}, "recall": {"min": 0.5, "max_drop": 0.1}})
    out = compare(ev_doc({"roc_auc": 0.81, "recall": None}, holdout_sha="c"),
                  ev_doc({"roc_auc": 0.82, "recall": 0.6}, holdout_sha="c"), uc)
    picked = [{k: c[k] for k in ("kind", "metric", "observed", "bound", "status")} for c in out["checks"]]
    assert picked == [
        {"kind": "holdout", "metric": "holdout_sha256", "observed": "c", "bound": "c", "status": "pass"},
        {"kind": "value", "metric": "roc_auc", "observed": 0.81, "bound": 0.8, "status": "pass"},
        {"kind": "change", "metric": "roc_auc", "observed": pytest.approx(0.01), "bound": 0.02, "status": "pass"},
        {"kind": "value", "metric": "recall", "observed": None, "bound": 0.5, "status": "fail"},
        {"kind": "change", "metric": "recall", "observed": None, "bound": 0.1, "status": "skipped"},
    ]


def test_a_metric_without_a_change_rule_does_not_stop_the_next_ones(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"recall": {"min": 0.1}, "roc_auc": {"max_drop": 0.01},
                                   "average_precision": {"max_drop": 0.01}})
    out = compare(ev_doc({"recall": 0.5, "roc_auc": None, "average_precision": 0.5}),
                  ev_doc({"roc_auc": 0.8, "average_precision": 0.6}), uc)
    changes = checks_of(out, "change")
    assert [c["metric"] for c in changes] == ["roc_auc", "average_precision"]
    assert changes[1]["status"] == "fail" and out["blessed"] is False


def test_evidence_without_metrics_or_slices_is_judged_not_a_crash(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {"roc_auc": {"min": 0.5, "max_drop": 0.01}})
    out = compare({"holdout_sha256": "x"}, {"holdout_sha256": "x"}, uc)
    assert [c["status"] for c in out["checks"]] == ["pass", "fail", "skipped"]
    assert checks_of(out, "slice") == []


def test_fallback_change_rule_keys_and_kinds(override, churn_uc) -> None:
    # a higher-is-better metric configured with max_rise / rise_kind: that rule is used
    uc = rule(override, churn_uc, {"roc_auc": {"max_rise": 0.1, "rise_kind": "relative"}})
    check = checks_of(compare(ev_doc({"roc_auc": 0.7}), ev_doc({"roc_auc": 0.8}), uc), "change")[0]
    assert check["relative"] is True and check["bound"] == 0.1 and check["observed"] == pytest.approx(0.125)
    assert check["passed"] is False
    lower = rule(override, churn_uc, {"brier": {"max_drop": 0.1, "drop_kind": "relative"}})
    check = checks_of(compare(ev_doc({"brier": 0.22}), ev_doc({"brier": 0.2}), lower), "change")[0]
    assert check["relative"] is True and check["observed"] == pytest.approx(0.1) and check["passed"] is True


def test_the_change_and_slice_tolerance_is_exactly_float_noise(override, churn_uc) -> None:
    # worse == bound + 1e-12 still passes: the tolerance only absorbs rounding
    uc = rule(override, churn_uc, {"roc_auc": {"max_drop": 0.0}}, slice_max_drop=0.0)
    champion = ev_doc({"roc_auc": 1e-12}, {"plan": [_slice("gold", 1e-12)]})
    out = compare(ev_doc({"roc_auc": 0.0}, {"plan": [_slice("gold", 0.0)]}), champion, uc)
    assert [c["status"] for c in out["checks"][1:]] == ["pass", "pass"]
    worse = ev_doc({"roc_auc": 0.0}, {"plan": [_slice("gold", 0.0)]})
    champion2 = ev_doc({"roc_auc": 2e-12}, {"plan": [_slice("gold", 2e-12)]})
    assert [c["status"] for c in compare(worse, champion2, uc)["checks"][1:]] == ["fail", "fail"]


def test_slice_checks_record_bound_metric_and_keep_going(override, churn_uc) -> None:
    uc = rule(override, churn_uc, {}, slice_max_drop=0.03)
    champion = ev_doc({}, {"plan": [_slice("gold", 0.8), _slice("basic", 0.8)]})
    cand = ev_doc({}, {"plan": [_slice("gold", 0.1, judged=False, why="few rows"), _slice("basic", 0.7)]})
    skipped, judged = checks_of(compare(cand, champion, uc), "slice")
    assert (skipped["metric"], skipped["observed"], skipped["slice"], skipped["status"]) == \
        ("roc_auc", 0.1, "plan=gold", "skipped")
    assert (judged["metric"], judged["bound"], judged["slice"], judged["status"]) == \
        ("roc_auc", 0.03, "plan=basic", "fail")
    assert judged["observed"] == pytest.approx(0.1)


def test_slices_on_columns_outside_the_contract_and_on_tied_numbers(override, churn_uc) -> None:
    uc = override(use_case(override, churn_uc, slice_min_rows=4, bootstrap={"samples": 2}), slices=["region", "charges"])
    frame = holdout()
    frame["region"] = np.where(np.arange(40) % 2 == 0, "north", "south")
    frame["charges"] = np.where(np.arange(40) < 30, 50.0, frame["charges"])  # ties: quartile edges repeat
    slices = evaluate(ColumnModel(), frame, uc)["slices"]
    assert [s["value"] for s in slices["region"]] == ["north", "south"]
    assert [s["rows"] for s in slices["region"]] == [20, 20]
    assert 1 < len(slices["charges"]) < 4 and sum(s["rows"] for s in slices["charges"]) == 40


def test_a_slice_with_exactly_the_minimum_rows_is_judged(override, churn_uc) -> None:
    frame = holdout()  # gold and silver: 10 rows each
    at_min = use_case(override, churn_uc, slice_min_rows=10, bootstrap={"samples": 2})
    by_plan = {s["value"]: s for s in evaluate(ColumnModel(), frame, at_min)["slices"]["plan"]}
    assert by_plan["gold"]["rows"] == 10 and by_plan["gold"]["judged"] is True
    assert by_plan["gold"]["why_not_judged"] is None
    above = use_case(override, churn_uc, slice_min_rows=11, bootstrap={"samples": 2})
    gold = {s["value"]: s for s in evaluate(ColumnModel(), frame, above)["slices"]["plan"]}["gold"]
    assert gold["judged"] is False and gold["why_not_judged"] == "10 rows < slice_min_rows 11"
    frame.loc[frame["plan"] == "gold", "y"] = 1
    gold = {s["value"]: s for s in evaluate(ColumnModel(), frame, at_min)["slices"]["plan"]}["gold"]
    assert gold["judged"] is False and gold["why_not_judged"] == "a single class"


def test_the_evidence_states_its_threshold_rule_and_an_empty_holdout_has_no_base_rate(uc) -> None:
    ev = evaluate(ColumnModel(), holdout(), uc)
    assert ev["threshold_rule"] == "lowest expected business cost on the holdout over a 0.01 grid"
    empty = evaluate(ColumnModel(), holdout().iloc[:0], uc)
    assert empty["rows"] == 0 and empty["base_rate"] is None and empty["positives"] == 0


def test_the_threshold_counts_each_outcome_with_its_own_cost() -> None:
    y, p = np.array([1, 0]), np.array([0.3, 0.2])
    # a right "no" dearer than a false alarm: flag everybody (0.01), not only the positive (0.21)
    assert cost_optimal_threshold(y, p, {"fn": 0.0, "fp": 1.0, "tp": 0.0, "tn": 3.0}) == 0.01
    assert cost_optimal_threshold(y, p, {"fn": 3.0, "fp": 1.0, "tp": 0.0, "tn": 0.0}) == 0.21


def test_the_holdout_fingerprint_format_is_stable_across_releases(uc) -> None:
    import hashlib

    frame = pd.DataFrame({"cid": ["b", "a"], "y": [0, 1]})
    # champions registered by earlier releases carry this digest: the format must not drift
    assert holdout_fingerprint(frame, uc) == hashlib.sha256(b"a,1\nb,0").hexdigest()


def test_a_model_without_classes_is_taken_as_0_then_1() -> None:
    class Bare:
        def predict_proba(self, frame):
            p = frame["p"].to_numpy(dtype=float)
            return np.column_stack([1 - p, p])

    assert predict_positive(Bare(), pd.DataFrame({"p": [0.2, 0.7]})).tolist() == [0.2, 0.7]


def test_an_average_precision_primary_metric_gets_its_own_interval(override, churn_uc) -> None:
    uc = use_case(override, churn_uc, primary_metric="average_precision", slice_min_rows=4,
                  bootstrap={"samples": 6, "confidence": 0.8, "seed": 2})
    frame = holdout()
    ev = evaluate(ColumnModel(), frame, uc)
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    boot = ev["bootstrap"]
    assert boot["metric"] == "average_precision" and boot["point"] == pytest.approx(average_precision_score(y, p))
    rng = np.random.default_rng(2)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(6)]
    aps = [average_precision_score(y[i], p[i]) for i in draws if len(np.unique(y[i])) == 2]
    assert (boot["low"], boot["high"]) == _hand_interval(aps, 0.8) and boot["valid_samples"] == len(aps)
    assert boot["low"] < boot["point"] < boot["high"]
    basic = next(s for s in ev["slices"]["plan"] if s["value"] == "basic")
    assert basic["judged"] is True and set(basic["ci"]) >= {"average_precision"}
    assert basic["ci"]["average_precision"]["low"] is not None
    assert basic["ci"]["average_precision"]["low"] <= basic["average_precision"] <= basic["ci"]["average_precision"]["high"]


def test_a_slice_missing_its_own_threshold_warns_when_the_yaml_says_it_must_not_block(override, churn_uc) -> None:
    uc = override(churn_uc, evaluation={"thresholds": {}, "slice_thresholds": {"roc_auc": 0.6},
                                        "slice_thresholds_block": False})
    out = compare(ev_doc({}, {"plan": [_slice("gold", 0.55), _slice("basic", 0.7)]}), None, uc)
    gold = next(c for c in out["checks"] if c.get("slice") == "plan=gold")
    assert gold["status"] == "warn" and "WARNING: missing the slice threshold >= 0.6" in gold["detail"]
    assert out["blessed"] is True and out["warnings"] == [gold["detail"]]
    assert out["reasons"] == ["Blessed: 1 judged checks passed and 1 warned without blocking "
                              "(with no champion, value thresholds alone decided).", gold["detail"]]
    clean = compare(ev_doc({}, {"plan": [_slice("basic", 0.7)]}), None, uc)
    assert clean["warnings"] == [] and clean["reasons"] == [
        "Blessed: all 1 judged checks passed (with no champion, value thresholds alone decided)."]


def test_the_auc_interval_counts_tied_scores_half_as_roc_auc_score_does(uc) -> None:
    frame = holdout()
    frame["p"] = (frame["p"] * 4).round() / 4  # five distinct scores: most positives tie with negatives
    ev = evaluate(ColumnModel(), frame, uc)
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    expected = bootstrap_ci(y, p, _auc, 12, 0.9, 3)
    boot = ev["bootstrap"]
    assert boot["valid_samples"] == expected["valid_samples"] == 12
    assert (boot["low"], boot["high"]) == (pytest.approx(expected["low"], abs=1e-12),
                                           pytest.approx(expected["high"], abs=1e-12))


def test_one_class_resamples_of_the_auc_interval_are_skipped(override, churn_uc) -> None:
    uc = use_case(override, churn_uc, slice_min_rows=100, bootstrap={"samples": 40, "confidence": 0.9, "seed": 5})
    frame = holdout(6, seed=2)
    frame["y"], frame["p"] = [1, 0, 0, 0, 0, 0], [0.9, 0.1, 0.5, 0.5, 0.3, 0.95]
    ev = evaluate(ColumnModel(), frame, uc)
    expected = bootstrap_ci(frame["y"].to_numpy(), frame["p"].to_numpy(), _auc, 40, 0.9, 5)
    boot = ev["bootstrap"]
    assert 0 < expected["valid_samples"] < 40 and boot["valid_samples"] == expected["valid_samples"]
    assert (boot["low"], boot["high"]) == (pytest.approx(expected["low"], abs=1e-12),
                                           pytest.approx(expected["high"], abs=1e-12))


def _hand_interval(values: list, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12)


def test_judged_slices_carry_intervals_for_their_metric_and_each_thresholded_one(override, churn_uc) -> None:
    uc = use_case(override, churn_uc, primary_metric="roc_auc", slice_min_rows=11, slice_thresholds_block=False,
                  slice_thresholds={"expected_cost_per_customer": 2.0},
                  bootstrap={"samples": 7, "confidence": 0.8, "seed": 4})
    frame = holdout()
    ev = evaluate(ColumnModel(), frame, uc)
    assert ev["slice_thresholds"] == {"expected_cost_per_customer": 2.0} and ev["slice_thresholds_block"] is False
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    by_value = {s["value"]: s for s in ev["slices"]["plan"]}
    assert by_value["gold"]["judged"] is False and by_value["gold"]["ci"] == {}  # 10 rows < 11: no interval
    basic = by_value["basic"]
    assert basic["judged"] is True and set(basic["ci"]) == {"roc_auc", "expected_cost_per_customer"}
    mask = (frame["plan"] == "basic").to_numpy()
    ys, ps = y[mask], p[mask]
    rng = np.random.default_rng(4)
    draws = [rng.integers(0, len(ys), len(ys)) for _ in range(7)]
    aucs = [a for a in (_auc(ys[i], ps[i]) for i in draws) if a is not None]
    dear = [expected_cost(ys[i], ps[i], ev["threshold"], costs(uc)) for i in draws]
    for name, values in (("roc_auc", aucs), ("expected_cost_per_customer", dear)):
        low, high = _hand_interval(values, 0.8)
        assert basic["ci"][name] == {"low": low, "high": high, "confidence": 0.8, "samples": 7,
                                     "valid_samples": len(values)}


def test_slice_intervals_default_to_200_seeded_resamples_at_95_percent(override, churn_uc) -> None:
    uc = use_case(override, churn_uc)
    frame = holdout(60, seed=1)
    ev = evaluate(ColumnModel(), frame, uc)
    assert ev["slice_thresholds"] == {"roc_auc": 0.5} and ev["slice_thresholds_block"] is True
    basic = {s["value"]: s for s in ev["slices"]["plan"]}["basic"]
    mask = (frame["plan"] == "basic").to_numpy()
    ys, ps = frame["y"].to_numpy()[mask], frame["p"].to_numpy()[mask]
    rng = np.random.default_rng(0)
    aucs = [a for a in (_auc(ys[i], ps[i]) for i in (rng.integers(0, 30, 30) for _ in range(200))) if a is not None]
    low, high = _hand_interval(aucs, 0.95)
    assert basic["ci"] == {"roc_auc": {"low": low, "high": high, "confidence": 0.95, "samples": 200,
                                       "valid_samples": len(aucs)}}


def test_the_slice_metric_gets_an_interval_beside_the_thresholded_ones(override, churn_uc) -> None:
    uc = use_case(override, churn_uc, primary_metric="recall", slice_metric="average_precision", slice_min_rows=4,
                  bootstrap={"samples": 3})
    basic = {s["value"]: s for s in evaluate(ColumnModel(), holdout(), uc)["slices"]["plan"]}["basic"]
    assert set(basic["ci"]) == {"average_precision", "roc_auc"}  # the slice metric + the default AUC floor


def test_recall_precision_and_f1_when_the_counts_tie() -> None:
    y, p = np.array([1, 1, 0, 0]), np.array([0.9, 0.2, 0.8, 0.1])  # tp = fn = fp = tn = 1
    m = point_metrics(y, p, 0.5, COST)
    assert (m["recall"], m["precision"], m["f1"]) == (0.5, 0.5, 0.5)


def test_log_loss_on_a_one_class_holdout_and_on_certain_mistakes() -> None:
    one_class = point_metrics(np.array([0, 0]), np.array([0.2, 0.4]), 0.5, COST)
    assert one_class["log_loss"] == pytest.approx((-math.log(0.8) - math.log(0.6)) / 2)
    certain = point_metrics(np.array([0, 1]), np.array([1.0, 0.0]), 0.5, COST)  # clipped to 1e-15 from 0 and 1
    assert certain["log_loss"] == pytest.approx(34.53917619362578, rel=1e-9)


def test_a_false_positive_costs_its_own_price_on_a_one_row_holdout() -> None:
    assert expected_cost(np.array([0]), np.array([0.9]), 0.5, {"fn": 10.0, "fp": 4.0, "tp": 0.5, "tn": 0.25}) == 4.0


def test_the_base_rate_of_the_pr_curve_keeps_five_decimals(uc) -> None:
    frame = pd.DataFrame({"cid": [f"c{i}" for i in range(7)], "plan": "basic", "charges": 1.0, "p": P, "y": Y})
    assert evaluate(ColumnModel(), frame, uc)["curves"]["pr"]["base_rate"] == 0.42857  # 3 of 7


def test_a_cost_primary_metric_is_bootstrapped_with_the_use_cases_costs(override, churn_uc) -> None:
    """The interval the SME reads for expected cost per customer is the cost under this YAML's business costs."""
    uc = use_case(override, churn_uc, primary_metric="expected_cost_per_customer", slice_min_rows=4,
                  bootstrap={"samples": 8, "confidence": 0.8, "seed": 4})
    frame = holdout()
    ev = evaluate(ColumnModel(), frame, uc)
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    cost, threshold = ev["costs"], ev["threshold"]
    rng = np.random.default_rng(4)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(8)]
    by_hand = [expected_cost(y[i], p[i], threshold, cost) for i in draws]
    boot = ev["bootstrap"]
    assert boot["metric"] == "expected_cost_per_customer" and boot["valid_samples"] == 8
    assert (boot["low"], boot["high"]) == _hand_interval(by_hand, 0.8)
