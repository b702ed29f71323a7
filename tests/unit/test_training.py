"""Assembly (label join, id-hashed holdout, lineage), candidate training and the whole lifecycle in one process."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from include.lifecycle import layout
from include.lifecycle.config import ConfigError
from include.lifecycle.model.features import clean
from include.lifecycle.model.packaging import dumps_model, loads_model
from include.lifecycle.model.registry import registry_for
from include.lifecycle.model.training import (
    NotEnoughDataError,
    assemble,
    candidate_grid,
    code_version,
    make_estimator,
    train_candidate,
)
from include.lifecycle.steps import run_training_lifecycle
from include.lifecycle.store import LocalStore

START = date(2026, 1, 1)  # the first day make_lake writes


def test_assemble_joins_labels_by_id_and_respects_as_of(store, sample, small_uc, make_lake) -> None:
    make_lake(store, small_uc, sample, days=8, label_delay=3)
    as_of = START + timedelta(days=6)  # labels of days 0..3 delivered; features of days 0..6 exist
    ts = assemble(store, small_uc, as_of)
    truth = dict(zip(sample["customer_id"], (sample["churn"] == "Yes").astype(int), strict=True))
    joined = pd.concat([ts.train, ts.holdout])
    assert joined["churn"].tolist() == [truth[i] for i in joined["customer_id"]]
    assert [p["date"] for p in ts.lineage["labels"]] == [str(START + timedelta(days=d)) for d in range(3, 7)]
    assert [p["date"] for p in ts.lineage["features"]] == [str(START + timedelta(days=d)) for d in range(0, 7)]
    assert ts.lineage["joined_rows"] == len(joined) < len(sample)  # days 4..7 are not labelled yet
    assert ts.lineage["unlabelled_feature_rows"] > 0
    for part in ts.lineage["features"] + ts.lineage["labels"]:
        assert store.sha256(part["key"]) == part["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", ts.lineage_sha256)


def test_holdout_split_is_stable_across_runs(store, sample, small_uc, make_lake) -> None:
    make_lake(store, small_uc, sample, days=8, label_delay=3)
    early = assemble(store, small_uc, START + timedelta(days=6))
    late = assemble(store, small_uc, START + timedelta(days=12))
    assert late.lineage["joined_rows"] == len(sample) > early.lineage["joined_rows"]
    early_hold, late_hold = set(early.holdout["customer_id"]), set(late.holdout["customer_id"])
    assert early_hold <= late_hold  # once in the holdout, always in the holdout
    assert not early_hold & set(late.train["customer_id"])
    assert not set(late.train["customer_id"]) & late_hold
    assert abs(len(late_hold) / len(sample) - 0.25) < 0.04
    again = assemble(store, small_uc, START + timedelta(days=12))
    assert again.holdout["customer_id"].tolist() == late.holdout["customer_id"].tolist()
    assert again.lineage_sha256 == late.lineage_sha256 != early.lineage_sha256


def test_assemble_refuses_too_little_or_single_class_data(store, tmp_path, sample, small_uc, make_lake) -> None:
    with pytest.raises(NotEnoughDataError, match="0 features"):
        assemble(store, small_uc, START)
    make_lake(store, small_uc, sample.head(150), days=2, label_delay=0)
    with pytest.raises(NotEnoughDataError, match="need at least 200"):
        assemble(store, small_uc, START + timedelta(days=5))
    other = LocalStore(tmp_path / "stayers-only")
    make_lake(other, small_uc, sample[sample["churn"] == "No"].head(400), days=2, label_delay=0)
    with pytest.raises(NotEnoughDataError, match="single class"):
        assemble(other, small_uc, START + timedelta(days=5))


def test_candidate_grid_expands_searches_into_named_specs(churn_uc, override) -> None:
    specs = candidate_grid(churn_uc)
    assert [s["name"] for s in specs] == ["logreg", "hgb"]
    assert specs[0]["param_grid"] == {"estimator__C": [0.1, 1.0, 10.0]}
    assert specs[1]["grid_size"] == 4
    with pytest.raises(ConfigError, match="outside the allowed"):
        make_estimator("os.system", {}, 0)
    dup = override(churn_uc, candidates=[churn_uc.raw["candidates"][0]] * 2)
    with pytest.raises(ConfigError, match="not unique"):
        candidate_grid(dup)


def test_train_candidate_records_what_reproduces_it(split, small_uc, fitted) -> None:
    train, holdout = split
    model, record = fitted["hgb"]
    assert record["best_params"] == {"max_depth": 3, "learning_rate": 0.1}
    assert 0.7 < record["cv_score"] < 1.0 and record["cv_metric"] == "roc_auc" and record["cv_folds"] == 2
    assert record["config_sha256"] == small_uc.sha256 and record["seed"] == 0
    assert record["code_version"] == code_version()
    assert record["code_version"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", record["code_version"])
    assert model.named_steps["estimator"].random_state == 0  # seed fixed from the config
    spec = next(s for s in candidate_grid(small_uc) if s["name"] == "hgb")
    again, _ = train_candidate(train, small_uc, spec)
    assert np.array_equal(again.predict_proba(holdout), model.predict_proba(holdout))


def test_features_are_fitted_on_train_rows_only(split, fitted) -> None:
    train, holdout = split
    model, _ = fitted["logreg"]
    scaler = model.named_steps["preprocess"].named_transformers_["numeric"].named_steps["scale"]
    assert scaler.mean_[0] == pytest.approx(train["tenure"].mean())
    assert scaler.mean_[0] != pytest.approx(pd.concat([train, holdout])["tenure"].mean())


def test_packaged_model_scores_raw_rows_like_the_in_memory_one(sample, split, small_uc, fitted) -> None:
    _, holdout = split
    raw_rows = sample[sample["customer_id"].isin(holdout["customer_id"])].drop(columns=["churn"])
    rows = clean(raw_rows, small_uc)
    for name, (model, _) in fitted.items():
        data, digest = dumps_model(model)
        restored = loads_model(data)
        assert np.array_equal(restored.predict_proba(rows), model.predict_proba(rows)), name


def test_run_training_lifecycle_end_to_end(store, sample, small_uc, make_lake) -> None:
    make_lake(store, small_uc, sample, days=6, label_delay=2)
    first = run_training_lifecycle(store, small_uc, START + timedelta(days=10), "run-1")
    assert set(first["timings_s"]) == {"assemble", "profile", "train[logreg]", "train[hgb]", "select_best",
                                       "evaluate", "package", "register"}
    experiment = store.read_json(layout.experiment_key(small_uc, "run-1"))
    assert experiment["profile"]["status"] == "ok" and store.exists(experiment["profile"]["html_key"])
    assert experiment["profile"]["reference"] == "no champion yet"
    assert [c["name"] for c in experiment["candidates"]] == [c["name"] for c in sorted(
        first["candidates"], key=lambda c: c["cv_score"], reverse=True)]
    assert {c["name"] for c in first["candidates"]} == {"logreg", "hgb"}
    assert first["best"]["name"] == max(first["candidates"], key=lambda c: c["cv_score"])["name"]
    reg = first["register"]
    assert reg["version"] == 1 and reg["blessed"] and reg["qa_passed"] and reg["challenger"]
    registry = registry_for(store, small_uc)
    manifest = registry.manifest(1)
    assert manifest["blessing"]["blessed"] and manifest["run_id"] == "run-1"
    assert manifest["evaluation_summary"]["champion_version"] is None
    assert registry.alias_version("challenger") == 1
    assert [e["event"] for e in registry.ledger()] == ["registered", "challenger_set"]

    # Promote it; the next run is judged against it on the same holdout.
    registry.promote(1, actor="sme_alice", comment="first model")
    second = run_training_lifecycle(store, small_uc, START + timedelta(days=10), "run-2")
    assert second["evaluation"]["champion_version"] == 1
    assert second["profile"]["reference"] == "the training set of champion v1"  # EDA beside the champion's data
    # Same data, same seeds: the champion scores exactly what it scored when registered, and the
    # identical candidate loses nothing against it, so it is blessed again.
    assert second["evaluation"]["champion_value"] == pytest.approx(manifest["metrics"]["roc_auc"])
    assert second["register"]["blessed"] and registry.alias_version("challenger") == 2
    comparison = store.read_json("training/churn/run-2/evaluation/comparison.json")
    assert {c["kind"] for c in comparison["checks"]} >= {"holdout", "value", "change", "slice"}
    assert second["register"]["version"] == 2
    # A retried register step does not register the run twice.
    from include.lifecycle.steps import step_register

    assert step_register(store, small_uc, "run-2")["version"] == 2
    assert registry.versions() == [1, 2]


def test_risk_qa_reuses_the_evaluation_scores_only_while_they_are_intact(store, sample, small_uc, make_lake) -> None:
    """Packaging takes the evaluation step's holdout scores (one scoring of the holdout, not two), verified by the
    model's and the scores' sha256; changed bytes or another model make it score the holdout itself."""
    from include.lifecycle.model.evaluation import predict_positive
    from include.lifecycle.steps import _evaluated_scores

    make_lake(store, small_uc, sample, days=6, label_delay=2)
    trained = run_training_lifecycle(store, small_uc, START + timedelta(days=10), "run-1")
    evaluation = store.read_json(layout.evaluation_key(small_uc, "run-1", "candidate"))
    ref = evaluation["scores"]
    holdout = store.read_frame(layout.holdout_key(small_uc, "run-1"))
    model_bytes = store.read_bytes(trained["best"]["model_key"])
    assert ref["rows"] == len(holdout) and ref["model_sha256"] == trained["best"]["model_sha256"]
    scores = _evaluated_scores(store, evaluation, ref["model_sha256"], len(holdout))
    expected = predict_positive(loads_model(model_bytes), holdout.drop(columns=[small_uc.target]))
    assert np.array_equal(scores, expected)
    assert _evaluated_scores(store, evaluation, "0" * 64, len(holdout)) is None  # another model's scores
    assert _evaluated_scores(store, evaluation, ref["model_sha256"], len(holdout) + 1) is None
    store.write_frame(ref["key"], pd.DataFrame({"score": np.zeros(len(holdout))}))  # bytes changed after evaluate
    assert _evaluated_scores(store, evaluation, ref["model_sha256"], len(holdout)) is None
