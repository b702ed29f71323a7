"""Which earlier answer a gate retry applies (lifecycle_ops.gate_recovery.earlier_answer), on ledger and
HITL-history records shaped as the registry and Airflow's REST API return them."""

from __future__ import annotations

from datetime import datetime

import pytest

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


# -- the audit log: where the answer survives when Airflow archived no history for the killed try ----------------

ASKED = "2026-12-02T15:12:54.100000+00:00"


def _audit(owner, when, chosen=("Reject",), comment="Not before the pricing change.", map_index="-1"):
    """An ``update_hitl_detail`` entry as ``GET /api/v2/eventLogs`` returns it (``extra`` is a JSON string)."""
    import json

    return {"event": "update_hitl_detail", "owner": owner, "when": when, "run_id": WHERE["run_id"],
            "extra": json.dumps({"map_index": map_index, "chosen_options": list(chosen),
                                 "params_input": {"comment": comment}, "method": "PATCH"})}


def _from_log(audit, ledger=None, assigned=("sme_alice", "sme_bob")):
    return _find([], [{**_requested(), "at": ASKED}] if ledger is None else ledger, audit=audit,
                 assigned=list(assigned))


def test_the_race_seen_live_the_answer_is_found_in_the_audit_log():
    """Seen in the e2e suite: sme_bob answered 1 s after the request, the resumed try was killed, Airflow kept no
    HITL history for it and the retry reset the detail; only the audit log still held the answer."""
    event = _from_log([_audit("sme_bob", "2026-12-02T15:12:55.232670Z")])
    assert event["chosen_options"] == ["Reject"] and event["responded_by_user"]["id"] == "sme_bob"
    assert event["params_input"] == {"comment": "Not before the pricing change."}
    assert event["responded_at"] == datetime.fromisoformat("2026-12-02T15:12:55.232670+00:00")


def test_the_audit_log_counts_only_what_airflow_accepted():
    """It records refused attempts too: a user not assigned (403), a second answer (409), another task's index."""
    mallory = _audit("mallory", "2026-12-02T15:12:55.000000Z", chosen=("Approve",), comment="looks fine")
    first = _audit("sme_alice", "2026-12-02T15:12:56.000000Z", chosen=("Approve",), comment="ship it")
    second = _audit("sme_bob", "2026-12-02T15:12:57.000000Z")
    event = _from_log([second, mallory, first])
    assert event["responded_by_user"]["id"] == "sme_alice" and event["chosen_options"] == ["Approve"]
    assert _from_log([mallory]) is None
    assert _from_log([_audit("sme_bob", "2026-12-02T15:12:55Z", map_index="2")]) is None


def test_an_audited_answer_to_an_earlier_request_or_one_already_decided_is_not_replayed():
    before = _audit("sme_bob", "2026-12-02T15:12:54.000000Z")  # answered the previous request of this run
    assert _from_log([before]) is None
    answer = _audit("sme_bob", "2026-12-02T15:12:55.232670Z")
    decided = {"event": "rejected", "version": 3, "at": "2026-12-02T15:12:55.900000+00:00",
               "details": {**WHERE, "responded_at": "2026-12-02 15:12:55.240001+00:00"}}
    assert _from_log([answer], ledger=[{**_requested(), "at": ASKED}, decided]) is None
    # the same decision recorded before this answer (a cleared task asked again, and this is the new answer)
    earlier = {**decided, "at": "2026-12-02T15:12:55.000000+00:00"}
    assert _from_log([answer], ledger=[{**_requested(), "at": ASKED}, earlier])["responded_by_user"]["id"] == "sme_bob"


# -- a refusal the killed try had already recorded ------------------------------------------------------------------

def _refused(at="2026-12-02T16:32:17.100000+00:00"):
    return {"event": "approval_refused", "version": 3, "at": at, "actor": "sme_alice", "comment": "",
            "details": {**WHERE, "refusal": "an approval must carry a comment"}}


def _mismatch(when="2026-12-02T16:32:18.367649Z"):
    return {"event": "state mismatch", "owner": None, "when": when, "run_id": WHERE["run_id"], "extra": "Executor..."}


def test_a_refusal_recorded_by_a_try_airflow_then_failed_is_replayed_not_asked_again():
    """Seen on a loaded CI run: the resumed try refused an Approve without a comment (its intended permanent failure),
    then the executor's late report failed it anyway and Airflow retried. The retry must fail the same way."""
    from lifecycle_ops.gate_recovery import decided_by_a_killed_try as refused_by_a_killed_try

    ledger = [{**_requested(), "at": "2026-12-02T16:32:12+00:00"}, _refused()]
    found = refused_by_a_killed_try([_mismatch()], ledger, version=3, **WHERE)
    assert found is not None and found["details"]["refusal"] == "an approval must carry a comment"
    # No state mismatch after the refusal: a person cleared the task to answer again, so the retry asks again.
    assert refused_by_a_killed_try([_mismatch("2026-12-02T16:32:10Z")], ledger, version=3, **WHERE) is None
    assert refused_by_a_killed_try([], ledger, version=3, **WHERE) is None
    # A new request after the refusal (the cleared task asked again) is a new question.
    asked_again = [*ledger, {**_requested(), "at": "2026-12-02T16:33:00+00:00"}]
    assert refused_by_a_killed_try([_mismatch("2026-12-02T16:34:00Z")], asked_again, version=3, **WHERE) is None
    # Another run's, or another version's, refusal is not this request's.
    assert refused_by_a_killed_try([_mismatch()], ledger, version=4, **WHERE) is None


