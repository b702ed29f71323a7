"""Scoring's decisions on a one-feature model fitted in milliseconds: which champion, which threshold, which label.

The model is a real scikit-learn pipeline registered through the real registry, so the threshold and the
model bytes come from where production reads them; every fixture is function-scoped.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from include.lifecycle.layout import features_key, predictions_key, shadow_predictions_key
from include.lifecycle.model.packaging import dumps_model
from include.lifecycle.model.registry import registry_for
from include.lifecycle.serve.scoring import (
    NoChampionError,
    ScoringError,
    decision_threshold,
    label_values,
    positive_index,
    prediction_schema,
    resolve_champion,
    score_frame_chunks,
    score_partition,
)

DAY = "2026-01-20"


@pytest.fixture
def uc(churn_uc, override):
    return override(churn_uc, dataset={"id": "cid", "target": "y", "positive_label": "Yes", "labels": ["No", "Yes"]},
                    columns={"x": {"kind": "numeric"}}, model_name="tiny")


def fitted() -> Pipeline:
    x = np.linspace(0, 1, 40)
    frame = pd.DataFrame({"cid": [str(i) for i in range(40)], "x": x})
    model = Pipeline([("pick", ColumnTransformer([("x", "passthrough", ["x"])])), ("lr", LogisticRegression(C=100))])
    return model.fit(frame, (x > 0.5).astype(int))


def register(store, uc, threshold: float | None = 0.5, summary: bool = True) -> int:
    evaluation = {"threshold": threshold if summary else None}
    registry = registry_for(store, uc)
    m = registry.register(dumps_model(fitted())[0], evaluation=evaluation, comparison={"blessed": True},
                          qa={"passed": True}, lineage={})
    if not summary:  # an older manifest without the summary copy: evaluation.json still holds it
        key = registry.manifest(m["version"])["artifacts"]["evaluation.json"]["key"]
        doc = {"candidate": {"threshold": threshold}, "champion": None, "comparison": {}}
        data = json.dumps(doc).encode()
        store.write_bytes(key, data)
        manifest = registry.manifest(m["version"])
        from include.lifecycle.store import sha256_bytes

        manifest["artifacts"]["evaluation.json"]["sha256"] = sha256_bytes(data)
        store.write_bytes(f"{registry.prefix}/versions/{m['version']}/manifest.json", json.dumps(manifest).encode())
    return m["version"]


def features(store, uc, xs) -> None:
    store.write_frame(features_key(uc, DAY), pd.DataFrame({"cid": [f"c{i}" for i in range(len(xs))], "x": xs}))


def test_no_champion_means_nothing_scores(store, uc) -> None:
    register(store, uc)
    with pytest.raises(NoChampionError, match="model 'tiny' has no champion yet"):
        resolve_champion(store, uc)


def test_the_champion_is_resolved_with_its_model_hash(store, uc) -> None:
    register(store, uc)
    register(store, uc)
    registry_for(store, uc).promote(2, actor="sme")
    champ = resolve_champion(store, uc)
    assert champ == {"model": "tiny", "version": 2, "model_sha256": registry_for(store, uc).manifest(2)["model_sha256"]}


def test_the_threshold_comes_from_the_manifest_then_the_evaluation(store, uc) -> None:
    registry = registry_for(store, uc)
    assert decision_threshold(registry, register(store, uc, 0.37)) == 0.37
    assert decision_threshold(registry, register(store, uc, 0.22, summary=False)) == 0.22
    with pytest.raises(ScoringError, match="no decision threshold"):
        decision_threshold(registry, register(store, uc, None, summary=False))


def test_labels_are_negative_then_positive(uc, override, churn_uc) -> None:
    assert label_values(uc) == ("No", "Yes")
    flipped = override(uc, dataset={**uc.raw["dataset"], "labels": ["Yes", "No"]})
    assert label_values(flipped) == ("No", "Yes")
    with pytest.raises(ScoringError, match="needs a label other than 'Yes'"):
        label_values(override(uc, dataset={**uc.raw["dataset"], "labels": ["Yes"]}))


def test_positive_index_follows_the_classes() -> None:
    class M:
        classes_ = np.array([1, 0])

    assert positive_index(M()) == 0
    assert positive_index(object()) == 1  # no classes_: (0, 1)
    M.classes_ = np.array([0, 2])
    with pytest.raises(ScoringError, match="do not include the positive class 1"):
        positive_index(M())


class Fixed:
    """predict_proba returns the frame's ``p`` column as the positive class (second column)."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame):
        p = frame["p"].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])


