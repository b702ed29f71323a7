"""After promotion, through a running Airflow: scoring and monitoring follow the assets on their own.

With the drift scenario off, a new day is scored and monitored and no retraining is requested. With it on,
the replayed days cause: drift detected -> alert received -> retrain requested -> a new candidate -> an
approval pending. Runs after test_1_training_approval (which leaves a champion in the registry).
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import dag_id

pytestmark = pytest.mark.e2e

USE_CASE = "churn"
TRAINING = dag_id("model_training", USE_CASE)


def _wait_for(predicate, timeout: float, what: str, diagnose=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{diagnose()}")


def _load(airflow, day: str) -> None:
    run_id = airflow.trigger(dag_id("data_acquisition"), user="data_engineer", partition_key=day)
    assert airflow.wait_run(dag_id("data_acquisition"), run_id, timeout=400) == "success", airflow.diagnose(
        dag_id("data_acquisition"), run_id)


def _decisions(store):
    from include.lifecycle.config import load_use_case
    from include.lifecycle.watch.retraining import decision_history

    return decision_history(store, load_use_case(USE_CASE))


def _runs_summary(airflow) -> str:
    return "\n".join(f"{d}: {[(r['run_type'], r['state']) for r in airflow.runs(dag_id(d))[:6]]}"
                     for d in ("feature_engineering", "batch_scoring", "model_monitoring", "model_training"))


def _retrain_runs(airflow) -> list[dict]:
    """Training runs that monitoring triggered (their conf says so), newest first."""
    return [r for r in airflow.runs(TRAINING) if "requested by monitoring" in str((r.get("conf") or {}).get("note"))]


@pytest.fixture(scope="module")
def champion(airflow, store):
    from include.lifecycle.config import load_use_case
    from include.lifecycle.model.registry import registry_for

    registry = registry_for(store, load_use_case(USE_CASE))
    version = registry.alias_version("champion")
    if version is None:
        pytest.fail("no champion: run tests/e2e/test_1_training_approval.py first (it promotes one)")
    return version


def test_no_drift_no_retrain(airflow, store, champion):
    decisions_before = len(_decisions(store))
    _load(airflow, "2026-01-03")
    result_key = f"monitoring/{USE_CASE}/date=2026-01-03/result.json"
    _wait_for(lambda: store.exists(f"predictions/{USE_CASE}/date=2026-01-03/predictions.parquet"), 300,
              "batch scoring of 2026-01-03", lambda: _runs_summary(airflow))
    _wait_for(lambda: store.exists(result_key), 300, "monitoring of 2026-01-03", lambda: _runs_summary(airflow))
    _wait_for(lambda: len(_decisions(store)) > decisions_before, 120, "a retrain decision",
              lambda: _runs_summary(airflow))
    result = store.read_json(result_key)
    assert result["breaches"] == [], result["breaches"]
    assert store.exists(result["report_key"]) and store.read_text(result["report_key"]).lstrip().startswith("<")
    decision = _decisions(store)[-1]
    assert decision["retrain"] is False and decision["reasons"]
    predictions = store.read_frame(f"predictions/{USE_CASE}/date=2026-01-03/predictions.parquet")
    assert set(predictions["model_version"]) == {champion}
    assert {"score", "predicted_label", "scored_at", "customer_id"} <= set(predictions.columns)
    assert not _retrain_runs(airflow)


def test_drift_is_detected_alerted_and_triggers_retraining_up_to_the_gate(airflow, store, champion, receivers):
    smtp, hook = receivers
    airflow.ok("PATCH", "/variables/lifecycle_drift_churn", json={"key": "lifecycle_drift_churn", "value": "true"})
    try:
        for day in ("2026-01-04", "2026-01-05", "2026-01-06"):
            _load(airflow, day)
        incoming = store.read_frame(f"raw/{USE_CASE}/date=2026-01-06/accepted.parquet")
        assert (incoming["contract"] == "Month-to-month").mean() > 0.7  # the scenario really reached the batch

        runs = _wait_for(lambda: _retrain_runs(airflow), 600, "a retrain-triggered model_training run", lambda: _runs_summary(airflow))
        results = [store.read_json(k) for k in store.list(f"monitoring/{USE_CASE}/") if k.endswith("result.json")]
        drifted = [r for r in results if "dataset_drift" in r["breaches"] or "prediction_drift" in r["breaches"]]
        assert drifted, [(r["date"], r["breaches"]) for r in results]
        assert any(c in drifted[-1]["drifted_columns"] for c in ("monthly_charges", "contract"))
        yes = [d for d in _decisions(store) if d["retrain"]]
        assert yes and yes[-1]["reasons"]
        mails = smtp.messages
        assert any("drift" in m.subject.lower() for m in mails), [m.subject for m in mails]
        assert any("report" in m.body.lower() and "monitoring" in m.body for m in mails if "drift" in m.subject.lower())

        run_id = runs[0]["dag_run_id"]
        airflow.wait_task(TRAINING, run_id, "sme_approval", {"awaiting_input", "deferred"}, timeout=600)
        pending = airflow.pending_approvals(TRAINING, run_id)
        assert pending and "v" in pending[0]["subject"]
        airflow.answer(TRAINING, run_id, "sme_approval", "Reject", "wait for the pricing team",
                       user="sme_alice")
    finally:
        airflow.ok("PATCH", "/variables/lifecycle_drift_churn",
                   json={"key": "lifecycle_drift_churn", "value": "false"})
