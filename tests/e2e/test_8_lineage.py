"""The promoted model's lineage, read back from the OpenLineage events the running platform wrote.

Runs in the session of ``test_1_training_approval.py`` (which promotes a churn champion and rolls back to it). The
file transport writes one JSON file per event under ``<airflow home>/openlineage/``; from the champion alias this
walks each input to the task run whose output it is (matching the dataset version where one is named) back to the
raw partitions, and checks them and the facets against the model version's manifest and the stored results.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from include.lifecycle import layout
from scripts.lineage_settings import events_dir
from tests.unit.test_lineage import upstream

pytestmark = pytest.mark.e2e

USE_CASE = "churn"


def _version(dataset: dict) -> str | None:
    return (dataset.get("facets") or {}).get("version", {}).get("datasetVersion")


def _complete_events(home: Path) -> list[dict]:
    events = []
    for path in sorted(events_dir(home).glob("*.json")):
        event = json.loads(path.read_text())
        if event.get("eventType") == "COMPLETE":
            events.append(event)
    return sorted(events, key=lambda e: e["eventTime"])


def _made_by(events: list[dict], node: tuple[str, str, str | None]) -> list[tuple[dict, dict]]:
    """(event, output) pairs that wrote ``node``."""
    return [(e, o) for e in events for o in e.get("outputs") or []
            if (o["namespace"], o["name"]) == node[:2] and node[2] in (None, _version(o))]


@pytest.fixture(scope="module")
def champion(platform, store):
    """The champion's manifest, once the listener (it runs after the task reports success) has written its event."""
    from include.lifecycle.config import load_use_case
    from include.lifecycle.model.registry import registry_for

    registry = registry_for(store, load_use_case(USE_CASE))
    version = registry.alias_version("champion")
    assert version is not None, "test_1_training_approval promotes a champion first; run it in the same session"
    node = ("file", str(store.local_path(layout.alias_key(registry.name, "champion"))), str(version))
    deadline = time.monotonic() + 60
    while not (events := _complete_events(platform.home)) or not _made_by(events, node):
        assert time.monotonic() < deadline, f"no COMPLETE event wrote {node} in {events_dir(platform.home)}"
        time.sleep(2)
    return registry.manifest(version), node, events


def test_events_are_files_under_the_airflow_home(platform, champion):
    files = sorted(p.name for p in events_dir(platform.home).glob("*.json"))
    assert any(f.endswith(f"-{USE_CASE}__model_training.register-COMPLETE.json") for f in files), files[:20]
    assert any(f.endswith(f"-{USE_CASE}__model_training.register-START.json") for f in files)
    _, _, events = champion
    assert {e["job"]["namespace"] for e in events} == {"lifecycle"}


def test_champion_traces_back_to_the_raw_partitions_it_was_trained_on(champion, store):
    manifest, node, events = champion
    writes = _made_by(events, node)
    assert {e["job"]["name"] for e, _ in writes} <= {f"{USE_CASE}__model_training.promote",
                                                       f"{USE_CASE}__model_rollback.apply_rollback"}
    facet = writes[-1][1]["facets"]["lifecycle_model"]
    assert (facet["version"], facet["sha256"]) == (manifest["version"], manifest["model_sha256"])

    seen, _ = upstream(events, node)
    jobs = {e["job"]["name"].split(".", 1)[1] for n in seen for e, _ in _made_by(events, n)}
    assert {"promote", "register", "package", "train_candidate", "assemble", "build_features", "validate",
            "acquire", "ingest_labels"} <= jobs, jobs
    # The model's own training set goes back to exactly the raw partitions it was trained on...
    train_set = next(n for n in seen if n[1].endswith(layout.train_set_key(USE_CASE, manifest["run_id"])))
    own, _ = upstream(events, train_set)
    raw = {n for n in own if f"/raw/{USE_CASE}/date=" in n[1] and n[1].endswith("/accepted.parquet")}
    trained_on = {p["date"] for p in manifest["lineage"]["features"]}
    assert {layout.date_of(n[1]) for n in raw} == trained_on
    for _, name, version in raw:  # the very rows validation accepted that day
        assert version == store.read_json(layout.validation_result_key(USE_CASE, layout.date_of(name)))[
            "accepted_sha256"]
    features = {(layout.date_of(n[1]), n[2]) for n in own if n[1].endswith("/features.parquet")}
    assert features == {(p["date"], p["sha256"]) for p in manifest["lineage"]["features"]}
    # ...and the model as a whole also to the champion it was evaluated against, and so on back: every raw
    # partition upstream of it is one that this version or one of those champions was trained on.
    from include.lifecycle.config import load_use_case
    from include.lifecycle.model.registry import registry_for

    registry, chain, version = registry_for(store, load_use_case(USE_CASE)), [], manifest["version"]
    while version is not None and version not in chain:
        chain.append(version)
        version = (registry.manifest(version).get("evaluation_summary") or {}).get("champion_version")
    days = {p["date"] for v in chain for p in registry.manifest(v)["lineage"]["features"]}
    upstream_raw = {layout.date_of(n[1]) for n in seen if f"/raw/{USE_CASE}/date=" in n[1]
                    and n[1].endswith("/accepted.parquet")}
    assert trained_on <= upstream_raw <= days, (chain, sorted(upstream_raw - days))


def test_facets_on_the_way(champion, store):
    from include.lifecycle.config import load_use_case

    uc = load_use_case(USE_CASE)
    manifest, node, events = champion
    seen, _ = upstream(events, node)
    by_name = {n[1].split(f"{store.base}/", 1)[-1]: n for n in seen}

    # The model version and the package it came from carry the version and the sha256 of the model bytes.
    registered = _made_by(events, by_name[layout.manifest_key(manifest["model"], manifest["version"])])
    facet = registered[0][1]["facets"]["lifecycle_model"]
    assert (facet["stage"], facet["version"], facet["sha256"]) == ("registered", manifest["version"],
                                                                   manifest["model_sha256"])
    package = by_name[f"{layout.package_prefix(uc, manifest['run_id'])}/model.skops"]
    assert package[2] == manifest["model_sha256"]

    # Row counts: the training set as the manifest recorded it.
    train = _made_by(events, by_name[layout.train_set_key(uc, manifest["run_id"])])[0][1]
    assert train["outputFacets"]["outputStatistics"]["rowCount"] == manifest["lineage"]["train_rows"]
    assert [f["name"] for f in train["facets"]["schema"]["fields"]][:2] == [uc.id_column, uc.feature_columns[0]]

    # Each raw partition: schema from its footer, rows, and the GX result on the batch it was validated from.
    for name, raw in by_name.items():
        if not (name.startswith(f"raw/{USE_CASE}/") and name.endswith("accepted.parquet")):
            continue
        result = store.read_json(layout.validation_result_key(uc, layout.date_of(name)))
        (event, written), *_ = _made_by(events, raw)
        assert event["job"]["name"] == f"{USE_CASE}__data_acquisition.validate"
        assert written["outputFacets"]["outputStatistics"]["rowCount"] == result["accepted"]
        assert [f["name"] for f in written["facets"]["schema"]["fields"]] == [uc.id_column, *uc.feature_columns]
        (batch,) = event["inputs"]
        assert batch["name"].endswith(layout.incoming_batch_key(uc, layout.date_of(name)))
        assertions = batch["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert [(a["assertion"], a.get("column"), a["success"]) for a in assertions] == [
            (e["expectation"], e["column"], e["success"]) for e in result["expectations"]]
        assert batch["inputFacets"]["inputStatistics"]["rowCount"] == result["received"]
