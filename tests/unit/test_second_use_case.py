"""A second, differently shaped real dataset runs through the whole training lifecycle with only its YAML and
data file: credit scoring (application_id, Status good/bad, 13 features with real missing values) next to churn."""

from __future__ import annotations

import pytest

from include.lifecycle import steps
from include.lifecycle.config import load_use_case
from include.lifecycle.data import acquisition, replay, sources, validation
from include.lifecycle.model import features
from include.lifecycle.model.registry import registry_for
from include.lifecycle.store import open_store


@pytest.mark.parametrize("name", ["credit"])
def test_a_new_use_case_is_a_yaml_and_a_data_file(tmp_path, name):
    uc = load_use_case(name)
    churn = load_use_case("churn")
    assert uc.id_column != churn.id_column and uc.target != churn.target
    assert not set(uc.feature_columns) & set(churn.feature_columns)

    store = open_store(str(tmp_path / "store"))
    source = sources.LocalLandingSource(store)
    days = replay.replay_dates(uc)[:2]  # the labelled history and the first daily batch
    received = accepted = 0
    for day in days:
        replay.publish(store, uc, day)
        acquisition.acquire(store, uc, day, source)
        result = validation.validate_batch(store, uc, day)
        assert result["received"] == result["accepted"] + result["quarantined"]
        received += result["received"]
        accepted += result["accepted"]
        acquisition.ingest_labels(store, uc, day, source)
        features.build_features_partition(store, uc, day)
    assert accepted > 1000 and accepted / received > 0.95

    out = steps.run_training_lifecycle(store, uc, days[-1], run_id="credit-1")
    registered = out["register"]
    assert registered["blessed"] and registered["qa_passed"], registered["reasons"]
    registry = registry_for(store, uc)
    manifest = registry.manifest(registered["version"])
    assert manifest["metrics"]["roc_auc"] >= uc.section("evaluation")["thresholds"]["roc_auc"]["min"]
    model = registry.load_model(registered["version"])
    rows = store.read_frame(f"features/{uc.name}/date={days[-1]}/features.parquet").head(20)
    scores = model.predict_proba(rows)[:, 1]
    assert scores.shape == (20,) and ((scores >= 0) & (scores <= 1)).all()
