"""Monitoring with Evidently 0.7 on real rows, a really trained and registered champion, on a LocalStore.

Drift is produced with the replay's documented drift scenario (``replay.apply_drift``: monthly and total charges
x1.35, contract and payment-method mixes shifted). Evidently runs are the slow part (~1-3 s each after a ~10 s
import), so the tests share one trained template store and keep to five report runs.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from include.lifecycle import layout
from include.lifecycle.data.replay import apply_drift
from include.lifecycle.layout import features_key, monitoring_report_key, monitoring_result_key
from include.lifecycle.model.features import clean
from include.lifecycle.model.registry import registry_for
from include.lifecycle.serve.scoring import score_partition
from include.lifecycle.store import LocalStore
from include.lifecycle.watch.monitoring import (
    MonitoringError,
    monitor,
    read_timeseries,
)
from include.lifecycle.watch.reference import reference_frame
from tests.unit.registered import train_and_register

DAY = date(2026, 1, 20)


@pytest.fixture(scope="module")
def uc(churn_uc, override):
    """Gradient boosting, as the config's hgb candidate (the usual champion), with a small search."""
    return override(churn_uc, candidates=[{"name": "hgb", "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                                           "params": {"max_iter": 60}, "search": {"max_depth": [3]}}],
                    search_cv_folds=2, **{"evaluation.bootstrap": {"samples": 20, "confidence": 0.95, "seed": 7},
                                          "monitoring.sample_rows": 1000})


@pytest.fixture(scope="module")
def data(churn_uc) -> pd.DataFrame:
    return pd.read_csv(churn_uc.data_file, dtype={churn_uc.id_column: str}).sample(n=2700, random_state=11)


@pytest.fixture(scope="module")
def template(tmp_path_factory, uc, data) -> Path:
    root = tmp_path_factory.mktemp("monitoring-template")
    store = LocalStore(root)
    train_and_register(store, uc, data.iloc[:1800])
    registry_for(store, uc).promote(1, actor="sme_alice")
    return root


@pytest.fixture
def store(template, tmp_path) -> LocalStore:
    shutil.copytree(template, tmp_path / "store")
    return LocalStore(tmp_path / "store")


@pytest.fixture
def fresh(data) -> pd.DataFrame:
    """900 real rows the model never saw."""
    return data.iloc[1800:].reset_index(drop=True)


def publish_scored(store, uc, frame: pd.DataFrame, last_day: date, days: int = 3) -> list[date]:
    """Write ``frame`` as ``days`` features partitions ending at ``last_day`` and score each with v1."""
    dates = [last_day - timedelta(days=days - 1 - i) for i in range(days)]
    for day, idx in zip(dates, np.array_split(np.arange(len(frame)), days), strict=True):
        store.write_frame(features_key(uc, day), clean(frame.iloc[idx].drop(columns=[uc.target], errors="ignore"), uc))
        score_partition(store, uc, day, 1, chunk_rows=128)
    return dates


def test_reference_is_the_versions_training_rows_and_refuses_tampering(store, uc) -> None:
    ref = reference_frame(store, uc, 1)
    lineage = registry_for(store, uc).manifest(1)["lineage"]
    assert len(ref) == lineage["train_rows"] and {"score", "churn", "customer_id"} <= set(ref.columns)
    assert ref["score"].between(0, 1).all() and set(ref["churn"]) == {0, 1}
    # Without the training run folder, the same rows are rebuilt from the partitions the manifest lists.
    train_key = f"{layout.run_prefix(uc, 'run-1')}/train.parquet"
    original = store.read_bytes(train_key)
    store.delete(train_key)
    rebuilt = reference_frame(store, uc, 1, with_scores=False)
    assert rebuilt["customer_id"].tolist() == ref["customer_id"].tolist()
    store.write_bytes(train_key, original)
    tampered = ref.drop(columns=["score"]).assign(monthly_charges=ref["monthly_charges"] * 2)
    store.write_frame(train_key, tampered)
    with pytest.raises(MonitoringError, match="sha256"):
        reference_frame(store, uc, 1)


def test_no_drift_when_current_is_a_sample_of_the_reference(store, uc) -> None:
    ref = reference_frame(store, uc, 1, with_scores=False)
    publish_scored(store, uc, ref.sample(n=700, random_state=1), DAY)
    out = monitor(store, uc, DAY, 1)
    assert out["window"]["dates"] == [str(DAY - timedelta(days=2)), str(DAY - timedelta(days=1)), str(DAY)]
    assert out["rows"] == 700 and out["drifted_columns"] == [] and out["dataset_drift"] is False
    assert len(out["column_drift"]) == len(uc.feature_columns)
    assert max(out["column_drift"].values()) < 0.1
    assert out["prediction_drift"] < 0.1 and out["breaches"] == []
    assert "uniform sample" in out["sampling"] and "700 of 700" in out["sampling"]
    # These ids' labels were delivered (for training) before the rows were scored: not outcomes of these
    # predictions, so nothing is judged.
    assert out["labelled_rows"] == 0 and out["performance"]["judged"] is False


def test_drift_scenario_is_detected_and_reported(store, uc, fresh) -> None:
    drifted = apply_drift(uc, fresh.drop(columns=[uc.target]), day=40)
    publish_scored(store, uc, drifted, DAY)
    out = monitor(store, uc, DAY, 1)
    moved = {"monthly_charges", "total_charges", "contract", "payment_method"}
    assert moved <= set(out["drifted_columns"]), out["column_drift"]
    assert all(out["column_drift"][c] > 0.1 for c in moved)
    # Four of nineteen columns move: over the configured dataset share (0.15), so dataset drift breaches,
    # and the score distribution moves with them (month-to-month customers score higher).
    assert out["drift_share"] == pytest.approx(len(out["drifted_columns"]) / 19)
    assert out["dataset_drift"] is True and "dataset_drift" in out["breaches"]
    assert out["prediction_drift"] >= 0.1 and "prediction_drift" in out["breaches"]
    page = store.local_path(monitoring_report_key(uc, DAY)).read_text(encoding="utf-8")
    assert "Drift is detected for 21.053% of columns (4 out of 19)" in page  # Evidently's own verdict
    summary = page[: page.find("</div>")]
    assert "Score distribution moved" in summary and "monthly_charges" in summary
    assert store.read_json(monitoring_result_key(uc, DAY))["breaches"] == out["breaches"]
    row = read_timeseries(store, uc).iloc[0]
    assert bool(row["breach_prediction_drift"]) and row["prediction_drift"] == pytest.approx(out["prediction_drift"],
                                                                                             abs=1e-6)


def test_performance_counts_matured_labels_only_and_timeseries_is_idempotent(store, uc, fresh) -> None:
    dates = publish_scored(store, uc, fresh, DAY)
    truth = fresh.set_index(uc.id_column)[uc.target]
    ids = [store.read_frame(features_key(uc, d))[uc.id_column] for d in dates]
    # Labels of the first day arrive the day before DAY (matured); the second day's arrive after DAY,
    # deliberately all wrong: counting them would change the AUC.
    store.write_frame(f"labels/{uc.name}/date={DAY - timedelta(days=1)}/labels.parquet",
                      truth.loc[ids[0]].reset_index())
    late = truth.loc[ids[1]].map({"Yes": "No", "No": "Yes"}).reset_index()
    store.write_frame(f"labels/{uc.name}/date={DAY + timedelta(days=1)}/labels.parquet", late)

    out = monitor(store, uc, DAY, 1)
    perf = out["performance"]
    assert out["labelled_rows"] == perf["labelled_rows"] == len(ids[0]) == 300
    preds = store.read_frame(f"predictions/{uc.name}/date={dates[0]}/predictions.parquet").set_index(uc.id_column)
    expected = roc_auc_score((truth.loc[ids[0]] == "Yes").astype(int), preds.loc[ids[0], "score"])
    assert perf["judged"] is True and perf["metrics"]["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert ("performance:roc_auc" in out["breaches"]) is (expected < 0.75)
    assert perf["at_registration"]["roc_auc"] == registry_for(store, uc).manifest(1)["metrics"]["roc_auc"]

    again = monitor(store, uc, DAY, 1)  # a rerun replaces the day's row, it does not add one
    series = read_timeseries(store, uc)
    assert series["date"].tolist() == [str(DAY)] and series.loc[0, "labelled_rows"] == 300
    assert again["drift_share"] == out["drift_share"] and again["labelled_rows"] == 300

    later = monitor(store, uc, DAY + timedelta(days=1), 1)  # the wrong labels have now been delivered
    assert later["labelled_rows"] == 600 and later["performance"]["metrics"]["roc_auc"] < expected
    series = read_timeseries(store, uc)
    assert series["date"].tolist() == [str(DAY), str(DAY + timedelta(days=1))]
    assert series["labelled_rows"].tolist() == [300, 600]
    assert json.loads(store.read_text(monitoring_result_key(uc, DAY)))["labelled_rows"] == 300


def test_nothing_scored_is_a_clear_error(store, uc) -> None:
    with pytest.raises(MonitoringError, match="run batch scoring first"):
        monitor(store, uc, DAY, 1)
