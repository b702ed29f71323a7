"""OpenLineage datasets and facets built from the steps' real results, and the way they reach the listener.

The chain test runs the library's own steps (validation, features, training, registration, promotion) on a
temporary store and checks that every input names the version its producer wrote, so a reader of the events
can walk from the champion back to the raw partitions.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from include.lifecycle import layout, steps
from include.lifecycle.data import validation
from include.lifecycle.model.features import build_features_partition
from include.lifecycle.model.registry import registry_for
from include.lifecycle.store import sha256_bytes
from lifecycle_ops import lineage

DATA = Path(__file__).resolve().parents[1] / "data"
START = date(2026, 1, 1)


def as_json(dataset) -> dict:
    from openlineage.client.serde import Serde

    return json.loads(Serde.to_json(dataset))


def key_of(dataset) -> tuple[str, str, str | None]:
    d = as_json(dataset)
    return d["namespace"], d["name"], d.get("facets", {}).get("version", {}).get("datasetVersion")


# -- naming and footers ---------------------------------------------------------------------------------------
def test_names_follow_the_openlineage_spec(store, s3_store):
    key = "raw/churn/date=2026-01-01/accepted.parquet"
    assert lineage.dataset_id(store, key) == ("file", str(store.base / key))  # "date=" unescaped, absolute path
    bucket = s3_store.bucket
    assert lineage.dataset_id(s3_store, key) == (f"s3://{bucket}", f"lifecycle/{key}")
    assert lineage.uri_id("sql table t where d = '2026-01-01'") == ("source", "sql table t where d = '2026-01-01'")


@pytest.mark.parametrize("where", ["local", "s3"])
def test_parquet_footer_gives_schema_rows_and_size_without_data_pages(where, store, s3_store, monkeypatch):
    target = store if where == "local" else s3_store
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(500)], "tenure": [float(i) for i in range(500)],
                          "partner": [i % 2 for i in range(500)]})
    target.write_frame("f/x.parquet", frame)
    size = len(target.read_bytes("f/x.parquet"))
    from lifecycle_ops import lineage_datasets

    monkeypatch.setattr(lineage_datasets, "FOOTER_TAIL", 64)  # smaller than the footer: the second ranged read
    fields, rows, got = lineage.parquet_footer(target, "f/x.parquet")
    assert fields == [("customer_id", "string"), ("tenure", "double"), ("partner", "int64")]
    assert (rows, got) == (500, size)


# -- validation: schema, GX assertions, row counts --------------------------------------------------------
def test_validation_reports_the_gx_result_as_assertions_on_the_batch(store, churn_uc):
    day = "2026-01-15"
    data = (DATA / "churn_out_of_range.csv").read_bytes()
    store.write_bytes(layout.incoming_batch_key(churn_uc, day), data)
    result = validation.validate_batch(store, churn_uc, day)
    assert result["quarantined"] > 0
    (batch,), outputs = lineage.datasets("validate", churn_uc, store, result)

    b = as_json(batch)
    assert b["name"].endswith(layout.incoming_batch_key(churn_uc, day))
    assert b["facets"]["version"]["datasetVersion"] == sha256_bytes(data)
    assert b["inputFacets"]["inputStatistics"]["rowCount"] == result["received"]
    assert [f["name"] for f in b["facets"]["schema"]["fields"]] == [churn_uc.id_column, *churn_uc.columns]
    expectations = store.read_json(layout.validation_result_key(churn_uc, day))["expectations"]
    assertions = b["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert len(assertions) == len(expectations) > 5
    assert {(a["assertion"], a.get("column"), a["success"]) for a in assertions} == {
        (e["expectation"], e["column"], e["success"]) for e in expectations}
    failed = [a for a in assertions if not a["success"]]
    assert failed and all(a["severity"] == "warn" for a in failed)  # row-level: the batch went on

    by_name = {as_json(o)["name"].rsplit(f"{churn_uc.name}/date={day}/", 1)[-1]: as_json(o) for o in outputs}
    accepted = by_name["accepted.parquet"]
    assert accepted["facets"]["version"]["datasetVersion"] == result["accepted_sha256"]
    assert accepted["outputFacets"]["outputStatistics"]["rowCount"] == result["accepted"]
    assert {f["name"]: f["type"] for f in accepted["facets"]["schema"]["fields"]}["tenure"] == "double"
    assert by_name["rows.parquet"]["outputFacets"]["outputStatistics"]["rowCount"] == result["quarantined"]
    assert {"reasons.json", "result.json", "report.html"} <= set(by_name)


# -- the training chain: every input names the version its producer wrote ----------------------------------
@pytest.fixture
def trained(store, small_uc, sample):
    """Raw partitions -> features -> training run -> registered -> champion, with each step's result."""
    uc, results = small_uc, {"build": []}
    days = [START + timedelta(days=i) for i in range(3)]
    for day, part in zip(days, [sample.iloc[i::3] for i in range(3)], strict=True):
        store.write_frame(layout.accepted_key(uc, day), part.drop(columns=[uc.target]).reset_index(drop=True))
        store.write_frame(layout.labels_key(uc, day), part[[uc.id_column, uc.target]])
        results["build"].append(build_features_partition(store, uc, day))
    run = steps.run_training_lifecycle(store, uc, days[-1], "run-1")
    version = run["register"]["version"]
    registry_for(store, uc).promote(version, actor="sme")
    results.update(run, evaluate=run["evaluation"], move_champion={"version": version, "previous": None, "event": "promoted"})
    return uc, results, days


