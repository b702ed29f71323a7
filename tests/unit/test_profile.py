"""EDA profiles with real Evidently: what they count, how they sample, the champion as reference, and a failure
that stays visible without failing acquisition."""

from __future__ import annotations

import html
import json
import math

import pandas as pd
import pytest

from include.lifecycle import layout, steps
from include.lifecycle.data.profile import profile_frame, profile_partition, profile_training_set, sample
from include.lifecycle.model.registry import registry_for
from tests.unit.registered import train_and_register

DAY = "2026-01-05"


@pytest.fixture(scope="module")
def uc(churn_uc, override):
    return override(churn_uc, candidates=[{"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
                                           "params": {"max_iter": 500}, "search": {"C": [1.0]}}],
                    search_cv_folds=2, **{"evaluation.bootstrap": {"samples": 20, "confidence": 0.95, "seed": 7},
                                          "profiling": {"sample_rows": 400, "seed": 3,
                                                        "compare_with_champion": True}})


@pytest.fixture(scope="module")
def rows(churn_uc) -> pd.DataFrame:
    return pd.read_csv(churn_uc.data_file, dtype={churn_uc.id_column: str}).sample(n=1000, random_state=8)


@pytest.fixture(scope="module")
def labelled_profile(uc, rows):
    tiny = rows.iloc[:300]
    return tiny, profile_frame(tiny, uc, title="tiny", sample_rows=1000)


def test_counts_missing_values_and_categories_like_pandas(labelled_profile, uc) -> None:
    tiny, prof = labelled_profile
    s = prof.summary
    assert s["sampling"] == {"rows_total": 300, "rows_profiled": 300, "seed": 3, "sampled": False,
                             "share_error_95": 0.0}
    assert "all 300 rows profiled (no sampling)" in s["sampling_text"][0]
    missing = int(pd.to_numeric(tiny["total_charges"], errors="coerce").isna().sum())
    assert s["columns"]["total_charges"]["missing"]["count"] == missing
    assert s["columns"]["contract"]["top_categories"] == tiny["contract"].value_counts().to_dict()
    assert s["columns"]["tenure"]["max"] == tiny["tenure"].max()
    assert s["columns"]["tenure"]["q50"] == pytest.approx(tiny["tenure"].quantile(0.5), abs=1.0)
    # the target is profiled with its frequencies, and every feature is related to it
    assert s["labelled"] and sum(s["columns"][uc.target]["top_categories"].values()) == 300
    assert set(s["target_relation"]) == set(uc.feature_columns)
    assert set(s["target_relation"]["contract"]) == {"cramer_v"}
    assert set(s["target_relation"]["tenure"]) == {"pearson", "spearman", "kendall"}
    assert s["target_relation"]["tenure"]["pearson"] < 0 < s["target_relation"]["contract"]["cramer_v"]  # churners are newer
    page = prof.html
    assert "root_metric_" in page and len(page) > 100_000  # Evidently's own report, its JS bundle inlined
    assert "features only" not in page and "without a reference" in page
    assert page.index("tiny") < page.index("all 300 rows profiled")


def test_samples_with_a_stated_seeded_error(uc, rows) -> None:
    taken, stated = sample(rows, 250, seed=5)
    again, _ = sample(rows, 250, seed=5)
    assert len(taken) == 250 and taken.equals(again)
    expected = 1.96 * math.sqrt(0.25 / 250) * math.sqrt((1000 - 250) / 999)
    assert stated == {"rows_total": 1000, "rows_profiled": 250, "seed": 5, "sampled": True,
                      "share_error_95": round(expected, 5)}
    prof = profile_frame(rows.drop(columns=[uc.target]), uc, title="sampled")  # profiling.sample_rows: 400
    assert prof.summary["sampling"]["rows_profiled"] == 400 and not prof.summary["labelled"]
    assert sum(prof.summary["columns"]["contract"]["top_categories"].values()) == 400
    text = prof.summary["sampling_text"][0]
    assert "400 of 1,000 rows (seed 3)" in text and f"±{100 * prof.summary['sampling']['share_error_95']:.2f}" in text
    assert html.escape(text) in prof.html and "features only (no labels in this data yet)" in prof.html
    assert prof.summary["target_relation"] == {}


