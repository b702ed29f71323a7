"""The lifecycle's wiring, per use case: task graphs, schedules and outlets, so a moved gate fails in seconds.

These pin what the e2e suite can only find out in minutes: the SME gate sits between register and promote (and
before every move of the champion alias), each stage is scheduled on the asset of the stage before it, and each
stage announces exactly the asset the next one listens to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USE_CASES = ("churn", "credit")


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def edges(dag) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


def outlets(dag, task_id: str) -> set[str]:
    return {o.name for o in dag.get_task(task_id).outlets}


def upstream_closure(dag, task_id: str) -> set[str]:
    seen: set[str] = set()
    todo = [task_id]
    while todo:
        for up in dag.get_task(todo.pop()).upstream_task_ids:
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


def schedule_assets(dag) -> set[str]:
    """Names of the assets a DAG's schedule listens to (an asset, or an all/any of them)."""
    def walk(cond) -> set[str]:
        if cond is None:
            return set()
        if hasattr(cond, "objects"):
            return set().union(*(walk(c) for c in cond.objects))
        return {cond.name}

    return walk(getattr(dag.timetable, "asset_condition", None))


@pytest.mark.parametrize("uc", USE_CASES)
def test_acquisition(dags, uc):
    from airflow.sdk import CronPartitionTimetable

    dag = dags[f"{uc}__data_acquisition"]
    assert edges(dag) == {("deliver_source_batch", "acquire"), ("acquire", "validate"),
                          ("deliver_source_batch", "ingest_labels"), ("validate", "publish"),
                          ("ingest_labels", "publish"), ("validate", "profile")}
    # the analyst's profile hangs off validate beside publish: features never wait for it
    assert "profile" not in upstream_closure(dag, "publish") and not dag.get_task("profile").downstream_task_ids
    assert isinstance(dag.timetable, CronPartitionTimetable)
    assert dag.timetable.key_format == "%Y-%m-%d" and dag.timetable.run_offset == -1
    assert outlets(dag, "publish") == {f"raw/{uc}"}
    assert all(not outlets(dag, t.task_id) for t in dag.tasks if t.task_id != "publish")


@pytest.mark.parametrize("uc", USE_CASES)
def test_features_are_built_once_per_raw_partition(dags, uc):
    from airflow.sdk import PartitionedAssetTimetable

    dag = dags[f"{uc}__feature_engineering"]
    assert isinstance(dag.timetable, PartitionedAssetTimetable)
    assert schedule_assets(dag) == {f"raw/{uc}"}
    assert edges(dag) == {("build_features", "reconcile")}
    assert outlets(dag, "build_features") == outlets(dag, "reconcile") == {f"features/{uc}"}


@pytest.mark.parametrize("uc", USE_CASES)
def test_training_gate_sits_between_register_and_promote(dags, uc):
    from lifecycle_ops.approval import SMEApprovalOperator

    dag = dags[f"{uc}__model_training"]
    assert edges(dag) == {("assemble", "train_candidate"), ("train_candidate", "select_best"),
                          ("assemble", "profile_training_set"), ("profile_training_set", "select_best"),
                          ("select_best", "evaluate"), ("select_best", "package"), ("evaluate", "package"),
                          ("package", "register"), ("register", "shadow_evidence"),
                          ("shadow_evidence", "sme_approval"), ("sme_approval", "promote")}
    gate = dag.get_task("sme_approval")
    assert isinstance(gate, SMEApprovalOperator) and gate.source_task_id == "register"
    assert gate.shadow_task_id == "shadow_evidence"
    # waiting for live evidence must not hold a worker slot for days, and a timeout drops the request (skip)
    sensor = dag.get_task("shadow_evidence")
    assert sensor.mode == "reschedule" and sensor.soft_fail and sensor.timeout >= 86400
    # it looks as often as the YAML says (approval.shadow.check_every_minutes), 30 minutes by default
    from include.lifecycle.config import load_use_case

    shadow_cfg = load_use_case(uc).raw["approval"].get("shadow") or {}
    assert sensor.poke_interval == 60 * float(shadow_cfg.get("check_every_minutes", 30))
    assert {"force_without_shadow", "force_reason"} <= set(dag.params)
    assert gate.use_case_name == uc
    assert outlets(dag, "register") == {f"model/{uc}@challenger"}
    assert outlets(dag, "promote") == {f"model/{uc}@champion"}
    assert dag.get_task("train_candidate").pool == f"lifecycle_training__{uc}"
    # the training set's profile runs beside the candidates (not in their pool) and lands in the experiment record
    assert dag.get_task("profile_training_set").pool == "default_pool"
    assert dag.max_active_runs == 1