def upstream(events: list[dict], start: tuple[str, str, str | None]) -> tuple[set, set]:
    """Every dataset ``start`` was made from (walking each input to the runs whose output it is), and the leaves.

    An input that names a version follows only producers that wrote that version or did not say which (the
    replayed source's files carry none); the e2e test walks the emitted event files with this too.
    """
    producers: dict[tuple[str, str], list[tuple[str | None, list[dict]]]] = {}
    for event in events:
        for o in event.get("outputs") or []:
            version = (o.get("facets") or {}).get("version", {}).get("datasetVersion")
            producers.setdefault((o["namespace"], o["name"]), []).append((version, event.get("inputs") or []))
    seen, leaves, todo = set(), set(), [start]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        made = [ins for v, ins in producers.get(node[:2], []) if None in (node[2], v) or v == node[2]]
        if not made:
            leaves.add(node)
        todo += [(i["namespace"], i["name"], (i.get("facets") or {}).get("version", {}).get("datasetVersion"))
                 for ins in made for i in ins]
    return seen, leaves


def test_lineage_walks_from_the_champion_back_to_the_raw_partitions(store, trained):
    uc, r, days = trained
    best = r["best"]
    reported = [lineage.datasets("build", uc, store, b) for b in r["build"]]
    reported += [lineage.datasets("assemble", uc, store, r["assemble"])]
    reported += [lineage.datasets("train_candidate", uc, store, c, run_id="run-1") for c in r["candidates"]]
    reported += [lineage.datasets(s, uc, store, r[s], run_id="run-1", best=best) for s in ("evaluate", "package")]
    reported += [lineage.datasets(s, uc, store, r[s], run_id="run-1") for s in ("register", "move_champion")]
    events = [{"inputs": [as_json(i) for i in ins], "outputs": [as_json(o) for o in outs]} for ins, outs in reported]

    manifest = registry_for(store, uc).manifest(r["register"]["version"])
    champion = next(o for _, outs in reported for o in outs if key_of(o)[1].endswith("aliases/champion.json"))
    facet = as_json(champion)["facets"]["lifecycle_model"]
    assert (facet["version"], facet["sha256"], facet["alias"]) == (manifest["version"], manifest["model_sha256"],
                                                                   "champion")
    seen, leaves = upstream(events, key_of(champion))
    raw = {n for n in leaves if n[1].endswith("accepted.parquet")}
    assert leaves - raw == {n for n in leaves if n[1].endswith("labels.parquet")}  # nothing else is unexplained
    assert {layout.date_of(name) for _, name, _ in raw} == {p["date"] for p in manifest["lineage"]["features"]}
    assert {layout.date_of(name) for _, name, _ in raw} == {d.isoformat() for d in days}
    assert all(version == store.sha256(layout.accepted_key(uc, layout.date_of(name))) for _, name, version in raw)
    passed = {name for _, name, _ in seen}
    for key in (f"{layout.package_prefix(uc, 'run-1')}/model.skops", layout.train_set_key(uc, "run-1"),
                best["model_key"], layout.manifest_key(uc.model_name, manifest["version"])):
        assert str(store.local_path(key)) in passed, key


