"""A small client of Airflow's REST API v2, as the lifecycle's users call it (trigger, wait, answer a gate).

Shared by the e2e tests, the production integration test, the fault suite and the benchmarks: token per user,
every wait with a deadline, and ``diagnose`` (task states plus failed tasks' log tails) for failure messages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

TERMINAL = {"success", "failed"}


class AirflowClient:
    """Just enough of the REST API v2 for the tests, as an SME or an operator would call it."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self._tokens: dict[str, str] = {}

    def request(self, method: str, path: str, user: str = "admin", **kwargs: Any):
        import requests

        if user not in self._tokens:
            self._tokens[user] = self.platform.token(user)
        headers = {"Authorization": f"Bearer {self._tokens[user]}"}
        return requests.request(method, f"{self.platform.base_url}/api/v2{path}", headers=headers, timeout=30,
                                **kwargs)

    def ok(self, method: str, path: str, user: str = "admin", **kwargs: Any) -> Any:
        resp = self.request(method, path, user=user, **kwargs)
        assert resp.status_code < 300, f"{method} {path} -> {resp.status_code}: {resp.text[:1000]}"
        return resp.json() if resp.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, user: str = "admin",
                partition_key: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if partition_key:
            body["partition_key"] = partition_key
        run = self.ok("POST", f"/dags/{dag_id}/dagRuns", user=user, json=body)
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.ok("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "-run_after"})["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.ok("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 200})
        out: dict[str, str | None] = {}
        for ti in tis["task_instances"]:
            key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            out[key] = ti["state"]
        return out

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.ok("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 200})[
            "task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        data = self.ok("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
                       params={"deserialize": True})
        value = data["value"]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        resp = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                            params={"map_index": map_index, "full_content": True})
        if resp.status_code != 200:
            return f"<no log: {resp.status_code}>"
        try:
            content = resp.json().get("content")
        except ValueError:
            return resp.text
        if isinstance(content, list):
            return "\n".join(c.get("event", str(c)) if isinstance(c, dict) else str(c) for c in content)
        return str(content)

    def diagnose(self, dag_id: str, run_id: str) -> str:
        """Task states plus the log tail of every failed task, every try of a task that was retried, and Airflow's
        ``state mismatch`` audit events: what a person would open in the UI."""
        lines = [f"run {dag_id}/{run_id}:"]
        try:
            lines[0] += f" {self.task_states(dag_id, run_id)}"
            for ti in self.task_instances(dag_id, run_id):
                last = max(ti.get("try_number") or 1, 1)
                if ti["state"] in ("failed", "up_for_retry", "upstream_failed") or (
                        last > 1 and ti["state"] not in ("success", "skipped")):
                    for n in range(1, last + 1):
                        text = self.log(dag_id, run_id, ti["task_id"], n, ti["map_index"])
                        lines.append(f"--- {ti['task_id']} [{ti['map_index']}] try {n} of {last} "
                                     f"({ti['state']}) log tail ---\n{text[-3000:]}")
            events = self.ok("GET", "/eventLogs", params={"dag_id": dag_id, "run_id": run_id, "limit": 100,
                                                          "event_pattern": "mismatch"})["event_logs"]
            lines += [f"audit: {e['when']} {e['task_id']} try {e.get('try_number')}: {e['event']}" for e in events]
        except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure it explains
            lines.append(f"(diagnosis stopped: {exc!r})")
        return "\n".join(lines)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300, states: set[str] = TERMINAL) -> str:
        end = time.monotonic() + timeout
        state = None
        while time.monotonic() < end:
            state = self.run(dag_id, run_id)["state"]
            if state in states:
                return state
            time.sleep(2)
        raise AssertionError(f"{dag_id}/{run_id} still {state} after {timeout}s\n{self.diagnose(dag_id, run_id)}")

    def wait_task(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 300) -> str:
        end = time.monotonic() + timeout
        state = None
        while time.monotonic() < end:
            state = self.task_states(dag_id, run_id).get(task_id)
            if state in states:
                return state
            if self.run(dag_id, run_id)["state"] in TERMINAL:
                break
            time.sleep(2)
        raise AssertionError(f"{dag_id}/{run_id}.{task_id} is {state}, wanted {states}\n"
                             f"{self.diagnose(dag_id, run_id)}")

    def pending_approvals(self, dag_id: str | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        data = self.ok("GET", f"/dags/{dag_id or '~'}/dagRuns/{run_id or '~'}/hitlDetails",
                       params={"response_received": False})
        return data.get("hitl_details", [])

    def answer(self, dag_id: str, run_id: str, task_id: str, option: str, comment: str, user: str,
               map_index: int = -1):
        """Answer a pending approval as ``user`` would in the UI, as soon as it is visible.

        No settling time: if Airflow loses an answer that lands seconds after the gate parks (a 3.3 race under
        load), the gate's retry applies it (lifecycle_ops.gate_recovery); the tests answer at once to prove it.
        """
        return self.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
                            user=user, json={"chosen_options": [option], "params_input": {"comment": comment}})


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, diagnose: Callable[[], str] | None = None,
             interval: float = 2.0) -> Any:
    """``predicate()``'s first truthy value, polled every ``interval`` s; an AssertionError naming ``what`` (and
    what ``diagnose()`` says) after ``timeout`` s. Every wait of the tests and benchmarks has a deadline."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{diagnose()}" if diagnose else ""))