def test_a_score_on_the_threshold_is_positive() -> None:
    frames = [pd.DataFrame({"cid": [1, 2, 3], "p": [0.3, 0.29999, 0.9]})]
    moment = datetime(2026, 1, 20, 6, 0, tzinfo=UTC)
    (out,) = score_frame_chunks(Fixed(), frames, id_column="cid", threshold=0.3, labels=("No", "Yes"),
                                model_version=4, scored_at=moment)
    assert out["predicted_label"].tolist() == ["Yes", "No", "Yes"]
    assert out["score"].tolist() == [0.3, 0.29999, 0.9]
    assert out["cid"].tolist() == ["1", "2", "3"] and out["model_version"].tolist() == [4, 4, 4]
    assert out["model_version"].dtype == "int64"
    assert list(out.columns) == ["cid", "score", "predicted_label", "model_version", "scored_at"]
    assert (out["scored_at"] == pd.Timestamp(moment)).all()


def test_chunks_skip_empty_frames_and_need_the_id() -> None:
    frames = [pd.DataFrame({"cid": [], "p": []}), pd.DataFrame({"cid": ["a"], "p": [0.1]})]
    outs = list(score_frame_chunks(Fixed(), frames, id_column="cid", threshold=0.5, model_version=1,
                                   scored_at=datetime(2026, 1, 1)))
    assert len(outs) == 1 and outs[0]["predicted_label"].tolist() == [0]  # default labels (0, 1)
    assert str(outs[0]["scored_at"].iloc[0]) == "2026-01-01 00:00:00+00:00"  # naive = UTC
    with pytest.raises(ScoringError, match="lacks the id column 'cid'"):
        list(score_frame_chunks(Fixed(), [pd.DataFrame({"p": [0.1]})], id_column="cid", threshold=0.5,
                                model_version=1))
    before = pd.Timestamp.now(tz="UTC")
    (now,) = score_frame_chunks(Fixed(), [pd.DataFrame({"cid": ["a"], "p": [0.6]})], id_column="cid",
                                threshold=0.5, model_version=1)
    assert before <= now["scored_at"].iloc[0] <= pd.Timestamp.now(tz="UTC")
    berlin = pd.Timestamp("2026-01-01 07:00", tz="Europe/Berlin").to_pydatetime()
    (conv,) = score_frame_chunks(Fixed(), [pd.DataFrame({"cid": ["a"], "p": [0.6]})], id_column="cid",
                                 threshold=0.5, model_version=1, scored_at=berlin)
    assert str(conv["scored_at"].iloc[0]) == "2026-01-01 06:00:00+00:00"


def test_prediction_schema() -> None:
    schema = prediction_schema("cid")
    assert schema.names == ["cid", "score", "predicted_label", "model_version", "scored_at"]
    assert schema.field("predicted_label").type == pa.string() and schema.field("cid").type == pa.string()
    assert schema.field("score").type == pa.float64() and schema.field("model_version").type == pa.int64()
    assert schema.field("scored_at").type == pa.timestamp("us", tz="UTC")
    assert prediction_schema("cid", pa.int64()).field("predicted_label").type == pa.int64()


