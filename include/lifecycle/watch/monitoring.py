"""Monitoring of the champion after promotion: data drift, prediction drift and, once labels mature, performance.

One call of :func:`monitor` per (use case, day) writes ``monitoring/<uc>/date=<d>/report.html`` (the Evidently
report with our verdict on top) and ``result.json``, and upserts the day's row of
``monitoring/<uc>/timeseries.csv`` (one row per date, rewritten on a rerun) for plotting.

* **Reference**: the version's own training rows (``training/<uc>/<run_id>/train.parquet``, checked against
  the run's recorded sha256; rebuilt from the partitions listed in the manifest's lineage when the run
  folder is gone), scored by the version itself. A seeded sample of it is cached per version under
  ``monitoring/<uc>/reference/``, so a 1M-row training set is read and scored once, not daily.
* **Current**: features + predictions of ``day``, extended back day by day (at most ``window_days``, default
  7) while fewer than ``min_current_rows`` (default 500) rows are available: one replay day holds ~70 rows,
  too few for a stable per-column PSI.
* **Data drift**: Evidently 0.7 ``DataDriftPreset`` over the feature columns, one method for every column
  (``drift_method``, default PSI, with ``column_drift_threshold``): PSI does not become hypersensitive with
  sample size the way p-values do, so one threshold means the same thing on 500 and on 50,000 rows.
  ``dataset_drift`` is ``drift_share >= drift_share_threshold``.
* **Prediction drift**: Evidently ``ValueDrift(score, method="psi")`` in the same report: the version's
  scores on current rows against its scores on the reference (``prediction_drift_threshold``). Rows scored
  by another version (a promotion inside the window) are left out of this comparison.
* **Performance**: predictions of this version from the last ``performance_window_days`` (default 30) joined by
  id to the labels partitions *delivered on or before* ``day`` (a label delivered later does not exist yet
  for this run) and on or after the prediction's own date (an older label is an earlier observation of that
  id, not the outcome forecast). Partitions the version was trained on are excluded (in-sample). Metrics come from
  :func:`include.lifecycle.model.evaluation.point_metrics` (scikit-learn), not Evidently's ClassificationPreset:
  the numbers are then defined exactly like the holdout evidence in the manifest (same cost-optimal
  threshold, same expected-cost formula), so "0.71 now vs 0.84 at registration" is a like-for-like drop,
  and they cost milliseconds. A breach needs ``min_labelled_rows`` (default 100) labelled rows with both
  classes: an AUC on 20 rows is noise, not evidence.
* **Cost**: Evidently's cost grows with the rows (bench/RESULTS.md), so both frames are sampled (uniform, seeded) to
  ``sample_rows``; the result states the sampling and the PSI a pure sampling difference would produce,
  ``(bins - 1) * (1/n_current + 1/n_reference)``, to compare with the thresholds.

Evidently is imported inside :func:`monitor` only, so the light helpers here (keys, the time series reader)
stay cheap to import.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime
from typing import Any

from include.lifecycle.config import UseCase
from include.lifecycle.layout import (
    day_str,
    monitoring_report_key,
    monitoring_result_key,
    timeseries_key,
)
from include.lifecycle.store import ArtifactStore
from include.lifecycle.watch.drift import (
    _drift_detected,
    _expected_null_psi,
    _fmt,
    _parse_snapshot,
    _run_evidently,
    _summary_html,
    _with_summary,
)
from include.lifecycle.watch.reference import _reference_sample
from include.lifecycle.watch.settings import MonitoringError, settings
from include.lifecycle.watch.timeseries import read_timeseries, upsert_timeseries
from include.lifecycle.watch.window import current_window, performance

log = logging.getLogger(__name__)

__all__ = ["MonitoringError", "monitor", "read_timeseries", "settings"]


def monitor(store: ArtifactStore, uc: UseCase, day: date | str, version: int) -> dict[str, Any]:
    """Drift, prediction drift and matured-label performance of ``version`` for ``day``; idempotent per day."""
    started = time.perf_counter()
    cfg = settings(uc)
    d = day_str(day)
    n = int(cfg["sample_rows"])
    current, window = current_window(store, uc, d, cfg)
    reference, ref_meta = _reference_sample(store, uc, int(version), n, int(cfg["seed"]))
    # Prediction drift compares this version's scores only; rows another version scored drop out (NaN).
    other = current["model_version"] != int(version)
    current = current.assign(score=current["score"].where(~other))
    t0 = time.perf_counter()
    snapshot = _run_evidently(uc, current, reference, cfg)
    evidently_s = time.perf_counter() - t0
    column_drift, counted, prediction_drift = _parse_snapshot(snapshot)
    method = str(cfg["drift_method"])
    col_thr = float(cfg["column_drift_threshold"])
    drifted = sorted(c for c, v in column_drift.items() if _drift_detected(v, col_thr, method))
    share = counted["share"] if counted else len(drifted) / max(len(column_drift), 1)
    share_thr = float(cfg["drift_share_threshold"])
    pred_thr = float(cfg["prediction_drift_threshold"])
    dataset_drift = share >= share_thr
    perf = performance(store, uc, d, int(version), cfg)

    details: list[dict[str, Any]] = []
    if dataset_drift:
        details.append({"kind": "dataset_drift", "value": share, "bound": share_thr,
                        "detail": f"{len(drifted)} of {len(column_drift)} feature columns drifted (share "
                                  f"{share:.3f} >= {share_thr}): {', '.join(drifted)}."})
    if prediction_drift is not None and prediction_drift >= pred_thr:
        details.append({"kind": "prediction_drift", "value": prediction_drift, "bound": pred_thr,
                        "detail": f"Score distribution moved: PSI {prediction_drift:.4f} >= {pred_thr} against "
                                  f"the reference scores."})
    if perf["judged"]:
        for metric, minimum in perf["minimums"].items():
            value = perf["metrics"].get(metric)
            if value is not None and value < minimum:
                details.append({"kind": f"performance:{metric}", "value": value, "bound": minimum,
                                "detail": f"{metric} {value:.4f} < {minimum} on {perf['labelled_rows']} matured "
                                          f"labelled rows."})
    n_cur = int(current["score"].notna().sum())
    null_psi, bins = _expected_null_psi(len(current), len(reference))
    sampling = (
        f"current: {len(current)} of {window['rows_total']} rows ({len(window['dates'])} day(s)"
        f"{', uniform sample, seed ' + str(cfg['seed']) if len(current) < window['rows_total'] else ', all rows'}); "
        f"reference: {len(reference)} of {ref_meta['rows_total']} training rows"
        f"{' (uniform sample, seed ' + str(cfg['seed']) + ')' if len(reference) < ref_meta['rows_total'] else ''}; "
        f"sample_rows={n}. PSI from sampling alone on identical distributions ~ {null_psi:.4f} "
        f"({bins} bins), vs column threshold {col_thr}."
    )
    result: dict[str, Any] = {
        "use_case": uc.name,
        "date": d,
        "version": int(version),
        "report_key": monitoring_report_key(uc, d),
        "result_key": monitoring_result_key(uc, d),
        "timeseries_key": timeseries_key(uc),
        "rows": int(len(current)),
        "window": window,
        "reference": {k: ref_meta.get(k) for k in ("rows_total", "rows", "key", "seed")},
        "dataset_drift": bool(dataset_drift),
        "drift_share": float(share),
        "drifted_columns": drifted,
        "drifted_columns_count": len(drifted),
        "column_drift": column_drift,
        "drift_method": method,
        "prediction_drift": prediction_drift,
        "prediction_drift_rows": n_cur,
        "performance": perf,
        "labelled_rows": perf["labelled_rows"],
        "breaches": [b["kind"] for b in details],
        "breach_details": details,
        "sampling": sampling,
        "thresholds": {"drift_share": share_thr, "column_drift": col_thr, "prediction_drift": pred_thr,
                       "performance_min": perf["minimums"]},
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.write_text(monitoring_report_key(uc, d), _with_summary(snapshot.get_html_str(as_iframe=False), _summary_html(result)))
    result["seconds"] = {"evidently": round(evidently_s, 3), "total": round(time.perf_counter() - started, 3)}
    store.write_json(monitoring_result_key(uc, d), result)
    upsert_timeseries(store, uc, {
        "date": d, "version": int(version), "rows": result["rows"], "window_start": window["dates"][0],
        "window_days_used": len(window["dates"]), "reference_rows": len(reference),
        "drift_share": round(float(share), 6), "drifted_columns_count": len(drifted),
        "dataset_drift": bool(dataset_drift),
        "prediction_drift": None if prediction_drift is None else round(prediction_drift, 6),
        "labelled_rows": perf["labelled_rows"], **{k: perf["metrics"].get(k) for k in
                                                   ("roc_auc", "recall", "precision", "expected_cost_per_customer")},
        "breach_dataset_drift": "dataset_drift" in result["breaches"],
        "breach_prediction_drift": "prediction_drift" in result["breaches"],
        "breach_performance": any(b.startswith("performance:") for b in result["breaches"]),
        "breaches": ";".join(result["breaches"]), "computed_at": result["computed_at"],
    })
    log.info("monitoring %s %s v%s: drift share %.3f, prediction drift %s, %d labelled rows, breaches %s (%.1fs)",
             uc.name, d, version, share, _fmt(prediction_drift), perf["labelled_rows"], result["breaches"],
             result["seconds"]["total"])
    return json.loads(json.dumps(result, default=str))
