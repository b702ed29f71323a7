"""The lifecycle through a running Airflow, as its users drive it: over the REST API.

A data engineer loads the replay's first days; asset events start feature engineering; a data scientist
triggers training; the SME gate goes pending under Required actions; SMEs answer it over the REST API
exactly as the UI does. Scenarios: approve (alias moved, ledger, notification), a user who is not assigned
(refused), reject (no promotion, downstream skipped), artifact altered after the request (promotion refused),
and no answer before the deadline (rejected).
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import dag_id, use_case_registry

pytestmark = pytest.mark.e2e

USE_CASE = "churn"
HISTORY_DAY = "2025-12-31"  # the replay's already-labelled history partition
DAYS = [HISTORY_DAY, "2026-01-01", "2026-01-02"]
ACQUISITION, TRAINING, ROLLBACK = (dag_id(s, USE_CASE) for s in ("data_acquisition", "model_training",
                                                                 "model_rollback"))


@pytest.fixture(scope="module")
def loaded_data(airflow, store):
    """Acquire the first partitions through data_acquisition; feature engineering follows on the asset."""
    runs = [airflow.trigger(ACQUISITION, user="data_engineer", partition_key=day) for day in DAYS]
    for run_id in runs:
        state = airflow.wait_run(ACQUISITION, run_id, timeout=400)
        assert state == "success", airflow.diagnose(ACQUISITION, run_id)
    # Feature engineering is scheduled on the raw asset; wait until every partition has features.
    deadline = time.monotonic() + 300
    missing = DAYS
    while time.monotonic() < deadline:
        missing = [d for d in DAYS if not store.exists(f"features/{USE_CASE}/date={d}/features.parquet")]
        if not missing:
            break
        time.sleep(3)
    fe_runs = airflow.runs(dag_id("feature_engineering"))
    assert not missing, f"no features for {missing}; feature_engineering runs: " + str(
        [(r["dag_run_id"], r["state"], r["run_type"]) for r in fe_runs])
    assert any(r["run_type"] == "asset_triggered" for r in fe_runs), "feature engineering was not asset-triggered"
    return DAYS


def _train_until_gate(airflow, conf=None) -> str:
    run_id = airflow.trigger(TRAINING, {"partition_date": DAYS[-1], "note": "e2e", **(conf or {})},
                             user="admin")
    airflow.wait_task(TRAINING, run_id, "sme_approval", {"awaiting_input", "deferred"}, timeout=600)
    return run_id


def test_data_acquisition_counts_add_up(airflow, loaded_data, store):
    for day in loaded_data:
        result = store.read_json(f"validation/{USE_CASE}/date={day}/result.json")
        assert result["received"] == result["accepted"] + result["quarantined"]
        assert result["received"] > 0
    assert store.exists(f"labels/{USE_CASE}/date={HISTORY_DAY}/labels.parquet")


def test_approve_promotes_with_ledger_and_notification(airflow, loaded_data, store, receivers):
    smtp, hook = receivers
    registry = use_case_registry(store, USE_CASE)
    run_id = _train_until_gate(airflow)

    pending = airflow.pending_approvals(TRAINING, run_id)
    assert len(pending) == 1, pending
    request = pending[0]
    registered = airflow.xcom(TRAINING, run_id, "register")
    version = registered["version"]
    assert f"v{version}" in request["subject"]
    assert "roc_auc" in request["body"] and "Model card" in request["body"], request["body"]
    # Each slice judged on its own, with its interval; a churn slice under 0.6 is a warning the SME reads.
    assert "own threshold: roc_auc >= 0.6, a miss warns only" in request["body"], request["body"]
    from include.lifecycle.layout import evaluation_key

    comparison = store.read_json(evaluation_key(USE_CASE, run_id, "comparison"))
    assert comparison["blessed"]
    for warning in comparison["warnings"]:
        assert warning in request["body"]
    assert {u["id"] for u in request["assigned_users"]} == {"sme_alice", "sme_bob"}
    assert registry.alias_version("champion") is None

    # The approval-pending notification reached both channels.
    assert any("approval" in m.subject.lower() and f"v{version}" in m.body for m in smtp.wait_for(1, timeout=30))

    # An SME who is not assigned is refused by Airflow, and the gate stays pending.
    refused = airflow.answer(TRAINING, run_id, "sme_approval", "Approve", "looks fine", user="mallory")
    assert refused.status_code == 403, refused.text
    assert airflow.pending_approvals(TRAINING, run_id)

    answered = airflow.answer(TRAINING, run_id, "sme_approval", "Approve",
                              "Recall on month-to-month customers is what we need.", user="sme_alice")
    assert answered.status_code == 200, answered.text
    assert airflow.wait_run(TRAINING, run_id, timeout=300) == "success", airflow.diagnose(
        TRAINING, run_id)

    assert registry.alias_version("champion") == version
    events = [(e["event"], e["version"], e["actor"]) for e in registry.ledger()]
    assert ("approval_requested", version, "lifecycle") in events
    assert ("approved", version, "sme_alice") in events
    assert ("promoted", version, "sme_alice") in events
    approved = next(e for e in registry.ledger() if e["event"] == "approved" and e["version"] == version)
    assert approved["comment"].startswith("Recall on month-to-month")
    assert approved["hashes"]["model_sha256"] == registry.manifest(version)["model_sha256"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("promot" in r.body.decode(errors="replace").lower()
                                                   for r in hook.requests):
        time.sleep(1)
    assert any(f"v{version}" in r.body.decode(errors="replace") and "promot" in r.body.decode(errors="replace").lower()
               for r in hook.requests), [r.body[:200] for r in hook.requests]


def test_reject_skips_promotion_and_is_recorded(airflow, loaded_data, store):
    registry = use_case_registry(store, USE_CASE)
    champion_before = registry.alias_version("champion")
    run_id = _train_until_gate(airflow)
    version = airflow.xcom(TRAINING, run_id, "register")["version"]
    resp = airflow.answer(TRAINING, run_id, "sme_approval", "Reject", "Not before the pricing change.",
                          user="sme_bob")
    assert resp.status_code == 200, resp.text
    airflow.wait_run(TRAINING, run_id, timeout=300)
    states = airflow.task_states(TRAINING, run_id)
    assert states["promote"] == "skipped", states
    assert registry.alias_version("champion") == champion_before
    rejected = [e for e in registry.ledger() if e["event"] == "rejected" and e["version"] == version]
    assert rejected and rejected[0]["actor"] == "sme_bob" and "pricing" in rejected[0]["comment"]


def test_artifact_altered_after_request_refuses_promotion(airflow, loaded_data, store, receivers):
    smtp, _ = receivers
    registry = use_case_registry(store, USE_CASE)
    champion_before = registry.alias_version("champion")
    run_id = _train_until_gate(airflow)
    version = airflow.xcom(TRAINING, run_id, "register")["version"]
    key = registry.manifest(version)["artifacts"]["model.skops"]["key"]
    store.write_bytes(key, store.read_bytes(key) + b"tampered")
    resp = airflow.answer(TRAINING, run_id, "sme_approval", "Approve", "ok", user="sme_alice")
    assert resp.status_code == 200, resp.text
    assert airflow.wait_run(TRAINING, run_id, timeout=300) == "failed"
    assert airflow.task_states(TRAINING, run_id)["promote"] == "failed"
    assert registry.alias_version("champion") == champion_before
    refused = [e for e in registry.ledger() if e["event"] == "promotion_refused" and e["version"] == version]
    assert refused and "sha256" in refused[-1]["comment"], refused
    assert any("refused" in m.subject.lower() or "refused" in m.body.lower() for m in smtp.wait_for(1, timeout=30))


def test_no_answer_before_the_deadline_is_a_reject(airflow, loaded_data, store):
    registry = use_case_registry(store, USE_CASE)
    champion_before = registry.alias_version("champion")
    run_id = _train_until_gate(airflow, {"approval_timeout_hours": 0.005})  # 18 s
    version = airflow.xcom(TRAINING, run_id, "register")["version"]
    airflow.wait_run(TRAINING, run_id, timeout=240)
    assert airflow.task_states(TRAINING, run_id)["promote"] == "skipped"
    assert registry.alias_version("champion") == champion_before
    entry = [e for e in registry.ledger() if e["event"] == "rejected" and e["version"] == version]
    assert entry and entry[-1]["actor"] == "timeout" and entry[-1]["details"]["timed_out"] is True


def test_rollback_to_previous_goes_through_the_gate_and_the_ledger_answers_when(airflow, loaded_data, store):
    from datetime import UTC, datetime

    registry = use_case_registry(store, USE_CASE)
    first = registry.alias_version("champion")
    assert first is not None, "the approve scenario should have promoted a champion"
    run_id = _train_until_gate(airflow)
    second = airflow.xcom(TRAINING, run_id, "register")["version"]
    assert airflow.answer(TRAINING, run_id, "sme_approval", "Approve", "retrained on more days",
                          user="sme_bob").status_code == 200
    assert airflow.wait_run(TRAINING, run_id, timeout=300) == "success"
    assert registry.alias_version("champion") == second
    between = datetime.now(UTC).isoformat()

    rb = airflow.trigger(ROLLBACK, {"target_version": "previous", "reason": "complaints from the call centre"},
                         user="admin")
    airflow.wait_task(ROLLBACK, rb, "sme_approval", {"awaiting_input", "deferred"}, timeout=240)
    pending = airflow.pending_approvals(ROLLBACK, rb)
    assert pending and f"v{first}" in pending[0]["subject"] and "call centre" in pending[0]["body"]
    assert airflow.answer(ROLLBACK, rb, "sme_approval", "Approve", "roll back until we understand it",
                          user="sme_alice").status_code == 200
    assert airflow.wait_run(ROLLBACK, rb, timeout=240) == "success", airflow.diagnose(ROLLBACK, rb)

    assert registry.alias_version("champion") == first
    rolled = [e for e in registry.ledger() if e["event"] == "rolled_back"]
    assert rolled and rolled[-1]["version"] == first and rolled[-1]["actor"] == "sme_alice"
    assert registry.champion_at(between) == second
    assert registry.champion_at(datetime.now(UTC).isoformat()) == first
    assert second in registry.versions()  # the replaced champion stays available