def test_score_partition_labels_every_row_with_the_version_and_threshold(store, uc) -> None:
    version = register(store, uc, 0.5)
    features(store, uc, [0.0, 0.2, 0.8, 1.0, 0.45])
    out = score_partition(store, uc, DAY, version, chunk_rows=2)
    frame = pd.read_parquet(store.local_path(predictions_key(uc, DAY)))
    assert out["rows"] == 5 and out["chunks"] == 3 and out["threshold"] == 0.5 and out["version"] == version
    assert out["predictions_key"] == predictions_key(uc, DAY) and out["date"] == DAY
    assert out["model_sha256"] == registry_for(store, uc).manifest(version)["model_sha256"]
    assert out["sha256"] == store.sha256(predictions_key(uc, DAY))
    assert frame["predicted_label"].tolist() == ["No", "No", "Yes", "Yes", "No"]
    assert frame["cid"].tolist() == [f"c{i}" for i in range(5)] and set(frame["model_version"]) == {version}
    assert ((frame["score"] >= 0.5) == (frame["predicted_label"] == "Yes")).all()
    assert frame["scored_at"].nunique() == 1 and str(frame["scored_at"].iloc[0]) == \
        str(pd.Timestamp(out["scored_at"]).floor("us"))
    assert pq.ParquetFile(store.local_path(predictions_key(uc, DAY))).metadata.num_row_groups == 3
    stricter = register(store, uc, 1.01)  # above every score: nobody is flagged
    assert score_partition(store, uc, DAY, stricter)["chunks"] == 1
    assert set(pd.read_parquet(store.local_path(predictions_key(uc, DAY)))["predicted_label"]) == {"No"}


def test_score_partition_refuses_what_it_cannot_score(store, uc) -> None:
    version = register(store, uc)
    with pytest.raises(ScoringError, match="^chunk_rows must be at least 1$"):
        score_partition(store, uc, DAY, version, chunk_rows=0)
    with pytest.raises(ScoringError, match="no features partition"):
        score_partition(store, uc, DAY, version)
    features(store, uc, [0.1])
    with pytest.raises(ScoringError, match="manifest sha256 differs from the resolved one"):
        score_partition(store, uc, DAY, version, model_sha256="0" * 64)
    sha = registry_for(store, uc).manifest(version)["model_sha256"]
    assert score_partition(store, uc, DAY, version, chunk_rows=1, model_sha256=sha)["rows"] == 1
    store.write_frame(features_key(uc, DAY), pd.DataFrame({"cid": ["a"], "other": [1.0]}))
    with pytest.raises(ScoringError, match=r"lacks columns \['x'\]"):
        score_partition(store, uc, DAY, version)


def test_numeric_labels_keep_their_type(store, uc, override) -> None:
    numeric = override(uc, dataset={**uc.raw["dataset"], "positive_label": 1, "labels": [0, 1]})
    version = register(store, numeric)
    features(store, numeric, [0.1, 0.9])
    score_partition(store, numeric, DAY, version)
    table = pq.read_table(store.local_path(predictions_key(numeric, DAY)))
    assert table.schema.field("predicted_label").type == pa.int64()
    assert table.column("predicted_label").to_pylist() == [0, 1]


def test_the_published_partition_is_readable_by_others_and_leaves_no_temp_file(store, uc) -> None:
    version = register(store, uc)
    features(store, uc, [0.2, 0.7, 0.9])
    out = score_partition(store, uc, DAY, version)
    path = store.local_path(predictions_key(uc, DAY))
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["predictions.parquet"]
    assert out["seconds"] >= 0 and out["seconds"] == round(out["seconds"], 3)
    assert datetime.fromisoformat(out["scored_at"]).tzinfo is not None