def test_model_datasets_carry_version_and_sha256(store, trained):
    uc, r, _ = trained
    _, outs = lineage.datasets("register", uc, store, r["register"], run_id="run-1")
    manifest = as_json(outs[0])
    assert manifest["name"].endswith(layout.manifest_key(uc.model_name, r["register"]["version"]))
    facet = manifest["facets"]["lifecycle_model"]
    assert facet["_schemaURL"] == lineage.MODEL_FACET_SCHEMA_URL
    assert facet["sha256"] == registry_for(store, uc).manifest(r["register"]["version"])["model_sha256"]
    assert facet["stage"] == "registered" and facet["qaPassed"] is r["register"]["qa_passed"]
    assert set(facet) - {"_producer", "_schemaURL"} <= set(
        lineage.MODEL_FACET_SCHEMA["$defs"]["LifecycleModelDatasetFacet"]["allOf"][1]["properties"])
    ins, outs = lineage.datasets("assemble", uc, store, r["assemble"])
    train = as_json(outs[0])
    assert train["outputFacets"]["outputStatistics"]["rowCount"] == r["assemble"]["train_rows"]
    assert len(ins) == 6 and all(as_json(i)["inputFacets"]["inputStatistics"]["rowCount"] > 0 for i in ins)


# -- EDA profiles: the rows they sampled, their HTML and JSON ---------------------------------------------------
def _probe():
    from airflow.sdk import DAG, task

    with DAG("lineage_profile_probe", schedule=None):
        @task
        def profile() -> None: ...

        return profile().operator


def test_the_partition_profile_task_reports_the_accepted_rows_and_its_html_and_json(store, trained, monkeypatch):
    """The task body as the acquisition DAG runs it, on a validated day, with a champion to stand beside."""
    from lifecycle_ops.tasks.acquisition import profile_partition

    uc, r, _ = trained
    day = "2026-01-15"
    store.write_bytes(layout.incoming_batch_key(uc, day), (DATA / "churn_out_of_range.csv").read_bytes())
    validated = validation.validate_batch(store, uc, day)
    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(store.base))
    operator = _probe()
    context = {"task": operator, "run_id": "scheduled__1", "partition_key": day, "params": {}}
    result = profile_partition(context, "churn", validated)
    assert result["status"] == "ok" and result["reference_version"] == r["register"]["version"]

    by_name = {key_of(o)[1]: as_json(o) for o in operator.outlets}
    assert set(by_name) == {str(store.local_path(k)) for k in (layout.profile_key(uc, day),
                                                               layout.profile_summary_key(uc, day))}
    assert all(o["outputFacets"]["outputStatistics"]["size"] > 0 for o in by_name.values())
    accepted, champion = (as_json(i) for i in operator.inlets)
    assert accepted["name"] == str(store.local_path(layout.accepted_key(uc, day)))
    assert accepted["facets"]["version"]["datasetVersion"] == validated["accepted_sha256"]  # what validate wrote
    assert accepted["inputFacets"]["inputStatistics"]["rowCount"] == result["rows_profiled"] == validated["accepted"]
    assert champion["facets"]["lifecycle_model"]["stage"] == "champion"
    assert champion["facets"]["version"]["datasetVersion"] == str(r["register"]["version"])
    # the walk from the profile reaches the delivered batch through validation
    events = [{"inputs": [as_json(i) for i in ins], "outputs": [as_json(o) for o in outs]} for ins, outs in (
        lineage.datasets("validate", uc, store, validated), (operator.inlets, operator.outlets))]
    _, leaves = upstream(events, key_of(operator.outlets[0]))
    assert str(store.local_path(layout.incoming_batch_key(uc, day))) in {name for _, name, _ in leaves}


def test_the_training_set_profile_reports_the_assembled_set_and_a_failure_its_note(store, trained):
    from include.lifecycle.data.profile import profile_training_set, record_failure

    uc, r, days = trained
    result = profile_training_set(store, uc, "run-1")
    ins, outs = lineage.datasets("profile_training_set", uc, store, result, run_id="run-1")
    train = as_json(ins[0])
    assert train["name"] == str(store.local_path(layout.train_set_key(uc, "run-1")))
    assert train["facets"]["version"]["datasetVersion"] == key_of(
        lineage.datasets("assemble", uc, store, r["assemble"])[1][0])[2]  # the version assemble wrote
    assert [key_of(o)[1] for o in outs] == [str(store.local_path(k)) for k in (
        layout.training_profile_key(uc, "run-1"), layout.training_profile_summary_key(uc, "run-1"))]
    events = [{"inputs": [as_json(i) for i in i_], "outputs": [as_json(o) for o in o_]} for i_, o_ in (
        *(lineage.datasets("build", uc, store, b) for b in r["build"]),
        lineage.datasets("assemble", uc, store, r["assemble"]), (ins, outs))]
    _, leaves = upstream(events, key_of(outs[0]))
    raw = {layout.date_of(name) for _, name, _ in leaves if name.endswith("accepted.parquet")}
    assert raw == {d.isoformat() for d in days}  # the profile goes back to the raw partitions it was made of

    note = record_failure(store, layout.training_profile_summary_key(uc, "run-1"), "the training set of run-1",
                          ValueError("unreadable"))
    failed_ins, failed_outs = lineage.datasets("profile_training_set", uc, store, {**note, "run_id": "run-1"})
    assert [key_of(o)[1] for o in failed_outs] == [str(store.local_path(note["summary_key"]))]
    assert key_of(failed_ins[0])[1] == train["name"]


