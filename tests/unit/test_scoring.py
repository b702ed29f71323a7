"""Batch scoring with a really trained, registered and promoted model on a LocalStore.

The model is trained by the training steps on ~900 real rows (logistic regression, one grid point) and
registered through the real registry; every test gets its own copy of that store.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from include.lifecycle.layout import features_key, predictions_key
from include.lifecycle.model.features import clean
from include.lifecycle.model.packaging import dumps_model
from include.lifecycle.model.registry import IntegrityError, registry_for
from include.lifecycle.serve.scoring import (
    NoChampionError,
    ScoringError,
    resolve_champion,
    score_frame_chunks,
    score_partition,
)
from include.lifecycle.store import LocalStore
from tests.unit.registered import train_and_register

DAY = date(2026, 1, 20)


@pytest.fixture(scope="module")
def uc(churn_uc, override):
    return override(churn_uc, candidates=[{"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
                                           "params": {"max_iter": 500}, "search": {"C": [1.0]}}],
                    search_cv_folds=2, **{"evaluation.bootstrap": {"samples": 20, "confidence": 0.95, "seed": 7}})


@pytest.fixture(scope="module")
def rows(churn_uc) -> pd.DataFrame:
    return pd.read_csv(churn_uc.data_file, dtype={churn_uc.id_column: str}).sample(n=1200, random_state=5)


@pytest.fixture(scope="module")
def template(tmp_path_factory, uc, rows) -> Path:
    """A store with v1 registered (not promoted) and a 300-row features partition on DAY."""
    root = tmp_path_factory.mktemp("scoring-template")
    store = LocalStore(root)
    train_and_register(store, uc, rows.iloc[:900])
    store.write_frame(features_key(uc, DAY), clean(rows.iloc[900:].drop(columns=[uc.target]), uc))
    return root


@pytest.fixture
def store(template, tmp_path) -> LocalStore:
    shutil.copytree(template, tmp_path / "store")
    return LocalStore(tmp_path / "store")


@pytest.fixture
def champion(store, uc) -> dict:
    registry_for(store, uc).promote(1, actor="sme_alice")
    return resolve_champion(store, uc)


def test_no_champion_is_a_clear_error(store, uc) -> None:
    with pytest.raises(NoChampionError, match="no champion"):
        resolve_champion(store, uc)


def test_scores_in_chunks_exactly_like_the_whole_frame(store, uc, champion) -> None:
    registry = registry_for(store, uc)
    assert champion == {"model": "churn", "version": 1, "model_sha256": registry.manifest(1)["model_sha256"]}
    out = score_partition(store, uc, DAY, champion["version"], chunk_rows=64, model_sha256=champion["model_sha256"])
    assert out["rows"] == 300 and out["chunks"] == 5  # 4 x 64 + 44
    assert out["predictions_key"] == f"predictions/churn/date={DAY}/predictions.parquet"
    assert out["sha256"] == store.sha256(out["predictions_key"])

    preds = store.read_frame(out["predictions_key"])
    features = store.read_frame(features_key(uc, DAY))
    model = registry.load_model(1)
    expected = model.predict_proba(features)[:, list(model.classes_).index(1)]
    assert list(preds.columns) == ["customer_id", "score", "predicted_label", "model_version", "scored_at"]
    assert preds["customer_id"].tolist() == features["customer_id"].tolist()
    np.testing.assert_allclose(preds["score"], expected, rtol=0, atol=1e-12)
    # The label uses the cost-optimal threshold stored with the version's evaluation, not 0.5.
    threshold = registry.manifest(1)["evaluation_summary"]["threshold"]
    assert out["threshold"] == threshold != 0.5
    assert (preds["predicted_label"] == np.where(expected >= threshold, "Yes", "No")).all()
    assert set(preds["model_version"]) == {1}
    assert str(preds["scored_at"].dt.tz) == "UTC" and preds["scored_at"].nunique() == 1
    assert pq.ParquetFile(store.local_path(out["predictions_key"])).metadata.num_row_groups == 5


def test_streaming_core_yields_one_frame_per_chunk(store, uc, champion) -> None:
    model = registry_for(store, uc).load_model(1)
    features = store.read_frame(features_key(uc, DAY))
    chunks = [features.iloc[:100], features.iloc[100:100], features.iloc[100:]]
    frames = score_frame_chunks(model, iter(chunks), id_column="customer_id", threshold=0.3, labels=("No", "Yes"),
                                model_version=1)
    assert not isinstance(frames, list)  # lazy: nothing is scored until iterated
    out = list(frames)
    assert [len(f) for f in out] == [100, 200]  # the empty chunk yields nothing
    whole = model.predict_proba(features)[:, 1]
    np.testing.assert_allclose(pd.concat(out)["score"], whole, rtol=0, atol=1e-12)


def test_rerun_overwrites_the_partition(store, uc, champion) -> None:
    first = score_partition(store, uc, DAY, 1, chunk_rows=64)
    smaller = store.read_frame(features_key(uc, DAY)).iloc[:120]
    store.write_frame(features_key(uc, DAY), smaller)
    second = score_partition(store, uc, DAY, 1, chunk_rows=1000)
    assert second["rows"] == 120 and second["chunks"] == 1 and second["sha256"] != first["sha256"]
    preds = store.read_frame(predictions_key(uc, DAY))
    assert preds["customer_id"].tolist() == smaller["customer_id"].tolist()
    folder = store.local_path(predictions_key(uc, DAY)).parent
    assert sorted(p.name for p in folder.iterdir()) == ["predictions.parquet"]  # no temp or part files left
    again = score_partition(store, uc, DAY, 1, chunk_rows=1000)
    assert store.read_frame(predictions_key(uc, DAY))["score"].tolist() == preds["score"].tolist()
    assert again["rows"] == 120


def test_refuses_a_tampered_model_and_writes_nothing(store, uc, champion, rows) -> None:
    registry = registry_for(store, uc)
    key = registry.manifest(1)["artifacts"]["model.skops"]["key"]
    from sklearn.dummy import DummyClassifier

    other = DummyClassifier(strategy="prior").fit(np.zeros((4, 1)), [0, 1, 0, 1])
    store.write_bytes(key, dumps_model(other)[0])  # loadable, but not the approved bytes
    with pytest.raises(IntegrityError, match="sha256"):
        score_partition(store, uc, DAY, champion["version"])
    assert not store.exists(predictions_key(uc, DAY))


def test_refuses_a_different_resolved_model_and_missing_input(store, uc, champion) -> None:
    with pytest.raises(ScoringError, match="differs from the resolved"):
        score_partition(store, uc, DAY, 1, model_sha256="0" * 64)
    with pytest.raises(ScoringError, match="no features partition"):
        score_partition(store, uc, DAY + timedelta(days=1), 1)
    store.write_frame(features_key(uc, DAY), store.read_frame(features_key(uc, DAY)).drop(columns=["tenure"]))
    with pytest.raises(ScoringError, match="tenure"):
        score_partition(store, uc, DAY, 1)


def test_scores_on_s3_through_a_streamed_download_and_upload(template, s3_store, uc) -> None:
    """The production store: a real moto S3 server over HTTP, same partition, same predictions."""
    local = LocalStore(template)
    for key in local.list():
        s3_store.write_bytes(key, local.read_bytes(key))
    registry_for(s3_store, uc).promote(1, actor="sme_alice")
    champion = resolve_champion(s3_store, uc)
    out = score_partition(s3_store, uc, DAY, champion["version"], chunk_rows=100)
    assert out["rows"] == 300 and out["chunks"] == 3 and out["sha256"] == s3_store.sha256(out["predictions_key"])
    preds = s3_store.read_frame(out["predictions_key"])
    model = registry_for(s3_store, uc).load_model(1)
    expected = model.predict_proba(local.read_frame(features_key(uc, DAY)))[:, 1]
    np.testing.assert_allclose(preds["score"], expected, rtol=0, atol=1e-12)
    assert s3_store.list(f"predictions/{uc.name}/") == [out["predictions_key"]]
