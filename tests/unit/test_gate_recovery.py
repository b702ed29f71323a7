"""Which earlier answer a gate retry applies (lifecycle_ops.gate_recovery.earlier_answer), on ledger and
HITL-history records shaped as the registry and Airflow's REST API return them."""

from __future__ import annotations

from datetime import datetime

from lifecycle_ops.gate_recovery import earlier_answer

HASHES = {"model_sha256": "m", "evaluation_sha256": "e", "qa_sha256": "q", "manifest_sha256": "x"}
WHERE = {"dag_id": "churn__model_training", "run_id": "manual__1"}


def _requested(hashes=HASHES, version=3):
    return {"event": "approval_requested", "version": version, "hashes": hashes, "details": dict(WHERE)}


def _try(n, at="2026-12-02T07:00:05.123456Z", user="sme_alice", chosen=("Approve",), comment="fine by me"):
    return {"task_instance": {"try_number": n}, "response_received": at is not None, "responded_at": at,
            "responded_by_user": {"id": user, "name": user} if user else None, "chosen_options": list(chosen),
            "params_input": {"comment": comment}}


def _find(tries, ledger, **kw):
    return earlier_answer(tries, ledger, **{**WHERE, "version": 3, "hashes": HASHES, **kw})


def test_a_lost_answer_is_found_and_replayed_as_the_resume_event():
    event = _find([_try(1)], [_requested()])
    assert event == {"chosen_options": ["Approve"], "params_input": {"comment": "fine by me"},
                     "responded_at": datetime.fromisoformat("2026-12-02T07:00:05.123456+00:00"),
                     "responded_by_user": {"id": "sme_alice", "name": "sme_alice"}, "timedout": False}


def test_an_answer_already_applied_is_not_applied_twice():
    """A cleared gate (to answer again after a refusal) asks again: the ledger already holds that answer."""
    refused = {"event": "approval_refused", "version": 3,
               "details": {**WHERE, "responded_at": "2026-12-02 07:00:05.123456+00:00"}}
    assert _find([_try(1)], [_requested(), refused]) is None


def test_changed_evidence_or_another_run_means_asking_again():
    assert _find([_try(1)], [_requested(hashes={**HASHES, "model_sha256": "other"})]) is None
    assert _find([_try(1)], [{**_requested(), "details": {**WHERE, "run_id": "manual__2"}}]) is None
    assert _find([_try(1)], []) is None


def test_only_a_persons_answer_counts_and_the_newest_wins():
    assert _find([_try(1, user=None)], [_requested()]) is None  # the timeout default is re-decided
    assert _find([_try(1, at=None)], [_requested()]) is None  # never answered
    newest = _find([_try(1, comment="first"), _try(2, at="2026-12-02T07:01:00Z", user="sme_bob", comment="second")],
                   [_requested()])
    assert newest["responded_by_user"]["id"] == "sme_bob" and newest["params_input"]["comment"] == "second"
