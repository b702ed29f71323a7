"""The REST calls the Airflow benchmarks make, with server-side timestamps for every measurement.

Built on :class:`scripts.rest_client.AirflowClient` (token handling, trigger, task states);
polling is every 0.5 s, but no number depends on it: durations come from the task instances'
``queued_when``/``start_date``/``end_date`` as Airflow recorded them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

TERMINAL = {"success", "failed"}


def client(platform: Any) -> Any:
    from scripts.rest_client import AirflowClient

    return AirflowClient(platform)


def ts(value: str | None) -> float | None:
    """An API timestamp as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    """The tests' deadline-bound wait (scripts.rest_client.wait_for), polled every 0.5 s."""
    from scripts.rest_client import wait_for as wait

    return wait(predicate, timeout, what, interval=0.5)


def run_state(api: Any, dag_id: str, run_id: str) -> str:
    return api.run(dag_id, run_id)["state"]


def wait_run(api: Any, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = api.run(dag_id, run_id)
        return run if run["state"] in TERMINAL else None

    run = wait_for(done, timeout, f"{dag_id}/{run_id}")
    if run["state"] != "success":
        raise RuntimeError(f"{dag_id}/{run_id} ended {run['state']}:\n{api.diagnose(dag_id, run_id)}")
    return run


def wait_asset_run(api: Any, dag_id: str, after: float, timeout: float) -> dict[str, Any]:
    """The first run of ``dag_id`` created after epoch ``after`` (an asset-triggered one), once it succeeded."""

    def found() -> dict[str, Any] | None:
        for run in api.runs(dag_id):
            created = ts(run.get("run_after")) or ts(run.get("queued_at")) or 0
            if created >= after - 1 and run["state"] in TERMINAL:
                return run
        return None

    run = wait_for(found, timeout, f"an asset-triggered {dag_id} run")
    if run["state"] != "success":
        raise RuntimeError(f"{dag_id}/{run['dag_run_id']} ended {run['state']}:\n"
                           f"{api.diagnose(dag_id, run['dag_run_id'])}")
    return run


def wait_task(api: Any, dag_id: str, run_id: str, task_id: str, timeout: float) -> None:
    def done() -> bool:
        state = api.task_states(dag_id, run_id).get(task_id)
        if state in ("failed", "upstream_failed"):
            raise RuntimeError(f"{dag_id}/{run_id}.{task_id} {state}:\n{api.diagnose(dag_id, run_id)}")
        return state == "success"

    wait_for(done, timeout, f"{dag_id}/{run_id}.{task_id}")


def end_run(api: Any, dag_id: str, run_id: str) -> None:
    """Stop a run that waits at the SME gate (marked failed), so the next run is not blocked."""
    api.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})
    try:
        wait_for(lambda: run_state(api, dag_id, run_id) in TERMINAL, 60, f"{dag_id}/{run_id} to end")
    except AssertionError:  # the wait's deadline passed
        pass


def task_rows(api: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """One row per task instance: id (with map index), hostname, queued/start/end as epoch seconds."""
    rows = []
    for ti in api.task_instances(dag_id, run_id):
        task = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti.get('rendered_map_index') or ti['map_index']}]"
        rows.append({"dag": dag_id, "task": task, "task_id": ti["task_id"], "map_index": ti["map_index"],
                     "state": ti["state"], "hostname": ti.get("hostname"),
                     "queued": ts(ti.get("queued_when")), "start": ts(ti.get("start_date")),
                     "end": ts(ti.get("end_date"))})
    return rows


def busy_seconds(rows: list[dict[str, Any]], start: float, end: float) -> float:
    """Seconds in [start, end] during which at least one task instance was running (union of intervals)."""
    spans = sorted((max(r["start"], start), min(r["end"], end)) for r in rows if r["start"] and r["end"])
    total, cur_s, cur_e = 0.0, None, None
    for s, e in spans:
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total
