"""After promotion, through a running Airflow: scoring and monitoring follow the assets on their own.

With the drift scenario off, a new day is scored and monitored and no retraining is requested. With it on,
the replayed days cause: drift detected -> alert received -> retrain requested -> a new candidate. The use
case asks for shadow evidence (``approval.shadow``, switched on in its YAML as an operator would), so the
candidate first shadows the champion on two more live days; once a day's labels have matured the SME request
opens with the live comparison, and the SME approves. The champion's predictions and monitoring never saw
the shadow. Runs after test_1_training_approval (which leaves a champion in the registry).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from scripts.rest_client import wait_for
from tests.e2e.conftest import dag_id, use_case_registry

pytestmark = pytest.mark.e2e

USE_CASE = "churn"
TRAINING = dag_id("model_training", USE_CASE)
SHADOW_DAYS = ("2026-01-20", "2026-01-21")  # outside the days other modules load (test_5 backfills 01-07..01-16)
# One day of matured labels (~66 rows a day) is enough here; the sensor looks every 15 s instead of every 30 min.
SHADOW = {"min_days": 1, "min_labelled_rows": 30, "check_every_minutes": 0.25}


@contextmanager
def shadow_required(platform):
    """approval.shadow switched on in the platform's own churn YAML for the duration, then off again. Tasks read
    the YAML when they run, so no restart is needed (the DAG processor re-parses the file too)."""
    path = Path(platform.extra_env["LIFECYCLE_CONFIG_DIR"]) / f"{USE_CASE}.yaml"
    original = path.read_text()
    raw = yaml.safe_load(original)
    raw["approval"]["shadow"] = dict(SHADOW)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        yield
    finally:
        path.write_text(original)


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
    wait_for(lambda: store.exists(f"predictions/{USE_CASE}/date=2026-01-03/predictions.parquet"), 300,
              "batch scoring of 2026-01-03", lambda: _runs_summary(airflow))
    wait_for(lambda: store.exists(result_key), 300, "monitoring of 2026-01-03", lambda: _runs_summary(airflow))
    wait_for(lambda: len(_decisions(store)) > decisions_before, 120, "a retrain decision",
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


def test_drift_retrains_a_challenger_that_shadows_before_the_sme_approves(airflow, store, champion, receivers,
                                                                         platform):
    smtp, hook = receivers
    registry = use_case_registry(store, USE_CASE)
    airflow.ok("PATCH", "/variables/lifecycle_drift_churn", json={"key": "lifecycle_drift_churn", "value": "true"})
    try:
        with shadow_required(platform):
            for day in ("2026-01-04", "2026-01-05", "2026-01-06"):
                _load(airflow, day)
            incoming = store.read_frame(f"raw/{USE_CASE}/date=2026-01-06/accepted.parquet")
            assert (incoming["contract"] == "Month-to-month").mean() > 0.7  # the scenario really reached the batch

            runs = wait_for(lambda: _retrain_runs(airflow), 600, "a retrain-triggered model_training run",
                             lambda: _runs_summary(airflow))
            results = [store.read_json(k) for k in store.list(f"monitoring/{USE_CASE}/") if k.endswith("result.json")]
            drifted = [r for r in results if "dataset_drift" in r["breaches"] or "prediction_drift" in r["breaches"]]
            assert drifted, [(r["date"], r["breaches"]) for r in results]
            assert any(c in drifted[-1]["drifted_columns"] for c in ("monthly_charges", "contract"))
            yes = [d for d in _decisions(store) if d["retrain"]]
            assert yes and yes[-1]["reasons"]
            mails = smtp.messages
            assert any("drift" in m.subject.lower() for m in mails), [m.subject for m in mails]
            assert any("report" in m.body.lower() and "monitoring" in m.body for m in mails
                       if "drift" in m.subject.lower())

            # The retrained, blessed version is the challenger; no SME is asked while it has no live evidence.
            run_id = runs[0]["dag_run_id"]
            airflow.wait_task(TRAINING, run_id, "shadow_evidence", {"up_for_reschedule"}, timeout=600)
            registered = airflow.xcom(TRAINING, run_id, "register")
            challenger = registered["version"]
            assert registered["eligible"] and registry.alias_version("challenger") == challenger, registered
            assert not airflow.pending_approvals(TRAINING, run_id)

            # Two more live days: the champion serves them, the challenger scores them in shadow, and the
            # second day's delivery matures the first day's labels.
            for day in SHADOW_DAYS:
                _load(airflow, day)
            airflow.wait_task(TRAINING, run_id, "sme_approval", {"awaiting_input"}, timeout=600)
            pending = airflow.pending_approvals(TRAINING, run_id)
            assert len(pending) == 1, pending
            body = pending[0]["body"]
            assert "Live comparison (shadow)" in body and "is bound to this decision" in body, body

            for day in SHADOW_DAYS:
                served = store.read_frame(f"predictions/{USE_CASE}/date={day}/predictions.parquet")
                assert set(served["model_version"]) == {champion}, day
                shadowed = store.read_frame(f"shadow/{USE_CASE}/v{challenger}/date={day}/predictions.parquet")
                assert set(shadowed["model_version"]) == {challenger} and shadowed["shadow"].all()
                assert len(shadowed) == len(served)
                monitored = f"monitoring/{USE_CASE}/date={day}/result.json"
                if store.exists(monitored):
                    assert store.read_json(monitored)["version"] == champion, day
            assert not [k for k in store.list(f"predictions/{USE_CASE}/") if "shadow" in k]

            assert airflow.answer(TRAINING, run_id, "sme_approval", "Approve",
                                  "wins on the live customers too", user="sme_alice").status_code == 200
            assert airflow.wait_run(TRAINING, run_id, timeout=400) == "success", airflow.diagnose(TRAINING, run_id)
        assert registry.alias_version("champion") == challenger
        approved = [e for e in registry.ledger() if e["version"] == challenger and e["event"] == "approved"]
        assert approved and approved[-1]["hashes"].get("shadow_comparison_sha256")
    finally:
        airflow.ok("PATCH", "/variables/lifecycle_drift_churn",
                   json={"key": "lifecycle_drift_churn", "value": "false"})
