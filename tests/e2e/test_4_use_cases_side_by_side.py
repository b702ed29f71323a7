"""Two use cases in one Airflow, as their SMEs and engineers use them: each YAML got its own DAGs, assets,
registry, ledger, approvals, alerts and Variables, and nothing of one ever reaches the other.

churn was approved and promoted by test_1; here credit is loaded and trained up to its own gate, and its SME
rejects it. Then the two worlds are compared: registries, ledgers, asset events, approvals and alerts.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import dag_id, use_case_registry

pytestmark = pytest.mark.e2e

DAYS = ["2025-12-31", "2026-01-01"]


@pytest.fixture(scope="module")
def credit_at_gate(airflow, store):
    runs = [airflow.trigger(dag_id("data_acquisition", "credit"), user="data_engineer", partition_key=d)
            for d in DAYS]
    for run_id in runs:
        assert airflow.wait_run(dag_id("data_acquisition", "credit"), run_id, timeout=400) == "success", \
            airflow.diagnose(dag_id("data_acquisition", "credit"), run_id)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not all(
            store.exists(f"features/credit/date={d}/features.parquet") for d in DAYS):
        time.sleep(3)
    run_id = airflow.trigger(dag_id("model_training", "credit"), {"partition_date": DAYS[-1]})
    airflow.wait_task(dag_id("model_training", "credit"), run_id, "sme_approval", {"awaiting_input"}, timeout=600)
    return run_id


def test_each_use_case_has_its_own_dags(airflow):
    dags = {d["dag_id"]: d for d in airflow.ok("GET", "/dags", params={"limit": 1000})["dags"]}
    for name in ("churn", "credit"):
        for stage in ("data_acquisition", "feature_engineering", "model_training", "model_rollback",
                      "batch_scoring", "scoring_catchup", "model_monitoring"):
            dag = dags[dag_id(stage, name)]
            assert f"use-case:{name}" in {t["name"] for t in dag["tags"]}


def test_credit_gate_uses_credits_smes_and_the_reject_is_its_own(airflow, store, credit_at_gate, receivers):
    smtp, _ = receivers
    training = dag_id("model_training", "credit")
    pending = airflow.pending_approvals(training, credit_at_gate)
    assert len(pending) == 1 and pending[0]["subject"].startswith("[credit]"), pending
    # The Variable approval_smes_credit (airflow_settings.yaml) names sme_alice only; the YAML's list is overridden.
    assert {u["id"] for u in pending[0]["assigned_users"]} == {"sme_alice"}
    # sme_bob approves churn models, not credit ones.
    refused = airflow.answer(training, credit_at_gate, "sme_approval", "Approve", "fine by me", user="sme_bob")
    assert refused.status_code == 403, refused.text
    answer = airflow.answer(training, credit_at_gate, "sme_approval", "Reject",
                            "Declines too many good applicants in the rent slice.", user="sme_alice")
    assert answer.status_code == 200, answer.text
    airflow.wait_run(training, credit_at_gate, timeout=300)
    assert airflow.task_states(training, credit_at_gate)["promote"] == "skipped"

    credit, churn = use_case_registry(store, "credit"), use_case_registry(store, "churn")
    assert credit.alias_version("champion") is None
    assert churn.alias_version("champion") is not None, "test_1 promoted a churn champion"
    assert credit.prefix != churn.prefix
    rejected = [e for e in credit.ledger() if e["event"] == "rejected"]
    assert rejected and rejected[-1]["actor"] == "sme_alice" and "rent slice" in rejected[-1]["comment"]
    for entry in churn.ledger():
        assert entry["model"] == "churn"
        assert not str(entry["details"].get("dag_id", "")).startswith("credit__"), entry
    for entry in credit.ledger():
        assert entry["model"] == "credit"
        assert not str(entry["details"].get("dag_id", "")).startswith("churn__"), entry

    # every alert names the use case of the DAG it came from
    mails = smtp.wait_for(1, timeout=30)
    credit_mails = [m for m in mails if m.message["X-Airflow-Dag-Id"].startswith("credit__")]
    assert credit_mails, [m.subject for m in mails]
    for mail in mails:
        use_case = mail.message["X-Airflow-Dag-Id"].split("__")[0]
        assert f"] {use_case}: " in mail.subject, mail.subject


def test_asset_events_never_cross_use_cases(airflow, credit_at_gate):
    events = airflow.ok("GET", "/assets/events", params={"limit": 1000})["asset_events"]
    assert events
    assets = {a["id"]: a["name"] for a in airflow.ok("GET", "/assets", params={"limit": 1000})["assets"]}
    seen = set()
    for event in events:
        source = event.get("source_dag_id") or ""
        name = assets.get(event["asset_id"], "")
        use_case = source.split("__")[0]
        assert name.split("/", 1)[1].split("@")[0] == use_case, (source, name)
        seen.add(use_case)
    # Both bundled use cases emitted events; a use case added by another test may have too, under its own name.
    assert {"churn", "credit"} <= seen, seen
