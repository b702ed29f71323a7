"""A burst of concurrent REST triggers against a running Airflow: what many users (or a script) do at once.

``burst`` sends ``count`` ``POST /api/v2/dags/<dag>/dagRuns`` with ``concurrency`` in flight and returns each
answer's status and latency. Run as a script it starts a fresh embedded platform, starts a lifecycle run (the
acquisition of the labelled history day) and measures a burst while it runs::

    PYTHONPATH=.:plugins .venv/bin/python -m tests.faults.load [--count 20] [--concurrency 10]
"""

from __future__ import annotations

import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int  # 0: no HTTP answer at all (connection error, client timeout)
    seconds: float
    run_id: str | None
    detail: str


def burst(client: Any, dag_id: str, count: int = 20, concurrency: int = 10, conf: dict | None = None) -> list[Answer]:
    """``count`` triggers of ``dag_id``, ``concurrency`` at a time, each with a run id of ours."""
    import requests

    client.request("GET", "/version")  # log in once, before the clock starts

    def one(i: int) -> Answer:
        run_id = f"burst-{uuid.uuid4().hex[:8]}-{i}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        start = time.monotonic()
        try:
            resp = client.request("POST", f"/dags/{dag_id}/dagRuns", json=body)
        except requests.RequestException as exc:
            return Answer(0, time.monotonic() - start, None, repr(exc)[:300])
        took = time.monotonic() - start
        created = resp.json().get("dag_run_id") if resp.status_code < 300 else None
        return Answer(resp.status_code, took, created, "" if created else resp.text[:300])

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, range(count)))


def summary(answers: list[Answer]) -> dict[str, Any]:
    times = sorted(a.seconds for a in answers)
    by_status: dict[str, int] = {}
    for a in answers:
        by_status[str(a.status)] = by_status.get(str(a.status), 0) + 1
    return {"sent": len(answers), "created": sum(1 for a in answers if a.run_id), "by_status": by_status,
            "median_s": round(statistics.median(times), 2) if times else None,
            "max_s": round(times[-1], 2) if times else None,
            "errors": sorted({a.detail for a in answers if not a.run_id})[:3]}


def main() -> None:
    import argparse
    import json
    import tempfile
    from pathlib import Path

    from scripts.lifecycle_platform import Platform, free_port
    from tests.e2e.conftest import AirflowClient

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="burst-"))
    plat = Platform(home=base / "home", port=free_port(), extra_env={
        "LIFECYCLE_ARTIFACT_ROOT": str(base / "artifacts"), "ALERT_SMTP_HOST": "127.0.0.1", "ALERT_SMTP_PORT": "9",
        "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    try:
        plat.start(timeout=400)
        api = AirflowClient(plat)
        target = "credit__model_rollback"
        api.ok("PATCH", f"/dags/{target}", json={"is_paused": True})  # the runs stay queued: only the writes count
        for n in range(args.rounds):
            acq = api.trigger("churn__data_acquisition", user="data_engineer", partition_key="2025-12-31")
            time.sleep(3)  # let the acquisition's tasks start writing
            result = summary(burst(api, target, args.count, args.concurrency, conf={"reason": "load test"}))
            result["round"] = n + 1
            result["connect_args"] = plat.env().get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", "(default)")
            print(json.dumps(result))
            api.wait_run("churn__data_acquisition", acq, timeout=600)
    finally:
        plat.stop()


if __name__ == "__main__":
    main()
