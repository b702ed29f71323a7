"""Faults on a running embedded Airflow, in the order a bad day brings them, on one lifecycle.

1. 20 REST triggers, 10 at a time, while acquisition runs: none may fail (SQLite lock waits, RELIABILITY.md).
2. The triggerer and the DAG processor are SIGKILLed and restarted: parsing resumes and the day flows on.
3. The scheduler (with its LocalExecutor task processes) is SIGKILLed while a candidate trains, then
   restarted: the run still reaches the SME gate.
4. The API server is SIGKILLed while the approval is pending and restarted: still pending, and answerable
   at once (no waiting for Airflow to settle); the run promotes.
5. Afterwards: one registered version, one request, one approval, one promotion, one pending-approval alert.
6. A second training run answered the moment its request appears: still one request, alert, decision, promotion.
7. A rollback approved while a third version waits at its gate: that approval is refused as stale afterwards.
8. No secret of the platform in any log, artifact, alert or lineage event of all that.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import use_case_registry
from tests.faults.conftest import kill_component, restart_component, wait_for
from tests.faults.load import burst, summary

pytestmark = pytest.mark.faults

DAY = "2025-12-31"  # the replay's labelled history partition
ACQUISITION, TRAINING = "churn__data_acquisition", "churn__model_training"
BURST_TARGET = "credit__model_rollback"  # paused during the burst: its runs stay queued, only the writes count


def test_rest_burst_while_a_lifecycle_runs(faulty):
    api, state = faulty["api"], faulty["state"]
    api.ok("PATCH", f"/dags/{BURST_TARGET}", json={"is_paused": True})
    state["acq"] = acq = api.trigger(ACQUISITION, user="data_engineer", partition_key=DAY)
    wait_for(lambda: "running" in api.task_states(ACQUISITION, acq).values(), 240, "acquisition to run a task")
    answers = burst(api, BURST_TARGET, count=20, concurrency=10, conf={"reason": "load test"})
    result = summary(answers)
    print(f"REST burst while acquisition runs: {result}")
    assert result["by_status"] == {"200": 20}, result
    listed = {r["dag_run_id"] for r in api.runs(BURST_TARGET)}
    assert {a.run_id for a in answers} <= listed, "a run answered 200 but is not in the DAG's runs"
    for a in answers:  # leave the platform as it was: the rollback DAG never runs them
        api.ok("DELETE", f"/dags/{BURST_TARGET}/dagRuns/{a.run_id}")


def test_triggerer_and_dag_processor_recover(faulty):
    plat, api, store, state = faulty["platform"], faulty["api"], faulty["store"], faulty["state"]
    killed_at = datetime.now(UTC)
    for component in ("triggerer", "dag-processor"):
        kill_component(plat, component)
        restart_component(plat, component)

    def reparsed():
        parsed = api.ok("GET", f"/dags/{TRAINING}").get("last_parsed_time")
        return parsed and datetime.fromisoformat(parsed.replace("Z", "+00:00")) > killed_at

    wait_for(reparsed, 180, "the restarted DAG processor to parse the DAGs again", interval=3)
    assert not api.ok("GET", "/importErrors")["total_entries"]
    assert api.wait_run(ACQUISITION, state["acq"], timeout=400) == "success", api.diagnose(ACQUISITION, state["acq"])
    wait_for(lambda: store.exists(f"features/churn/date={DAY}/features.parquet"), 300, "features of the day")
    assert {"triggerer", "dag-processor"} <= set(plat.running())


def test_scheduler_killed_mid_training_still_reaches_the_gate(faulty):
    plat, api, state = faulty["platform"], faulty["api"], faulty["state"]
    state["run"] = run = api.trigger(TRAINING, {"partition_date": DAY, "note": "fault suite"})

    def training_a_candidate():
        if api.run(TRAINING, run)["state"] in ("success", "failed"):
            raise AssertionError(api.diagnose(TRAINING, run))
        return any(k.startswith("train_candidate") and s == "running" for k, s in api.task_states(TRAINING, run).items())

    wait_for(training_a_candidate, 420, "a candidate to be training", interval=0.5)
    killed = kill_component(plat, "scheduler")
    print(f"SIGKILLed the scheduler and {len(killed) - 1} descendants while a candidate trained")
    restart_component(plat, "scheduler")
    api.wait_task(TRAINING, run, "sme_approval", {"awaiting_input"}, timeout=600)


def test_api_server_restart_keeps_the_approval_pending_and_answerable(faulty):
    plat, api, state = faulty["platform"], faulty["api"], faulty["state"]
    run = state["run"]
    assert len(api.pending_approvals(TRAINING, run)) == 1
    kill_component(plat, "api-server")
    restart_component(plat, "api-server")
    wait_for(lambda: _healthy(plat), 180, "the API server to answer again", interval=1)
    pending = api.pending_approvals(TRAINING, run)
    assert len(pending) == 1, pending
    # At once, without waiting for Airflow to settle: the gate must not lose an answer that lands early.
    answered = api.request("PATCH", f"/dags/{TRAINING}/dagRuns/{run}/taskInstances/sme_approval/-1/hitlDetails",
                           user="sme_alice", json={"chosen_options": ["Approve"],
                                                   "params_input": {"comment": "Approved during the fault drill."}})
    assert answered.status_code == 200, answered.text
    assert api.wait_run(TRAINING, run, timeout=400) == "success", api.diagnose(TRAINING, run)


def test_one_version_one_request_one_promotion(faulty):
    api, store, state = faulty["api"], faulty["store"], faulty["state"]
    registry = use_case_registry(store, "churn")
    events = [(e["event"], e["version"]) for e in registry.ledger()]
    version = api.xcom(TRAINING, state["run"], "register")["version"]
    assert [e for e in events if e[0] == "registered"] == [("registered", version)], events
    assert [e for e in events if e[0] == "approval_requested"] == [("approval_requested", version)], events
    assert [e for e in events if e[0] in ("approved", "rejected")] == [("approved", version)], events
    assert [e for e in events if e[0] == "promoted"] == [("promoted", version)], events
    assert registry.alias_version("champion") == version
    pending_alerts = [k for k in store.list("alerts/sent/") if store.read_json(k)["alert"]["kind"] == "approval_pending"
                      and store.read_json(k)["alert"]["run_id"] == state["run"]]
    assert len(pending_alerts) == 1, pending_alerts


def test_an_answer_given_the_moment_the_request_appears_is_applied_once(faulty):
    """The Airflow 3.3 race (an answer landing before the executor reported the parking process's exit) must cost
    nothing: one request, one alert, one decision, one promotion, whichever try applies it."""
    api, store = faulty["api"], faulty["store"]
    run = api.trigger(TRAINING, {"partition_date": DAY, "note": "fault suite: immediate answer"})
    api.wait_task(TRAINING, run, "sme_approval", {"awaiting_input"}, timeout=600)
    pending = wait_for(lambda: api.pending_approvals(TRAINING, run), 60, "the request to be visible", interval=0.2)
    answered = api.request("PATCH", f"/dags/{TRAINING}/dagRuns/{run}/taskInstances/sme_approval/-1/hitlDetails",
                           user="sme_bob", json={"chosen_options": ["Approve"],
                                                 "params_input": {"comment": "Answered the moment it appeared."}})
    started = pending[0]["task_instance"].get("start_date") or ""
    age = (datetime.now(UTC) - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds() if started else -1
    print(f"answered {age:.1f}s after the gate's try started")
    assert answered.status_code == 200, answered.text
    assert api.wait_run(TRAINING, run, timeout=600) == "success", api.diagnose(TRAINING, run)
    gate = api.ok("GET", f"/dags/{TRAINING}/dagRuns/{run}/taskInstances/sme_approval")
    print(f"sme_approval finished on try {gate['try_number']}")
    version = api.xcom(TRAINING, run, "register")["version"]
    gate_events = ("approval_requested", "approved", "rejected", "approval_refused", "promoted", "promotion_refused")
    mine = [e["event"] for e in use_case_registry(store, "churn").ledger() if e["version"] == version and e["event"] in gate_events]
    assert mine == ["approval_requested", "approved", "promoted"], mine
    alerts = [k for k in store.list("alerts/sent/") if store.read_json(k)["alert"]["kind"] == "approval_pending"
              and store.read_json(k)["alert"]["run_id"] == run]
    assert len(alerts) == 1, alerts


def test_a_rollback_while_an_approval_is_pending_makes_that_approval_stale(faulty):
    """Training runs of a use case run one at a time (``max_active_runs=1``); what races is a rollback, through
    its own gate, while a retrained version waits for its SME. The champion moves once per approval: the
    rollback moves it, and the approval given afterwards is refused, with the reason in the ledger, the task log
    and an alert, because that version was judged against a champion that is no longer champion."""
    api, store = faulty["api"], faulty["store"]
    registry = use_case_registry(store, "churn")
    judged_against = registry.alias_version("champion")
    assert judged_against is not None and len(registry.versions()) >= 2, "tests 3-6 should have promoted twice"
    run = api.trigger(TRAINING, {"partition_date": DAY, "note": "fault suite: rollback race"})
    api.wait_task(TRAINING, run, "sme_approval", {"awaiting_input"}, timeout=600)
    candidate = api.xcom(TRAINING, run, "register")["version"]

    rollback_dag = "churn__model_rollback"
    rb = api.trigger(rollback_dag, {"target_version": "previous", "reason": "fault drill: the champion misbehaves"})
    api.wait_task(rollback_dag, rb, "sme_approval", {"awaiting_input"}, timeout=300)
    assert api.answer(rollback_dag, rb, "sme_approval", "Approve", "roll back while v3 waits",
                      user="sme_alice").status_code == 200
    assert api.wait_run(rollback_dag, rb, timeout=300) == "success", api.diagnose(rollback_dag, rb)
    rolled_to = registry.alias_version("champion")
    assert rolled_to not in (None, judged_against)

    assert api.answer(TRAINING, run, "sme_approval", "Approve", "approved after the rollback, unaware of it",
                      user="sme_bob").status_code == 200
    assert api.wait_run(TRAINING, run, timeout=400) == "failed", api.diagnose(TRAINING, run)
    assert api.task_states(TRAINING, run)["promote"] == "failed"
    assert registry.alias_version("champion") == rolled_to  # the stale approval moved nothing
    mine = [e for e in registry.ledger() if e["version"] == candidate and e["event"] != "challenger_set"]
    assert [e["event"] for e in mine] == ["registered", "approval_requested", "approved", "promotion_refused"], mine
    reason = mine[-1]["comment"]
    assert f"the champion is v{rolled_to} now" in reason and f"made against v{judged_against}" in reason, reason
    moves = [e for e in registry.ledger() if e["event"] in ("promoted", "rolled_back")]
    approvals = [e for e in registry.ledger() if e["event"] == "approved"]
    assert len(moves) == len(approvals) - 1, (moves, approvals)  # every approval but the stale one moved it once
    refused = [store.read_json(k)["alert"] for k in store.list("alerts/sent/")
               if store.read_json(k)["alert"]["kind"] == "promotion_refused"]
    assert [a["run_id"] for a in refused] == [run] and f"v{rolled_to} now" in refused[0]["summary"], refused


def _healthy(plat) -> bool:
    import requests

    try:
        return requests.get(f"{plat.base_url}/api/v2/monitor/health", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def test_no_secret_in_any_log_artifact_alert_or_lineage_event(faulty):
    """The platform's own secrets (JWT/API/Fernet keys, every login's password) appear nowhere a person or a
    log shipper reads: task and component logs, the artifact store, alerts received, OpenLineage events."""
    plat, store, smtp, hook = faulty["platform"], faulty["store"], faulty["smtp"], faulty["hook"]
    secrets = json.loads((plat.home / "secrets.json").read_text())
    values = {f"secret {k}": v for k, v in secrets.items()}
    values.update({f"password of {u}": p for u, p in plat.ensure_passwords().items()})
    values.update({f"env {k}": v for k, v in plat.env().items()
                   if k.endswith(("PASSWORD", "SECRET", "SECRET_KEY", "ACCESS_KEY_ID")) and len(v) >= 8})
    assert len(values) >= 8, values.keys()
    places: dict[str, bytes] = {}
    for folder in (plat.home / "logs", plat.home / "openlineage"):
        for path in folder.rglob("*") if folder.exists() else []:
            if path.is_file():
                places[str(path)] = path.read_bytes()
    for key in store.list():
        places[store.uri(key)] = store.read_bytes(key)
    places.update({f"e-mail {i}": m.raw for i, m in enumerate(smtp.messages)})
    assert smtp.messages and all(m.auth_login == "alerts" for m in smtp.messages)  # the password was used
    places.update({f"webhook {i}": r.body for i, r in enumerate(hook.requests)})
    assert any("task_id=" in p or "/dag_id=" in p for p in places), "no task log was scanned"
    leaks = [(what, where) for where, data in places.items() for what, value in values.items()
             if value.encode() in data]
    print(f"scanned {len(places)} files/messages ({sum(map(len, places.values())) / 1e6:.1f} MB) for "
          f"{len(values)} secrets")
    assert not leaks, leaks[:20]