@pytest.mark.parametrize("uc", USE_CASES)
@pytest.mark.parametrize("stage", ["model_training", "model_rollback"])
def test_every_champion_move_is_behind_the_gate(dags, uc, stage):
    dag = dags[f"{uc}__{stage}"]
    movers = [t.task_id for t in dag.tasks if f"model/{uc}@champion" in outlets(dag, t.task_id)]
    assert movers, "no task announces a champion move"
    for task_id in movers:
        assert "sme_approval" in dag.get_task(task_id).upstream_task_ids, f"{task_id} does not wait for the gate"


@pytest.mark.parametrize("uc", USE_CASES)
def test_rollback(dags, uc):
    dag = dags[f"{uc}__model_rollback"]
    assert edges(dag) == {("resolve_target", "sme_approval"), ("sme_approval", "apply_rollback")}
    assert dag.get_task("sme_approval").source_task_id == "resolve_target"
    assert type(dag.timetable).__name__ == "NullTimetable", "rollback runs only when a person triggers it"


@pytest.mark.parametrize("uc", USE_CASES)
def test_scoring_follows_features_and_the_champion(dags, uc):
    from airflow.sdk import PartitionedAssetTimetable

    dag = dags[f"{uc}__batch_scoring"]
    assert isinstance(dag.timetable, PartitionedAssetTimetable)
    assert schedule_assets(dag) == {f"features/{uc}"}
    assert edges(dag) == {("resolve_champion", "score"), ("resolve_champion", "shadow_score"),
                          ("score", "shadow_score")}
    assert outlets(dag, "score") == {f"predictions/{uc}"}
    # the challenger's shadow scores announce nothing (monitoring listens to predictions) and wait for serving
    assert not outlets(dag, "shadow_score") and dag.get_task("shadow_score").pool == f"lifecycle_scoring__{uc}"
    catchup = dags[f"{uc}__scoring_catchup"]
    assert schedule_assets(catchup) == {f"model/{uc}@champion"}
    assert edges(catchup) == {("resolve_champion", "unscored"), ("resolve_champion", "score"),
                              ("unscored", "score")}
    assert outlets(catchup, "score") == {f"predictions/{uc}"}


@pytest.mark.parametrize("uc", USE_CASES)
def test_monitoring_follows_predictions_and_triggers_training(dags, uc):
    from airflow.sdk import PartitionedAssetTimetable

    dag = dags[f"{uc}__model_monitoring"]
    assert isinstance(dag.timetable, PartitionedAssetTimetable)
    assert schedule_assets(dag) == {f"predictions/{uc}"}
    assert edges(dag) == {("monitor", "decide"), ("decide", "request_retrain")}
    assert outlets(dag, "request_retrain") == {f"retrain-requested/{uc}"}


def test_use_cases_never_share_assets_pools_or_dags(dags):
    by_uc: dict[str, set[str]] = {}
    for dag_id, dag in dags.items():
        uc = dag_id.split("__")[0]
        names = {o.name for t in dag.tasks for o in t.outlets} | schedule_assets(dag)
        names |= {t.pool for t in dag.tasks if t.pool != "default_pool"}
        by_uc.setdefault(uc, set()).update(names)
    assert by_uc["churn"] and by_uc["credit"]
    assert not by_uc["churn"] & by_uc["credit"]
    assert all("churn" in n for n in by_uc["churn"]) and all("credit" in n for n in by_uc["credit"])


@pytest.mark.parametrize("use_case", USE_CASES)
def test_nightly_training_never_starts_at_deploy_time(dags, use_case, monkeypatch):
    """Deployed half an hour after the nightly tick, the first scheduled training is the next night's.

    A run started at deploy time holds ``max_active_runs=1`` against the one a data scientist just asked for
    (found in CI: deployed at 04:20, the 02:00 run started and the manual run stayed queued).
    """
    from datetime import UTC, datetime, timedelta

    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables import trigger
    from airflow.timetables.base import TimeRestriction

    dag = dags[f"{use_case}__model_training"]
    timetable = decode_timetable(encode_timetable(dag.timetable))  # what the scheduler runs
    tick = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # the bundled YAMLs train nightly at 02:00 UTC
    for after in (timedelta(minutes=1), timedelta(minutes=30), timedelta(hours=2, minutes=20)):
        monkeypatch.setattr(trigger, "utcnow", lambda after=after: tick + after)
        info = timetable.next_dagrun_info(last_automated_data_interval=None,
                                          restriction=TimeRestriction(earliest=None, latest=None, catchup=False))
        assert info is not None and info.run_after == tick + timedelta(days=1), (after, info)
