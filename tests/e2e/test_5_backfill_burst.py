"""A data engineer backfills six days at once: each daily partition flows downstream exactly once.

The backfill creates six partition-keyed acquisition runs, more than the four the DAG runs at a time, that
finish close together (the burst that gave round 1 two feature runs for three partitions). Partitioned asset
schedules must turn them into exactly one feature-engineering run and one batch-scoring run per day, none
twice and none missing.
Backfilling the same days again (reprocessing completed runs) must change nothing: the same bytes for every
data artifact, the same scores, no new model version or champion move, and the counts still add up.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, timedelta

import pytest

from scripts.rest_client import wait_for
from tests.e2e.conftest import dag_id, use_case_registry

pytestmark = pytest.mark.e2e

FIRST = date(2026, 1, 7)
DAYS = [(FIRST + timedelta(days=i)).isoformat() for i in range(6)]


def _runs_by_key(airflow, stage: str) -> dict[str, list[dict]]:
    runs = airflow.ok("GET", f"/dags/{dag_id(stage)}/dagRuns", params={"limit": 500})["dag_runs"]
    out: dict[str, list[dict]] = {}
    for run in runs:
        if run.get("partition_key") in DAYS:
            out.setdefault(run["partition_key"], []).append(run)
    return out


def test_backfilled_days_give_one_feature_and_one_scoring_run_each(airflow, store):
    # A backfill's range is the partitions (days) to load, first and last included.
    backfill = airflow.ok("POST", "/backfills", user="data_engineer", json={
        "dag_id": dag_id("data_acquisition"), "from_date": f"{DAYS[0]}T00:00:00Z",
        "to_date": f"{DAYS[-1]}T23:59:00Z", "max_active_runs": 6, "reprocess_behavior": "none"})
    assert backfill["dag_id"] == dag_id("data_acquisition")

    def summary() -> str:
        return "\n".join(f"{s}: { {k: [r['state'] for r in v] for k, v in sorted(_runs_by_key(airflow, s).items())} }"
                         for s in ("data_acquisition", "feature_engineering", "batch_scoring"))

    wait_for(lambda: sorted(_runs_by_key(airflow, "data_acquisition")) == DAYS and all(
        r["state"] in ("success", "failed") for v in _runs_by_key(airflow, "data_acquisition").values() for r in v),
        900, "every backfilled day's acquisition run to finish", summary)
    acquired = _runs_by_key(airflow, "data_acquisition")
    assert all(len(v) == 1 and v[0]["state"] == "success" for v in acquired.values()), summary()

    wait_for(lambda: all(store.exists(f"predictions/churn/date={d}/predictions.parquet") for d in DAYS), 900,
          "predictions for every backfilled day", summary)
    time.sleep(20)  # a duplicate hand-off would show up as a second run by now
    for stage in ("feature_engineering", "batch_scoring"):
        runs = _runs_by_key(airflow, stage)
        assert sorted(runs) == DAYS, f"{stage}: partitions {sorted(runs)}\n{summary()}"
        twice = {k: len(v) for k, v in runs.items() if len(v) != 1}
        assert twice == {}, f"{stage} ran a partition more than once: {twice}\n{summary()}"
        assert all(v[0]["run_type"] == "asset_triggered" for v in runs.values())
    for day in DAYS:
        result = store.read_json(f"validation/churn/date={day}/result.json")
        assert result["received"] == result["accepted"] + result["quarantined"]
        assert len(store.read_frame(f"predictions/churn/date={day}/predictions.parquet")) == result["accepted"]


def _fingerprints(store) -> dict[str, str]:
    """sha256 of every data artifact of the backfilled days; predictions by content without ``scored_at`` (the moment
    of scoring is metadata a rescore rightly renews)."""
    out = {}
    for day in DAYS:
        for kind in ("raw", "quarantine", "features", "validation", "labels"):
            for key in store.list(f"{kind}/churn/date={day}/"):
                if key.endswith((".parquet", ".csv")):
                    out[key] = hashlib.sha256(store.read_bytes(key)).hexdigest()
        scores = store.read_frame(f"predictions/churn/date={day}/predictions.parquet").drop(columns=["scored_at"])
        out[f"predictions/{day}"] = hashlib.sha256(scores.to_csv(index=False).encode()).hexdigest()
    return out


def test_backfilling_the_same_days_again_changes_nothing(airflow, store):
    before = _fingerprints(store)
    assert len(before) >= 3 * len(DAYS), sorted(before)
    registry = use_case_registry(store, "churn")
    champion, ledger_before = registry.alias_version("champion"), len(registry.ledger())
    airflow.ok("POST", "/backfills", user="data_engineer", json={
        "dag_id": dag_id("data_acquisition"), "from_date": f"{DAYS[0]}T00:00:00Z",
        "to_date": f"{DAYS[-1]}T23:59:00Z", "max_active_runs": 6, "reprocess_behavior": "completed"})

    def done(stage: str) -> bool:
        runs = _runs_by_key(airflow, stage)
        return sorted(runs) == DAYS and all(len(v) == 2 and all(r["state"] in ("success", "failed") for r in v)
                                            for v in runs.values())

    def summary() -> str:
        return "\n".join(f"{s}: { {k: [r['state'] for r in v] for k, v in sorted(_runs_by_key(airflow, s).items())} }"
                         for s in ("data_acquisition", "feature_engineering", "batch_scoring"))

    for stage in ("data_acquisition", "feature_engineering", "batch_scoring"):
        wait_for(lambda stage=stage: done(stage), 900, f"every day's second {stage} run to finish", summary)
        runs = _runs_by_key(airflow, stage)
        assert all(r["state"] == "success" for v in runs.values() for r in v), summary()
    after = _fingerprints(store)
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert not changed and after.keys() == before.keys(), changed or sorted(set(after) ^ set(before))
    # No champion move came of it. Monitoring may rightly ask for a retrain on the (drifting) days it saw again;
    # a version then comes from that retrain run, never a second one from one run.
    assert registry.alias_version("champion") == champion
    added = registry.ledger()[ledger_before:]
    assert not [e for e in added if e["event"] in ("promoted", "rolled_back")], added
    runs = [registry.manifest(v).get("run_id") for v in registry.versions()]
    assert len(runs) == len(set(runs)), runs
    assert all(str(registry.manifest(e["version"]).get("run_id")).startswith("retrain__")
               for e in added if e["event"] == "registered"), added
    for day in DAYS:
        result = store.read_json(f"validation/churn/date={day}/result.json")
        assert result["received"] == result["accepted"] + result["quarantined"]