def test_the_replayed_refusal_says_what_the_first_one_said():
    from lifecycle_ops.approval import refusal_message

    assert refusal_message("sme_alice", "churn v3", "an approval must carry a comment").startswith(
        "APPROVAL REFUSED: sme_alice's Approve of churn v3 was not accepted because an approval must carry a "
        "comment. Nothing was promoted.")


# -- an approval or rejection the killed try had already recorded ---------------------------------------------------

def _decided(event="approved", at="2026-12-02T16:32:17.100000+00:00", hashes=HASHES, **details):
    return {"id": 7, "event": event, "version": 3, "at": at, "actor": "sme_bob", "comment": "recall is fine",
            "hashes": hashes, "details": {**WHERE, "timed_out": False, "refusal": "",
                                          "responded_at": "2026-12-02 16:32:16.900000+00:00", **details}}


@pytest.mark.parametrize("event", ["approved", "rejected"])
def test_a_decision_recorded_by_a_try_airflow_then_failed_is_replayed(event):
    from lifecycle_ops.gate_recovery import decided_by_a_killed_try

    ledger = [{**_requested(), "at": "2026-12-02T16:32:12+00:00"}, _decided(event)]
    found = decided_by_a_killed_try([_mismatch()], ledger, version=3, hashes=HASHES, **WHERE)
    assert found is not None and found["event"] == event and found["id"] == 7
    # a person's clear (no mismatch after the decision) asks again; so does a decision on other evidence
    assert decided_by_a_killed_try([_mismatch("2026-12-02T16:32:10Z")], ledger, version=3, hashes=HASHES,
                                   **WHERE) is None
    other = {**HASHES, "qa_sha256": "q2"}
    assert decided_by_a_killed_try([_mismatch()], ledger, version=3, hashes=other, **WHERE) is None
    # the request asked again after the decision is a new question
    asked_again = [*ledger, {**_requested(), "at": "2026-12-02T16:33:00+00:00"}]
    assert decided_by_a_killed_try([_mismatch("2026-12-02T16:34:00Z")], asked_again, version=3, hashes=HASHES,
                                   **WHERE) is None
    assert decided_by_a_killed_try([_mismatch()], ledger, version=3, hashes=HASHES, dag_id=WHERE["dag_id"],
                                   run_id="manual__2") is None


def test_a_decision_recorded_after_airflow_failed_its_try_is_replayed_too():
    """The late executor report can land while the resumed try runs, before it records the decision: the mismatch is
    then older than the decision, but it names the try that decided, so the retry ends that way instead of asking."""
    from lifecycle_ops.gate_recovery import decided_by_a_killed_try

    ledger = [{**_requested(), "at": "2026-12-02T16:32:12+00:00"}, _decided("approved", try_number=1)]
    before = {**_mismatch("2026-12-02T16:32:16.950000Z"), "try_number": 1}
    assert decided_by_a_killed_try([before], ledger, version=3, hashes=HASHES, **WHERE)["id"] == 7
    # an earlier try's mismatch says nothing of the try that decided: a person cleared it, so ask again
    assert decided_by_a_killed_try([{**before, "try_number": 0}], ledger, version=3, hashes=HASHES, **WHERE) is None
    unnumbered = [{**_requested(), "at": "2026-12-02T16:32:12+00:00"}, _decided("approved")]
    assert decided_by_a_killed_try([before], unnumbered, version=3, hashes=HASHES, **WHERE) is None


def test_the_replayed_event_carries_the_recorded_answer_and_the_entry():
    from lifecycle_ops.gate_recovery import REPLAYED, replay_event

    approved = replay_event(_decided("approved"), "Approve", "Reject", "comment")
    assert approved["chosen_options"] == ["Approve"] and approved["params_input"] == {"comment": "recall is fine"}
    assert approved["responded_by_user"] == {"id": "sme_bob", "name": "sme_bob"} and not approved["timedout"]
    assert approved["responded_at"] == datetime.fromisoformat("2026-12-02 16:32:16.900000+00:00")
    assert approved[REPLAYED]["id"] == 7
    timeout = replay_event({**_decided("rejected", timed_out=True), "actor": "timeout"}, "Approve", "Reject",
                           "comment")
    assert timeout["chosen_options"] == ["Reject"] and timeout["timedout"] and timeout["responded_by_user"] is None