def test_shadow_scores_go_to_the_versions_own_partition_and_never_to_the_served_one(store, uc) -> None:
    served = register(store, uc, 0.5)
    challenger = register(store, uc, 0.9)
    features(store, uc, [0.1, 0.55, 0.8])  # scores ~0.001, ~0.72, ~0.996
    score_partition(store, uc, DAY, served)
    before = store.sha256(predictions_key(uc, DAY))
    out = score_partition(store, uc, DAY, challenger, shadow=True)
    key = shadow_predictions_key(uc, DAY, challenger)
    assert out["predictions_key"] == key and out["shadow"] is True and out["version"] == challenger
    assert out["threshold"] == 0.9 and out["rows"] == 3 and out["sha256"] == store.sha256(key)
    assert store.sha256(predictions_key(uc, DAY)) == before  # what serves and monitors read is untouched
    table = pq.read_table(store.local_path(key))
    assert table.schema.names == ["cid", "score", "predicted_label", "model_version", "scored_at", "shadow"]
    assert table.schema.field("shadow").type == pa.bool_()
    assert table.column("shadow").to_pylist() == [True, True, True]
    assert table.column("predicted_label").to_pylist() == ["No", "No", "Yes"]  # the challenger's own threshold
    assert pd.read_parquet(store.local_path(predictions_key(uc, DAY)))["predicted_label"].tolist() == ["No", "Yes", "Yes"]
    assert table.column("model_version").to_pylist() == [challenger] * 3
    assert score_partition(store, uc, DAY, served)["shadow"] is False
    assert "shadow" not in pq.read_schema(store.local_path(predictions_key(uc, DAY))).names


def test_the_threshold_is_read_from_the_manifest_alone_when_it_holds_one(store, uc) -> None:
    registry = registry_for(store, uc)
    version = register(store, uc, 0.37)
    key = registry.manifest(version)["artifacts"]["evaluation.json"]["key"]
    store.local_path(key).unlink()  # scoring needs the manifest's summary, not the evaluation document
    assert decision_threshold(registry, version) == 0.37


def test_scores_come_from_the_positive_class_column_whatever_the_class_order() -> None:
    class Flipped(Fixed):
        classes_ = np.array([1, 0])

        def predict_proba(self, frame):
            return super().predict_proba(frame)[:, ::-1]  # column 0 is the positive class

    (out,) = score_frame_chunks(Flipped(), [pd.DataFrame({"cid": ["a", "b"], "p": [0.8, 0.1]})], id_column="cid",
                                threshold=0.5, labels=("No", "Yes"), model_version=1)
    assert out["score"].tolist() == [0.8, 0.1] and out["predicted_label"].tolist() == ["Yes", "No"]


def test_scored_at_is_utc_now_on_a_host_in_another_time_zone(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        before = pd.Timestamp.now(tz="UTC")
        (out,) = score_frame_chunks(Fixed(), [pd.DataFrame({"cid": ["a"], "p": [0.6]})], id_column="cid",
                                    threshold=0.5, model_version=1)
        assert before <= out["scored_at"].iloc[0] <= pd.Timestamp.now(tz="UTC")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_partition_is_written_beside_its_target_under_a_hidden_temporary_name(store, uc, monkeypatch) -> None:
    import tempfile

    made = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        made.append(Path(name))
        return fd, name

    version = register(store, uc)
    features(store, uc, [0.2, 0.7])
    monkeypatch.setattr(tempfile, "mkstemp", spy)
    started = time.perf_counter()
    out = score_partition(store, uc, DAY, version)
    elapsed = time.perf_counter() - started
    (tmp,) = made  # one file: the partition, renamed into place (atomic: the same directory)
    assert tmp.parent == store.local_path(predictions_key(uc, DAY)).parent
    assert tmp.name.startswith(".predictions.") and tmp.name.endswith(".parquet.tmp")  # no reader globs it
    assert 0 < out["seconds"] <= elapsed + 0.0005 and isinstance(out["seconds"], float)  # rounded to ms


def test_a_store_without_local_files_is_scored_through_a_download_and_an_upload(store, uc) -> None:
    class Remote(type(store)):
        """The same files, seen as a store that offers no local path (as S3 does)."""

        def local_path(self, key):
            return None

    remote = Remote(store.base)
    version = register(store, uc, 0.5)
    features(store, uc, [0.1, 0.8])
    out = score_partition(remote, uc, DAY, version)
    assert out["rows"] == 2 and out["sha256"] == store.sha256(predictions_key(uc, DAY))
    assert pd.read_parquet(store.local_path(predictions_key(uc, DAY)))["predicted_label"].tolist() == ["No", "Yes"]
