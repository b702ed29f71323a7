"""Slices judged on their own: each judged slice must reach its own value threshold, champion or not."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from include.lifecycle.config import ConfigError, load_use_case
from include.lifecycle.model.evaluation import compare, evaluate


def _weakest(ev: dict, metric: str = "roc_auc") -> dict:
    judged = [s for entries in ev["slices"].values() for s in entries if s["judged"]]
    return min(judged, key=lambda s: s[metric])


def test_judged_slices_carry_an_interval_around_their_value(evals) -> None:
    for entries in evals["logreg"]["slices"].values():
        for s in entries:
            if not s["judged"]:
                assert s["ci"] == {}
                continue
            ci = s["ci"]["roc_auc"]
            assert ci["low"] <= s["roc_auc"] <= ci["high"], s
            assert ci["valid_samples"] > 0.9 * ci["samples"]
    # a smaller slice is less certain: its interval is wider than the whole holdout's
    boot = evals["logreg"]["bootstrap"]
    weakest = _weakest(evals["logreg"])
    assert weakest["ci"]["roc_auc"]["high"] - weakest["ci"]["roc_auc"]["low"] > boot["high"] - boot["low"]


def test_a_weak_slice_blocks_the_blessing_without_any_champion(evals, small_uc, override) -> None:
    ev = evals["logreg"]
    weakest = _weakest(ev)
    bound = round(weakest["roc_auc"] + 0.005, 4)  # just above the weakest slice, below every other judged one
    others = [s["roc_auc"] for entries in ev["slices"].values() for s in entries if s["judged"] and s is not weakest]
    assert min(others) > bound, "the fixture needs one slice clearly weakest"
    uc = override(small_uc, **{"evaluation.slice_thresholds": {"roc_auc": bound},
                               "evaluation.slice_thresholds_block": True})
    verdict = compare(ev, None, uc)
    assert not verdict["blessed"]
    failed = [c for c in verdict["checks"] if c["status"] == "fail"]
    name = f"{weakest['column']}={weakest['value']}"
    assert [c["slice"] for c in failed] == [name]
    assert verdict["reasons"] == [failed[0]["detail"]]
    # the SME reads which slice, its value, its interval and the bound
    detail = failed[0]["detail"]
    assert name in detail and f"{weakest['roc_auc']:.4f}" in detail and "95% CI" in detail and f">= {bound:g}" in detail
    assert failed[0]["ci_low"] == weakest["ci"]["roc_auc"]["low"]


def test_the_yaml_can_make_a_slice_miss_a_warning(evals, small_uc, override) -> None:
    ev = evals["logreg"]
    weakest = _weakest(ev)
    uc = override(small_uc, **{"evaluation.slice_thresholds": {"roc_auc": round(weakest["roc_auc"] + 0.005, 4)},
                               "evaluation.slice_thresholds_block": False})
    verdict = compare(ev, None, uc)
    assert verdict["blessed"]
    warned = [c for c in verdict["checks"] if c["status"] == "warn"]
    assert len(warned) == 1 and warned[0]["passed"] is False and warned[0]["blocking"] is False
    assert verdict["warnings"] == [warned[0]["detail"]] and "WARNING" in warned[0]["detail"]
    assert "1 warned without blocking" in verdict["reasons"][0] and warned[0]["detail"] in verdict["reasons"]


def test_a_coin_toss_slice_fails_by_default(evals, small_uc) -> None:
    raw = copy.deepcopy(small_uc.raw)
    for key in ("slice_thresholds", "slice_thresholds_block"):
        raw["evaluation"].pop(key, None)
    uc = dataclasses.replace(small_uc, raw=raw)
    ev = copy.deepcopy(evals["logreg"])
    weak = _weakest(ev)
    weak["roc_auc"] = 0.49  # the first churn model's one-year slice
    verdict = compare(ev, None, uc)
    assert not verdict["blessed"]
    assert any(f"{weak['column']}={weak['value']}" in r and ">= 0.5" in r for r in verdict["reasons"])


def test_unjudged_slices_are_reported_not_judged(evals, small_uc, override) -> None:
    ev = copy.deepcopy(evals["logreg"])
    tiny = ev["slices"]["contract"][0]
    tiny.update(judged=False, why_not_judged="12 rows < slice_min_rows 30", roc_auc=0.1, ci={})
    verdict = compare(ev, None, override(small_uc, **{"evaluation.slice_thresholds": {"roc_auc": 0.5}}))
    check = next(c for c in verdict["checks"] if c["kind"] == "slice_value" and c["slice"].endswith(tiny["value"]))
    assert check["status"] == "skipped" and "12 rows" in check["detail"]


def test_a_cost_threshold_is_a_maximum(evals, small_uc, override) -> None:
    ev = evals["logreg"]
    worst = max((s for e in ev["slices"].values() for s in e if s["judged"]),
                key=lambda s: s["expected_cost_per_customer"])
    uc = override(small_uc, **{"evaluation.slice_thresholds": {"expected_cost_per_customer":
                                                              worst["expected_cost_per_customer"] - 0.01},
                               "evaluation.slice_thresholds_block": True})
    failed = [c for c in compare(ev, None, uc)["checks"] if c["status"] == "fail"]
    assert [c["slice"] for c in failed] == [f"{worst['column']}={worst['value']}"]
    assert failed[0]["comparison"] == "<="


def test_evaluate_intervals_follow_the_thresholded_metrics(split, fitted, small_uc, override) -> None:
    _, holdout = split
    uc = override(small_uc, **{"evaluation.slice_thresholds": {"recall": 0.3},
                               "evaluation.bootstrap": {"samples": 20, "confidence": 0.9, "seed": 1}})
    ev = evaluate(fitted["logreg"][0], holdout, uc)
    judged = next(s for e in ev["slices"].values() for s in e if s["judged"])
    assert set(judged["ci"]) == {"roc_auc", "recall"} and judged["ci"]["recall"]["confidence"] == 0.9
    assert ev["slice_thresholds"] == {"recall": 0.3}


def test_schema_defaults_and_refuses_metrics_not_computed_per_slice(tmp_path) -> None:
    import yaml

    from include.lifecycle.config import PROJECT_ROOT

    raw = yaml.safe_load((PROJECT_ROOT / "include" / "config" / "churn.yaml").read_text())
    raw["evaluation"].pop("slice_thresholds")
    raw["evaluation"].pop("slice_thresholds_block")
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(raw))
    uc = load_use_case(path)
    assert uc.raw["evaluation"]["slice_thresholds"] == {"roc_auc": 0.5}
    assert uc.raw["evaluation"]["slice_thresholds_block"] is True
    raw["evaluation"]["slice_thresholds"] = {"log_loss": 0.6}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="evaluation.slice_thresholds.*not computed per slice"):
        load_use_case(path)


def test_bundled_yamls_choose_on_purpose() -> None:
    churn, credit = load_use_case("churn"), load_use_case("credit")
    assert churn.raw["evaluation"]["slice_thresholds"] == {"roc_auc": 0.6}
    assert churn.raw["evaluation"]["slice_thresholds_block"] is False  # measured 0.49 on one-year: warned
    assert credit.raw["evaluation"]["slice_thresholds_block"] is True


def test_the_sme_request_and_the_model_card_show_each_slice_with_its_interval_and_verdict(
        tmp_path, churn_uc, override, churn_csv) -> None:
    """A really registered version whose weakest slice misses a (non-blocking) threshold: both documents say so."""
    import pandas as pd

    from include.lifecycle import layout
    from include.lifecycle.model.packaging import CardEvidence, model_card
    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.store import LocalStore
    from lifecycle_ops.approval import evidence_body
    from tests.unit.registered import train_and_register

    uc = override(churn_uc, candidates=[{"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
                                         "params": {"max_iter": 500}, "search": {"C": [1.0]}}],
                  search_cv_folds=2, **{"evaluation.bootstrap": {"samples": 30, "confidence": 0.95, "seed": 7},
                                        "evaluation.slice_thresholds": {"roc_auc": 0.9},
                                        "evaluation.slice_thresholds_block": False})
    store = LocalStore(tmp_path / "store")
    rows = pd.read_csv(uc.data_file, dtype={uc.id_column: str}).sample(n=1200, random_state=5)
    manifest = train_and_register(store, uc, rows)
    registry = registry_for(store, uc)
    body = evidence_body(uc, registry, manifest["version"], "promote")
    ev = store.read_json(layout.evaluation_key(uc, "run-1", "candidate"))
    comparison = store.read_json(layout.evaluation_key(uc, "run-1", "comparison"))
    assert comparison["blessed"] and comparison["warnings"]
    assert "own threshold: roc_auc >= 0.9, a miss warns only (does not block)" in body
    warned = [c for c in comparison["checks"] if c["status"] == "warn"]
    for check in warned:
        col, val = check["slice"].split("=", 1)
        row = next(r for r in body.splitlines() if r.startswith(f"| {col} | {val} |"))
        assert "**WARNING**" in row and f"{check['ci_low']:.4f}" in row
        assert check["detail"] in body  # the reason, word for word, under Blessed
    record = {"name": "logreg", "estimator": "x", "best_params": {}, "cv_metric": "roc_auc", "cv_score": 0.8,
              "cv_folds": 2, "train_rows": 1, "config_sha256": "0" * 64, "code_version": "t", "trained_at": "t"}
    card = model_card(uc, CardEvidence(ev, comparison, {"checks": {}}, record, {}))
    assert f"| {warned[0]['slice']} |" in card["markdown"] and "roc_auc >= 0.9: warn" in card["markdown"]