class _TI:
    map_index = -1
    try_number = 2

    def __init__(self, evidence):
        self.evidence = evidence

    def xcom_pull(self, **_):
        return self.evidence


def test_a_replayed_decision_ends_the_try_like_the_first_without_a_second_entry_or_alert(tmp_path, monkeypatch):
    """The retry returns what the killed try returned (promote reads it) and records and alerts nothing again."""
    from types import SimpleNamespace

    from include.lifecycle.model.registry import registry_for
    from lifecycle_ops.approval import COMMENT, SMEApprovalOperator
    from lifecycle_ops.gate_recovery import replay_event
    from lifecycle_ops.runtime import artifact_store, use_case

    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(tmp_path / "store"))
    import lifecycle_ops.alerting

    sent = []
    monkeypatch.setattr(lifecycle_ops.alerting, "notify", lambda context, kind, summary, **_: sent.append(kind))
    registry = registry_for(artifact_store(), use_case("churn"))
    entry = registry.append("approved", 3, actor="sme_bob", comment="recall is fine", hashes=HASHES,
                            details={**WHERE, "action": "promote", "timed_out": False, "refusal": "",
                                     "responded_at": "2026-12-02T16:32:16.9+00:00"})
    op = SMEApprovalOperator(task_id="approve", use_case_name="churn", source_task_id="register",
                             notifiers=[])
    evidence = {"version": 3, "hashes": HASHES, "assigned": ["sme_alice", "sme_bob"], "action": "promote",
                "expected_champion": 2, "shadow_comparison_key": None}
    context = {"ti": _TI(evidence), "run_id": WHERE["run_id"], "dag": SimpleNamespace(dag_id=WHERE["dag_id"]),
               "task": op}
    result = op.execute_complete(context, replay_event(entry, op.APPROVE, op.REJECT, COMMENT))
    assert result["decision"] == "approved" and result["ledger_entry"] == entry["id"]
    assert result["actor"] == "sme_bob" and result["comment"] == "recall is fine" and result["expected_champion"] == 2
    assert [e["event"] for e in registry.ledger()] == ["approved"] and sent == []
    # the same answer arriving fresh (no earlier try recorded it) is recorded and alerted, once
    fresh = replay_event(entry, op.APPROVE, op.REJECT, COMMENT)
    fresh.pop("_replayed_ledger_entry")
    again = op.execute_complete(context, fresh)
    assert again["ledger_entry"] != entry["id"] and sent == ["approved"]
    assert [e["event"] for e in registry.ledger()] == ["approved", "approved"]
    assert registry.ledger()[-1]["details"]["try_number"] == 2  # what a later retry matches a state mismatch to


# -- reading the earlier tries over a slow API server --------------------------------------------------------------

class _SlowAirflow:
    """A real HTTP server answering like Airflow's REST API, refusing the first ``failures`` requests with a 503."""

    def __init__(self, failures: int):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.failures, self.seen = failures, []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                outer.seen.append(self.path)
                if len(outer.seen) <= outer.failures:
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path == "/auth/token":
                    body = {"access_token": "t"}
                elif "/hitlDetails/tries/" in self.path:
                    body = _try(1)
                else:
                    body = {"event_logs": [_audit("sme_bob", "2026-12-02T15:12:55.232670Z")], "total_entries": 1}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_busy_api_server_is_read_again_before_the_retry_asks_again(monkeypatch, caplog):
    """Under load the API server answers 5xx or not at all for a while; one failed read used to make the retry ask
    the SME again (a second alert, the answer given waiting forever)."""
    from lifecycle_ops import gate_recovery

    monkeypatch.setattr(gate_recovery.time, "sleep", lambda s: None)
    server = _SlowAirflow(failures=3)
    monkeypatch.setenv("AIRFLOW_CONN_LIFECYCLE_AIRFLOW_API", f"http://viewer:secret@127.0.0.1:{server.port}/")
    try:
        tries, audit = gate_recovery.earlier_tries(WHERE["dag_id"], WHERE["run_id"], "sme_approval", -1, 2)
    finally:
        server.close()
    assert [t["task_instance"]["try_number"] for t in tries] == [1]
    assert [e["owner"] for e in audit] == ["sme_bob"]
    assert server.seen.count("/auth/token") == 4  # three 503s, then the token
    assert "again in" in caplog.text


def test_an_api_server_that_never_answers_is_given_up_within_the_deadline(caplog, monkeypatch):
    import socket
    import time

    from lifecycle_ops import gate_recovery

    with socket.socket() as s:  # a port with nobody listening: every connect is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_LIFECYCLE_AIRFLOW_API", f"http://viewer:secret@127.0.0.1:{port}/")
    started = time.monotonic()
    assert gate_recovery.earlier_tries(WHERE["dag_id"], WHERE["run_id"], "sme_approval", -1, 2, deadline=5) == ([], [])
    assert time.monotonic() - started < 10
    assert "asking again" in caplog.text and "secret" not in caplog.text