# -- reaching the listener -----------------------------------------------------------------------------------
def test_report_puts_datasets_on_the_running_task_and_keeps_assets_apart(store, trained):
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.sdk import DAG, Asset, task
    from airflow.sdk.execution_time.task_runner import _build_asset_profiles

    uc, r, _ = trained
    with DAG("lineage_probe", schedule=None):
        @task(outlets=[Asset(name="features/churn")])
        def build() -> None: ...

        operator = build().operator
    context = {"task": operator, "run_id": "manual__1"}
    for _ in range(2):  # a second execute in the same process replaces, never accumulates
        assert lineage.report(context, "build", r["build"][0], uc=uc, store=store) is r["build"][0]
    assert len(operator.inlets) == 1 and len(operator.outlets) == 3  # the asset + features + source.json

    manager = ExtractorManager()
    assert manager.get_extractor_class(operator) is None  # so the manager falls back to inlets / outlets
    metadata = OperatorLineage()
    manager.extract_inlets_and_outlets(metadata, operator)
    assert metadata.inputs == operator.inlets and metadata.outputs == operator.outlets[1:]
    assert [p.name for p in _build_asset_profiles(operator.outlets)] == ["features/churn"]  # asset events unchanged


def test_events_keep_every_facet_through_the_providers_redaction(store, trained):
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.serde import Serde

    uc, r, _ = trained
    ins, outs = lineage.datasets("register", uc, store, r["register"], run_id="run-1")
    event = RunEvent(eventType=RunState.COMPLETE, eventTime="2026-01-01T00:00:00+00:00", inputs=ins, outputs=outs,
                     run=Run(runId="01932f4e-0000-7000-8000-000000000000"), job=Job(namespace="lifecycle", name="j"))
    sent = json.loads(Serde.to_json(OpenLineageAdapter()._redacter.redact(event, max_depth=20)))
    assert sent["outputs"][0]["facets"]["lifecycle_model"] == as_json(outs[0])["facets"]["lifecycle_model"]
    assert sent["inputs"][0]["facets"]["version"]["datasetVersion"] == r["package"]["model_sha256"]


def test_lineage_never_fails_the_task(store, small_uc, caplog):
    class Task:
        inlets: list = []
        outlets: list = []

    result = {"date": "2026-01-01", "rows": 3, "features_key": "features/x.parquet"}  # no source.json written
    with caplog.at_level(logging.WARNING, logger=lineage.__name__):
        assert lineage.report({"task": Task(), "run_id": "r"}, "build", result, uc=small_uc, store=store) is result
    assert "lineage of build not reported" in caplog.text
    assert lineage.report({}, "deliver", {"skipped": "simulate_source is off"}) == {"skipped": "simulate_source is off"}


def test_platform_sends_events_to_files_under_the_home_unless_told_otherwise(tmp_path):
    from scripts.lineage_settings import events_dir, openlineage_env

    env = openlineage_env(tmp_path, {})
    transport = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport["type"] == "file" and transport["append"] is False
    assert Path(transport["log_file_path"]).parent == events_dir(tmp_path) and events_dir(tmp_path).is_dir()
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "lifecycle"
    http = json.loads(openlineage_env(tmp_path, {"LIFECYCLE_OPENLINEAGE_URL": "http://marquez:5000"})[
        "AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert http == {"type": "http", "url": "http://marquez:5000", "endpoint": "api/v1/lineage"}
    given = '{"type": "console"}'
    assert openlineage_env(tmp_path, {"LIFECYCLE_OPENLINEAGE_TRANSPORT": given})[
        "AIRFLOW__OPENLINEAGE__TRANSPORT"] == given
