"""A store holding what the console shows: two really trained and registered versions (v1 champion, v2
registered), a validated partition with quarantined rows, two monitoring days, a sent alert, and three live days
served by v1 and shadow-scored by v2, each compared as labels mature (the library's own scoring and shadow code).

The registry part is built by the library (training steps + registry); the validation and monitoring
artifacts are written at their layout keys in the shape the acquisition and monitoring steps write them,
so these tests need neither Great Expectations nor Evidently.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from include.lifecycle import layout, steps
from include.lifecycle.model.features import clean
from include.lifecycle.model.registry import registry_for
from include.lifecycle.serve.scoring import score_partition
from include.lifecycle.serve.shadow import compare_in_shadow, score_shadow

DAY = "2026-01-05"
DAYS = ("2026-01-04", "2026-01-05")
EVIL = "<script>alert('x')</script>"
LIVE = ("2026-01-10", "2026-01-11", "2026-01-12")  # v2 in shadow; each day's labels arrive the next day


def train_and_register(store, uc, rows: pd.DataFrame, run_id: str, start: date = date(2026, 1, 1),
                       days: int = 2) -> dict:
    """The training DAG's steps on ``rows``: assemble, train, select, evaluate, package (QA + model card),
    register."""
    for i, idx in enumerate(np.array_split(np.arange(len(rows)), days)):
        part = rows.iloc[idx]
        day = start + timedelta(days=i)
        store.write_frame(layout.features_key(uc, day), clean(part.drop(columns=[uc.target]), uc))
        store.write_frame(layout.labels_key(uc, day), part[[uc.id_column, uc.target]])
    steps.step_assemble(store, uc, start + timedelta(days=days - 1), run_id)
    name = uc.raw["candidates"][0]["name"]
    best = steps.step_select_best(store, uc, run_id, [steps.step_train_candidate(store, uc, run_id, name)])
    steps.step_evaluate(store, uc, run_id, best)
    steps.step_package(store, uc, run_id, best)
    return steps.step_register(store, uc, run_id)


def shadow_live_days(store, uc, rows: pd.DataFrame) -> None:
    """The batch-scoring DAG on each live day: v1 serves, v2 scores in shadow, the day's comparison is written;
    the previous day's labels are delivered that day (so the days have 0, 100 and 200 labelled rows)."""
    previous = None
    for day, idx in zip(LIVE, np.array_split(np.arange(len(rows)), len(LIVE)), strict=True):
        part = rows.iloc[idx]
        store.write_frame(layout.features_key(uc, day), clean(part.drop(columns=[uc.target]), uc))
        score_partition(store, uc, day, 1)
        score_shadow(store, uc, day, {"version": 2})
        if previous is not None:
            store.write_frame(layout.labels_key(uc, day), previous[[uc.id_column, uc.target]])
        compare_in_shadow(store, uc, 2, day)
        previous = part


def build(store, uc, rows: pd.DataFrame) -> dict:
    train_and_register(store, uc, rows.iloc[:700], run_id="run-1")
    registry = registry_for(store, uc)
    registry.promote(1, actor="sme_alice", comment=f"first champion {EVIL}")
    train_and_register(store, uc, rows.iloc[:800], run_id="run-2", start=date(2026, 1, 3))
    registry.append("approval_requested", 2, actor="lifecycle",
                    details={"run_id": "manual__2", "action": "promote"})
    shadow_live_days(store, uc, rows.iloc[800:1100])
    bad = rows.iloc[:3].astype(str).copy()
    bad["_line"] = ["2", "3", "4"]
    bad["_reasons"] = ["tenure: -5 < 0", f"contract: {EVIL} not allowed", "monthly_charges: not a number"]
    store.write_frame(layout.quarantine_rows_key(uc, DAY), bad)
    store.write_json(layout.quarantine_reasons_key(uc, DAY), {"use_case": uc.name, "date": DAY, "status": "partial",
                                                              "quarantined": 3})
    store.write_json(layout.validation_result_key(uc, DAY), {
        "use_case": uc.name, "date": DAY, "status": "partial", "received": 100, "accepted": 97, "quarantined": 3,
        "reasons": ["3 row(s) out of range"], "gx_success": False, "validated_at": datetime.now(UTC).isoformat(),
        "expectations": [{"expectation": "expect_column_values_to_be_between", "column": "tenure",
                          "success": False, "unexpected_count": 1}]})
    store.write_text(layout.validation_report_key(uc, DAY), "<html><body><h1>GX report</h1><script>1</script>"
                                                            "</body></html>")
    # EDA profiles where the acquisition and training DAGs write them (Evidently's HTML is opaque to the console).
    store.write_text(layout.profile_key(uc, DAY), f"<html><body>EDA profile {DAY}</body></html>")
    store.write_json(layout.profile_summary_key(uc, DAY), {
        "status": "ok", "sampling_text": [f"Profiled rows: all 97 rows profiled (no sampling). {EVIL}"]})
    store.write_text(layout.training_profile_key(uc, "run-2"), "<html><body>training-set profile</body></html>")
    series = []
    for i, day in enumerate(DAYS):
        share = 0.1 if i == 0 else 0.6  # the second day drifts
        store.write_json(layout.monitoring_result_key(uc, day), {
            "date": day, "version": 1, "drift_share": share, "breaches": [] if i == 0 else ["dataset_drift"],
            "column_drift": {"monthly_charges": {"value": 0.02 + i}, "tenure": {"value": 0.01}}})
        store.write_text(layout.monitoring_report_key(uc, day), f"<html><body>Evidently {day}</body></html>")
        series.append({"date": day, "version": 1, "rows": 100, "drift_share": share, "roc_auc": 0.8 - i / 10,
                       "breaches": "" if i == 0 else "dataset_drift"})
    store.write_bytes(layout.timeseries_key(uc), pd.DataFrame(series).to_csv(index=False).encode())
    at = datetime.now(UTC)
    store.write_json(layout.sent_alert_key(at, "a1"), {
        "id": "a1", "sent_at": at.isoformat(), "subject": "drift",
        "alert": {"kind": "drift_detected", "use_case": uc.name, "summary": f"drift {EVIL}",
                  "links": {"drift report": f"http://x/lifecycle/uc/{uc.name}/monitoring/{DAY}/report.html"}},
        "channels": {"email": {"status": "sent"}}})
    store.write_json(layout.sent_alert_key(at, "a2"), {
        "id": "a2", "sent_at": at.isoformat(), "subject": "other", "alert": {"kind": "drift_detected",
                                                                             "use_case": "credit", "summary": "x"}})
    return {"day": DAY, "days": DAYS}