def test_partition_without_then_with_a_champion(tmp_path, uc, rows) -> None:
    from include.lifecycle.store import LocalStore

    store = LocalStore(tmp_path / "store")
    store.write_frame(layout.accepted_key(uc, DAY), rows.iloc[800:].drop(columns=[uc.target]))
    first = profile_partition(store, uc, DAY)
    assert first["status"] == "ok" and first["reference"] == "no champion yet"
    assert first["html_key"] == layout.profile_key(uc, DAY) and store.exists(first["html_key"])
    summary = store.read_json(layout.profile_summary_key(uc, DAY))
    assert summary["reference"] is None and summary["sampling"]["rows_total"] == 200

    train_and_register(store, uc, rows.iloc[:800])
    registry_for(store, uc).promote(1, actor="sme_alice")
    second = profile_partition(store, uc, DAY)
    summary = store.read_json(layout.profile_summary_key(uc, DAY))
    train_rows = len(store.read_frame(layout.train_set_key(uc, "run-1")))
    assert second["reference"] == "the training set of champion v1"
    assert summary["reference"]["rows_total"] == train_rows and summary["reference"]["rows_profiled"] == 400
    assert "beside the training set of champion v1" in store.read_text(second["html_key"])
    assert any(t.startswith("Reference (the training set of champion v1)") for t in summary["sampling_text"])


def test_training_set_profile_is_listed_in_the_experiment_record(tmp_path, uc, rows) -> None:
    from include.lifecycle.store import LocalStore

    store = LocalStore(tmp_path / "store")
    train_and_register(store, uc, rows.iloc[:600], run_id="run-1")
    profiled = profile_training_set(store, uc, "run-1")
    summary = store.read_json(profiled["summary_key"])
    assert summary["labelled"] and summary["target_relation"]["contract"]["cramer_v"] > 0
    assert profiled["html_key"] == layout.training_profile_key(uc, "run-1")
    cand = store.read_json(layout.best_key(uc, "run-1"))
    steps.step_select_best(store, uc, "run-1", [cand], profiled)
    record = store.read_json(layout.experiment_key(uc, "run-1"))
    assert record["profile"]["html_key"] == profiled["html_key"] and record["profile"]["status"] == "ok"
    assert record["profile"]["rows_profiled"] == summary["sampling"]["rows_profiled"]
    assert record["candidates"][0]["name"] == "logreg" and record["candidates"][0]["cv_score"] == cand["cv_score"]
    assert record["data"]["lineage_sha256"] and record["code_version"]


def test_a_failed_profile_never_fails_acquisition_but_is_recorded_and_alerted(tmp_path, monkeypatch) -> None:
    """The task body, as Airflow calls it, on a day whose accepted rows cannot be read."""
    from include.lifecycle.store import LocalStore
    from lifecycle_ops.tasks.acquisition import profile_partition as task_profile

    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(tmp_path / "store"))
    store = LocalStore(tmp_path / "store")
    store.write_bytes(layout.accepted_key("churn", DAY), b"not a parquet file")
    context = {"partition_key": DAY, "run_id": "manual__1", "params": {}}
    note = task_profile(context, "churn", {"accepted": 10, "date": DAY})
    assert note["status"] == "failed" and note["error"]
    recorded = store.read_json(layout.profile_summary_key("churn", DAY))
    assert recorded["status"] == "failed" and recorded["error"] == note["error"]
    alerts = [json.loads(store.read_text(k)) for k in store.list("alerts/sent/")]
    assert any(a.get("kind") == "profile_failed" or a.get("alert", {}).get("kind") == "profile_failed"
               for a in alerts), alerts
    assert task_profile(context, "churn", {"accepted": 0})["status"] == "skipped"


def test_a_large_stored_day_is_sampled_before_pandas_and_says_of_how_many(tmp_path, uc, rows) -> None:
    from include.lifecycle.data.profile import read_sampled
    from include.lifecycle.store import LocalStore

    store = LocalStore(tmp_path / "store")
    store.write_frame(layout.accepted_key(uc, DAY), rows.drop(columns=[uc.target]))
    taken, total = read_sampled(store, layout.accepted_key(uc, DAY), 250, seed=4)
    again, _ = read_sampled(store, layout.accepted_key(uc, DAY), 250, seed=4)
    assert total == 1000 and len(taken) == 250 and taken.equals(again)
    assert set(taken[uc.id_column]) <= set(rows[uc.id_column]) and taken[uc.id_column].is_unique
    out = profile_partition(store, uc, DAY)  # profiling.sample_rows: 400
    summary = store.read_json(out["summary_key"])
    assert summary["sampling"]["rows_total"] == 1000 and summary["sampling"]["rows_profiled"] == 400
    assert "400 of 1,000 rows" in summary["sampling_text"][0]
