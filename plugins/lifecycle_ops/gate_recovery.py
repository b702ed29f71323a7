"""An SME's answer is never lost: a gate retry applies the answer an earlier try received but never applied.

Airflow 3.3 race, seen under load: an answer that lands seconds after the gate parks can reach the scheduler
before the executor's report that the parking process exited. The scheduler then takes that late "success" for a
task killed from outside, fails the resumed try ("Server indicated the task shouldn't be running anymore") and
retries it; the retry would ask again (a second alert) and wait for an answer already given.

Where the answer survives, read over the REST API with the platform's read-only login (connection
``lifecycle_airflow_api``, ``scripts/gate_access.py``): Airflow's ``hitl_detail_history`` when it archived the
try, and always its audit log (``update_hitl_detail`` events: who, when, what). On that failure path Airflow 3.3
archives no history and the retry resets the HITL detail, so the audit log is where the answer is found. The
audit log also records refused attempts (a user not assigned, a second answer after the first): only an assigned
user's first answer after the request counts, as Airflow's API decided then.

An earlier answer is applied only if no decision in the ledger came from it or after it (a task cleared on
purpose, to answer again, must ask again) and the evidence hashes requested then are the ones the retry
computes now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

CONN_ID = "lifecycle_airflow_api"
DECISIONS = ("approved", "rejected", "approval_refused")
# A starved API server was seen taking over 30 s per answer: read patiently before giving up and asking again.
READ_DEADLINE_S = 180.0
REPLAYED = "_replayed_ledger_entry"  # resume-event key: the ledger entry a killed try already recorded
log = logging.getLogger(__name__)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def audit_answer(events: list[dict[str, Any]], assigned: list[str], since: datetime | None,
                 map_index: int = -1) -> dict[str, Any] | None:
    """The first ``update_hitl_detail`` audit event of an assigned user at or after ``since`` (the request), as a
    HITL-detail-shaped record; None when there is none."""
    import json

    found = []
    for event in events:
        if event.get("event") != "update_hitl_detail" or event.get("owner") not in assigned:
            continue
        try:
            extra = json.loads(event.get("extra") or "{}")
        except ValueError:
            continue
        if str(extra.get("map_index", map_index)) != str(map_index) or extra.get("method", "PATCH") != "PATCH":
            continue
        when = _when(event.get("when"))
        if when is None or (since is not None and when < since) or not extra.get("chosen_options"):
            continue
        found.append({"response_received": True, "responded_at": event["when"], "source": "audit log",
                      "responded_by_user": {"id": event["owner"], "name": event["owner"]},
                      "chosen_options": list(extra["chosen_options"]), "params_input": extra.get("params_input") or {},
                      "_when": when})
    return min(found, key=lambda r: r["_when"]) if found else None


def earlier_answer(tries: list[dict[str, Any]], ledger: list[dict[str, Any]], *, dag_id: str, run_id: str,
                   version: int, hashes: dict[str, Any], audit: list[dict[str, Any]] | None = None,
                   assigned: list[str] | None = None, map_index: int = -1) -> dict[str, Any] | None:
    """The resume event for the answer an earlier try received but never applied, else None.

    ``tries``: HITL details of earlier tries (REST ``hitlDetails/tries/{n}`` bodies); ``audit``: the run's
    ``update_hitl_detail`` audit events (REST ``eventLogs``), used when no try holds an answer; ``ledger``: the
    registry's entries. Only a person's answer counts (a timeout default is re-decided by the retry's own deadline).
    """
    mine = [e for e in ledger if (e.get("details") or {}).get("run_id") == run_id
            and (e.get("details") or {}).get("dag_id") == dag_id]
    decisions = [e for e in mine if e.get("event") in DECISIONS]
    applied = {_when((e.get("details") or {}).get("responded_at")) for e in decisions}
    requested = [e for e in mine if e.get("event") == "approval_requested" and e.get("version") == version]
    if not requested or requested[-1].get("hashes") != hashes:
        return None  # the evidence the SME saw is not the evidence now: ask again
    asked_at = _when(requested[-1].get("at"))
    answers = [d for d in sorted(tries, key=lambda d: (d.get("task_instance") or {}).get("try_number", 0),
                                 reverse=True)
               if d.get("response_received") and d.get("responded_by_user") and _when(d.get("responded_at"))]
    if not answers and audit:
        from_log = audit_answer(audit, list(assigned or []), asked_at, map_index)
        answers = [from_log] if from_log else []
    if not answers:
        return None
    answer = answers[0]
    answered_at = _when(answer.get("responded_at"))
    if answered_at in applied or any((_when(e.get("at")) or datetime.min.replace(tzinfo=answered_at.tzinfo))
                                     >= answered_at for e in decisions):
        return None  # that answer (or a later one) was decided already: this try is a clear, so ask again
    return {"chosen_options": list(answer.get("chosen_options") or []),
            "params_input": answer.get("params_input") or {}, "responded_at": answered_at,
            "responded_by_user": answer["responded_by_user"], "timedout": False}


def decided_by_a_killed_try(audit: list[dict[str, Any]], ledger: list[dict[str, Any]], *, dag_id: str,
                            run_id: str, version: int, hashes: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The decision entry (``approved``, ``rejected`` or ``approval_refused``) an earlier try of this request
    recorded while Airflow failed that try anyway (a ``state mismatch`` audit event of the try that recorded it,
    or one at or after the decision), else None.

    The executor's late report of the parking process can land at any point of the resumed try, before or after
    it records the decision; the try runs on until its next heartbeat either way. The decision was applied once
    (ledger entry, alert); the retry must end the same way instead of asking again, and without recording or
    alerting it twice. A person who clears the task to answer again leaves no ``state mismatch`` on the deciding
    try nor after the decision, so is asked again; an approval or rejection of other evidence than ``hashes``
    (when given) is not replayed either.
    """
    mine = [e for e in ledger if (e.get("details") or {}).get("run_id") == run_id
            and (e.get("details") or {}).get("dag_id") == dag_id and e.get("version") == version]
    decided = [e for e in mine if e.get("event") in DECISIONS + ("approval_requested",)]
    if not decided or decided[-1].get("event") == "approval_requested":
        return None
    entry, at = decided[-1], _when(decided[-1].get("at"))
    if at is None:
        return None
    if hashes is not None and entry.get("event") != "approval_refused" and entry.get("hashes") != hashes:
        return None
    deciding_try = (entry.get("details") or {}).get("try_number")
    killed = [e for e in audit if e.get("event") == "state mismatch" and (
        (_when(e.get("when")) or at) >= at
        or (deciding_try is not None and str(e.get("try_number")) == str(deciding_try)))]
    return entry if killed else None


def replay_event(entry: dict[str, Any], approve: str, reject: str, comment_field: str) -> dict[str, Any]:
    """The resume event that ends a retry the way the killed try's recorded ``entry`` (approved/rejected) did."""
    details = entry.get("details") or {}
    timed_out = bool(details.get("timed_out"))
    try:
        at = datetime.fromisoformat(str(details.get("responded_at") or entry.get("at")).replace("Z", "+00:00"))
    except ValueError:
        at = datetime.now(UTC)
    return {"chosen_options": [approve if entry["event"] == "approved" else reject],
            "params_input": {} if timed_out else {comment_field: entry.get("comment") or ""}, "responded_at": at,
            "responded_by_user": None if timed_out else {"id": entry["actor"], "name": entry["actor"]},
            "timedout": timed_out, REPLAYED: entry}


def earlier_outcome(*, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int,
                    ledger: Callable[[], list[dict[str, Any]]], version: int, hashes: dict[str, Any],
                    assigned: list[str]) -> dict[str, Any] | None:
    """What a gate retry must do instead of asking: ``{"decided": entry}`` (end as a killed try's recorded
    decision did), a resume event (apply an answer an earlier try received), or None (ask)."""
    tries, audit = earlier_tries(dag_id, run_id, task_id, map_index, try_number)
    if not tries and not audit:
        return None
    entries = ledger()
    decided = decided_by_a_killed_try(audit, entries, dag_id=dag_id, run_id=run_id, version=version, hashes=hashes)
    if decided:
        return {"decided": decided}
    return earlier_answer(tries, entries, dag_id=dag_id, run_id=run_id, version=version, hashes=hashes,
                          audit=audit, assigned=assigned, map_index=map_index)


def earlier_tries(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int,
                  deadline: float = READ_DEADLINE_S) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """HITL details of tries 1..try_number-1 and the run's ``update_hitl_detail`` audit events of this task, over
    the REST API; ([], []) (with an error logged) when they cannot be read within ``deadline`` seconds."""
    import requests
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(CONN_ID)
    except Exception as exc:  # noqa: BLE001 - no login configured: behave as the stock operator (ask again)
        log.warning("cannot look for an earlier answer: no %s connection (%s)", CONN_ID, exc)
        return [], []
    base = f"http://{conn.host}:{conn.port or 80}"
    end = time.monotonic() + deadline
    found: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    try:
        token = _patient(lambda: requests.post(f"{base}/auth/token", timeout=30, json={
            "username": conn.login, "password": conn.password}), "a token", end).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(1, try_number):
            resp = _patient(lambda n=n: requests.get(
                f"{base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails/"
                f"tries/{n}", headers=headers, timeout=30), f"try {n}'s HITL detail", end)
            if resp.status_code == 200:
                found.append(resp.json())
        resp = _patient(lambda: requests.get(f"{base}/api/v2/eventLogs", headers=headers, timeout=30, params={
            "dag_id": dag_id, "run_id": run_id, "task_id": task_id, "limit": 200}), "the audit log", end)
        if resp.status_code == 200:
            audit = resp.json().get("event_logs") or []
        else:
            log.error("cannot read the audit log for an earlier answer: HTTP %s", resp.status_code)
    except (requests.RequestException, KeyError, ValueError) as exc:
        log.error("cannot look for an earlier answer over %s, asking again: %s", base, exc)
    return found, audit


def _patient(call: Callable[[], Any], what: str, end: float) -> Any:
    """``call()`` again, with backoff, while it fails to connect or answers 5xx, until ``end`` (monotonic)."""
    import requests

    wait = 2.0
    while True:
        try:
            resp = call()
            if resp.status_code < 500:
                return resp
            problem = f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            problem = repr(exc)
        if time.monotonic() + wait > end:
            raise requests.RequestException(f"reading {what}: {problem}; out of time")
        log.warning("reading %s for an earlier answer failed (%s); again in %.0f s", what, problem, wait)
        time.sleep(wait)
        wait = min(wait * 2, 20.0)
