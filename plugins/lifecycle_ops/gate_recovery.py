"""An SME's answer is never lost: a gate retry applies the answer an earlier try received but never applied.

Airflow 3.3 race, seen under load: an answer that lands seconds after the gate parks can reach the scheduler
before the executor's report that the parking process exited. The scheduler then takes that late "success" for a
task killed from outside, fails the resumed try ("Server indicated the task shouldn't be running anymore") and
retries it; the retry would ask again (a second alert) and wait for an answer already given. The answer is still
in Airflow's ``hitl_detail_history``, which tasks read over the REST API with the platform's read-only login
(connection ``lifecycle_airflow_api``, ``scripts/gate_access.py``).

An earlier answer is applied only if no decision in the ledger already came from it (a task cleared on purpose,
to answer again, must ask again) and the evidence hashes requested then are the ones the retry computes now.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

CONN_ID = "lifecycle_airflow_api"
DECISIONS = ("approved", "rejected", "approval_refused")
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


def earlier_answer(tries: list[dict[str, Any]], ledger: list[dict[str, Any]], *, dag_id: str, run_id: str,
                   version: int, hashes: dict[str, Any]) -> dict[str, Any] | None:
    """The resume event for the newest earlier try whose human answer was never applied, else None.

    ``tries``: HITL details of earlier tries (REST ``hitlDetails/tries/{n}`` bodies). ``ledger``: the registry's
    entries. Only a person's answer counts (a timeout default is re-decided by the retry's own deadline).
    """
    mine = [e for e in ledger if (e.get("details") or {}).get("run_id") == run_id
            and (e.get("details") or {}).get("dag_id") == dag_id]
    applied = {_when((e.get("details") or {}).get("responded_at")) for e in mine if e.get("event") in DECISIONS}
    requested = [e for e in mine if e.get("event") == "approval_requested" and e.get("version") == version]
    if not requested or requested[-1].get("hashes") != hashes:
        return None  # the evidence the SME saw is not the evidence now: ask again
    for detail in sorted(tries, key=lambda d: (d.get("task_instance") or {}).get("try_number", 0), reverse=True):
        answered_at = _when(detail.get("responded_at"))
        if not detail.get("response_received") or not detail.get("responded_by_user") or answered_at is None:
            continue
        if answered_at in applied:
            return None  # the newest answer was applied already: this try is a clear, so ask again
        return {"chosen_options": list(detail.get("chosen_options") or []),
                "params_input": detail.get("params_input") or {}, "responded_at": answered_at,
                "responded_by_user": detail["responded_by_user"], "timedout": False}
    return None


def earlier_tries(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> list[dict[str, Any]]:
    """HITL details of tries 1..try_number-1 over the REST API; [] (with a warning) when it cannot be read."""
    import requests
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(CONN_ID)
    except Exception as exc:  # noqa: BLE001 - no login configured: behave as the stock operator (ask again)
        log.warning("cannot look for an earlier answer: no %s connection (%s)", CONN_ID, exc)
        return []
    base = f"http://{conn.host}:{conn.port or 80}"
    found = []
    try:
        token = requests.post(f"{base}/auth/token", json={"username": conn.login, "password": conn.password},
                              timeout=20).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(1, try_number):
            resp = requests.get(f"{base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/"
                                f"{map_index}/hitlDetails/tries/{n}", headers=headers, timeout=20)
            if resp.status_code == 200:
                found.append(resp.json())
    except (requests.RequestException, KeyError, ValueError) as exc:
        log.warning("cannot look for an earlier answer over %s: %r", base, exc)
    return found
