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
  :func:`include.lifecycle.evaluation.point_metrics` (scikit-learn), not Evidently's ClassificationPreset:
  the numbers are then defined exactly like the holdout evidence in the manifest (same cost-optimal
  threshold, same expected-cost formula), so "0.71 now vs 0.84 at registration" is a like-for-like drop,
  and they cost milliseconds. A breach needs ``min_labelled_rows`` (default 100) labelled rows with both
  classes: an AUC on 20 rows is noise, not evidence.
* **Cost**: Evidently took 83 s for 1M rows (DESIGN.md), so both frames are sampled (uniform, seeded) to
  ``sample_rows``; the result states the sampling and the PSI a pure sampling difference would produce,
  ``(bins - 1) * (1/n_current + 1/n_reference)``, to compare with the thresholds.

Evidently is imported inside :func:`monitor` only, so the light helpers here (keys, the time series reader)
stay cheap to import.
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from include.lifecycle.config import UseCase
from include.lifecycle.evaluation import costs, point_metrics
from include.lifecycle.features import clean, day_str, features_key
from include.lifecycle.registry import registry_for
from include.lifecycle.scoring import decision_threshold, local_copy, positive_index, predictions_key
from include.lifecycle.steps import run_prefix
from include.lifecycle.storage import ArtifactStore, ConflictError, sha256_bytes
from include.lifecycle.training import _labels_frame, holdout_mask, limited_threads, target_vector

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "drift_share_threshold": 0.3,
    "column_drift_threshold": 0.1,
    "prediction_drift_threshold": 0.1,
    "performance_min": {},
    "sample_rows": 50_000,
    "window_days": 7,
    "min_current_rows": 500,
    "performance_window_days": 30,
    "min_labelled_rows": 100,
    "drift_method": "psi",
}
# Methods whose value is a distance (drift when value >= threshold); every other Evidently method is a p-value.
DISTANCE_METHODS = {"psi", "wasserstein", "jensenshannon", "kl_div", "hellinger", "ed"}
PERFORMANCE_METRICS = ("roc_auc", "average_precision", "recall", "precision", "f1", "accuracy",
                       "expected_cost_per_customer")
TIMESERIES_COLUMNS = [
    "date", "version", "rows", "window_start", "window_days_used", "reference_rows", "drift_share",
    "drifted_columns_count", "dataset_drift", "prediction_drift", "labelled_rows", "roc_auc", "recall",
    "precision", "expected_cost_per_customer", "breach_dataset_drift", "breach_prediction_drift",
    "breach_performance", "breaches", "computed_at",
]


class MonitoringError(RuntimeError):
    """Monitoring cannot run as asked: nothing scored in the window, or a reference that fails its checksum."""


# -- keys and settings ------------------------------------------------------------------------
def monitoring_prefix(uc: UseCase) -> str:
    return f"monitoring/{uc.name}"


def report_key(uc: UseCase, day: date | str) -> str:
    return f"{monitoring_prefix(uc)}/date={day_str(day)}/report.html"


def result_key(uc: UseCase, day: date | str) -> str:
    return f"{monitoring_prefix(uc)}/date={day_str(day)}/result.json"


def timeseries_key(uc: UseCase) -> str:
    return f"{monitoring_prefix(uc)}/timeseries.csv"


def labels_key(uc: UseCase, day: date | str) -> str:
    return f"labels/{uc.name}/date={day_str(day)}/labels.parquet"


def settings(uc: UseCase) -> dict[str, Any]:
    """The ``monitoring`` section over the defaults above."""
    merged = {**DEFAULTS, **uc.section("monitoring")}
    merged["seed"] = int(merged.get("seed", uc.raw.get("seed", 0)))
    return merged


def _as_day(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def num_rows(store: ArtifactStore, key: str) -> int:
    """Row count from the Parquet footer (no data pages read on a local store)."""
    with local_copy(store, key) as path:
        return int(pq.ParquetFile(path).metadata.num_rows)


# -- reference --------------------------------------------------------------------------------
def _rebuild_train(store: ArtifactStore, uc: UseCase, manifest: dict[str, Any]) -> pd.DataFrame:
    """The training rows from the partitions the manifest lists, split off the way training did."""
    lineage = manifest.get("lineage") or {}
    frames, labels = [], []
    for kind, out in (("features", frames), ("labels", labels)):
        for part in lineage.get(kind) or []:
            data = store.read_bytes(part["key"])
            if part.get("sha256") and sha256_bytes(data) != part["sha256"]:
                raise MonitoringError(f"{store.uri(part['key'])} changed since v{manifest['version']} was trained on it")
            frame = pd.read_parquet(io.BytesIO(data))
            out.append(clean(frame, uc).drop(columns=[uc.target], errors="ignore") if kind == "features"
                       else _labels_frame(frame, uc))
    if not frames or not labels:
        raise MonitoringError(f"model v{manifest['version']}: no training run folder and no lineage to rebuild from")
    features = pd.concat(frames, ignore_index=True).drop_duplicates(uc.id_column, keep="last")
    label_frame = pd.concat(labels, ignore_index=True).drop_duplicates(uc.id_column, keep="last")
    joined = features.merge(label_frame, on=uc.id_column, how="inner")
    joined[uc.target] = target_vector(joined, uc)
    fraction = float(uc.section("evaluation").get("holdout_fraction", 0.25))
    train = joined[~holdout_mask(joined[uc.id_column], fraction, uc.name)]
    return train.sort_values(uc.id_column, kind="stable").reset_index(drop=True)


def reference_frame(store: ArtifactStore, uc: UseCase, version: int, with_scores: bool = True) -> pd.DataFrame:
    """The version's training rows (id, features, 0/1 target) and, with ``with_scores``, its own ``score``.

    Read from the training run that registered the version, after checking that the run's lineage is the
    version's (``lineage_sha256``) and the file's sha256 is the one training recorded.
    """
    registry = registry_for(store, uc)
    manifest = registry.manifest(version)
    run_id = manifest.get("run_id")
    frame = None
    if run_id:
        base = run_prefix(uc, str(run_id))
        train_key, lineage_key = f"{base}/train.parquet", f"{base}/lineage.json"
        if store.exists(train_key) and store.exists(lineage_key):
            lineage = store.read_json(lineage_key)
            if manifest.get("lineage_sha256") and lineage.get("lineage_sha256") != manifest["lineage_sha256"]:
                raise MonitoringError(f"{store.uri(lineage_key)} is not the lineage model v{version} was trained on")
            data = store.read_bytes(train_key)
            if lineage.get("train_sha256") and sha256_bytes(data) != lineage["train_sha256"]:
                raise MonitoringError(f"{store.uri(train_key)} changed since training wrote it (sha256 mismatch)")
            frame = pd.read_parquet(io.BytesIO(data))
    if frame is None:
        log.warning("model v%s: training run folder missing, rebuilding the reference from its lineage", version)
        frame = _rebuild_train(store, uc, manifest)
    if with_scores:
        model = registry.load_model(version)
        with limited_threads():
            frame["score"] = model.predict_proba(frame[uc.feature_columns])[:, positive_index(model)]
    return frame


def _reference_sample(store: ArtifactStore, uc: UseCase, version: int, n: int, seed: int
                      ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A seeded sample of the scored reference, cached per (version, model bytes, n, seed)."""
    registry = registry_for(store, uc)
    sha = registry.manifest(version)["model_sha256"]
    base = f"{monitoring_prefix(uc)}/reference/v{int(version)}-{sha[:12]}-n{n}-s{seed}"
    if store.exists(f"{base}.json") and store.exists(f"{base}.parquet"):
        meta = store.read_json(f"{base}.json")
        data = store.read_bytes(f"{base}.parquet")
        if sha256_bytes(data) == meta.get("sha256"):
            return pd.read_parquet(io.BytesIO(data)), meta
        log.warning("reference cache %s does not match its checksum; rebuilding it", base)
    full = reference_frame(store, uc, version, with_scores=False)
    total = len(full)
    sample = full.sample(n=n, random_state=seed) if total > n else full
    sample = sample.reset_index(drop=True)
    model = registry.load_model(version)
    with limited_threads():
        sample["score"] = model.predict_proba(sample[uc.feature_columns])[:, positive_index(model)]
    digest = store.write_frame(f"{base}.parquet", sample)
    meta = {"version": int(version), "rows_total": int(total), "rows": int(len(sample)), "seed": seed,
            "sha256": digest, "key": f"{base}.parquet", "built_at": datetime.now(UTC).isoformat()}
    store.write_json(f"{base}.json", meta)
    return sample, meta


# -- current ----------------------------------------------------------------------------------
def _quotas(counts: list[int], n: int) -> list[int]:
    """Split ``n`` sampled rows over partitions in proportion to their size (largest remainder)."""
    total = sum(counts)
    if total <= n:
        return list(counts)
    exact = [c * n / total for c in counts]
    quotas = [math.floor(x) for x in exact]
    order = sorted(range(len(counts)), key=lambda i: exact[i] - quotas[i], reverse=True)
    for i in order[: n - sum(quotas)]:
        quotas[i] += 1
    return quotas


def current_window(store: ArtifactStore, uc: UseCase, day: date | str, cfg: dict[str, Any]
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Features + predictions of ``day`` and, while too small, earlier days; sampled to ``sample_rows``."""
    end = _as_day(day)
    dates, counts = [], []
    for back in range(int(cfg["window_days"])):
        d = end - timedelta(days=back)
        if store.exists(predictions_key(uc, d)) and store.exists(features_key(uc, d)):
            dates.append(d)
            counts.append(num_rows(store, predictions_key(uc, d)))
        if sum(counts) >= int(cfg["min_current_rows"]):
            break
    if not dates or sum(counts) == 0:
        raise MonitoringError(
            f"use case {uc.name!r}: no scored partition between {end - timedelta(days=int(cfg['window_days']) - 1)} "
            f"and {end}; run batch scoring first"
        )
    quotas = _quotas(counts, int(cfg["sample_rows"]))
    rng = np.random.default_rng([int(cfg["seed"]), end.toordinal()])
    parts = []
    for d, quota in zip(dates, quotas, strict=True):
        feats = store.read_frame(features_key(uc, d), columns=[uc.id_column, *uc.feature_columns])
        preds = store.read_frame(predictions_key(uc, d), columns=[uc.id_column, "score", "model_version"])
        joined = feats.merge(preds, on=uc.id_column, how="inner")
        if quota < len(joined):
            joined = joined.iloc[np.sort(rng.choice(len(joined), size=quota, replace=False))]
        parts.append(joined.assign(_date=d.isoformat()))
    frame = pd.concat(parts, ignore_index=True)
    info = {"dates": [d.isoformat() for d in sorted(dates)], "rows_total": int(sum(counts)), "rows": int(len(frame)),
            "day_has_predictions": end in dates}
    return frame, info


# -- performance ------------------------------------------------------------------------------
def performance(store: ArtifactStore, uc: UseCase, day: date | str, version: int, cfg: dict[str, Any]
                ) -> dict[str, Any]:
    """Metrics of ``version`` on its predictions whose labels were delivered on or before ``day``."""
    end = _as_day(day)
    start = end - timedelta(days=int(cfg["performance_window_days"]) - 1)
    registry = registry_for(store, uc)
    manifest = registry.manifest(version)
    trained_on = {str(p.get("date")) for p in (manifest.get("lineage") or {}).get("features") or []}
    label_parts, label_dates = [], []
    for back in range((end - start).days + 1):
        d = end - timedelta(days=back)
        if store.exists(labels_key(uc, d)):
            label_parts.append(_labels_frame(store.read_frame(labels_key(uc, d)), uc).assign(_delivered=d.isoformat()))
            label_dates.append(d.isoformat())
    threshold = decision_threshold(registry, version)
    minimums = {k: float(v) for k, v in (cfg.get("performance_min") or {}).items()}
    out: dict[str, Any] = {
        "window": [start.isoformat(), end.isoformat()], "labels_delivered_on": sorted(label_dates),
        "threshold": threshold, "min_labelled_rows": int(cfg["min_labelled_rows"]), "minimums": minimums,
        "labelled_rows": 0, "positives": 0, "metrics": {}, "judged": False,
        "at_registration": {k: (manifest.get("metrics") or {}).get(k) for k in PERFORMANCE_METRICS},
        "excluded_training_partitions": 0, "other_version_rows": 0,
    }
    if not label_parts:
        out["why_not_judged"] = f"no labels delivered between {start} and {end}"
        return out
    # Oldest delivery first, so that "keep last" keeps the latest delivery of an id (a corrected label wins).
    labels = pd.concat(label_parts, ignore_index=True).sort_values("_delivered", kind="stable")
    matched = []
    for back in range((end - start).days + 1):
        d = end - timedelta(days=back)
        key = predictions_key(uc, d)
        if not store.exists(key):
            continue
        if d.isoformat() in trained_on:
            out["excluded_training_partitions"] += 1
            continue
        # A label delivered before the row was scored describes an earlier observation of that id, not
        # the outcome this prediction forecast: only deliveries on or after the scoring day count.
        usable = labels[labels["_delivered"] >= d.isoformat()].drop_duplicates(uc.id_column, keep="last")
        preds = store.read_frame(key, columns=[uc.id_column, "score", "model_version"])
        mine = preds["model_version"] == int(version)
        joined = preds[mine].merge(usable, on=uc.id_column, how="inner")
        out["other_version_rows"] += int(preds[~mine][uc.id_column].isin(usable[uc.id_column]).sum())
        matched.append(joined.assign(_scored=d.isoformat()))
    matched = [m for m in matched if len(m)]
    frame = pd.concat(matched, ignore_index=True) if matched else pd.DataFrame()
    if len(frame):
        frame = frame.sort_values("_scored", kind="stable").drop_duplicates(uc.id_column, keep="last")
    out["labelled_rows"] = int(len(frame))
    if not len(frame):
        out["why_not_judged"] = "no prediction of this version has a delivered label yet"
        return out
    y = target_vector(frame, uc)
    p = frame["score"].to_numpy(dtype="float64")
    out["positives"] = int(y.sum())
    metrics = point_metrics(y, p, threshold, costs(uc))
    out["metrics"] = {k: metrics.get(k) for k in PERFORMANCE_METRICS}
    if len(frame) < out["min_labelled_rows"]:
        out["why_not_judged"] = f"{len(frame)} labelled rows < min_labelled_rows {out['min_labelled_rows']}"
    elif len(np.unique(y)) < 2:
        out["why_not_judged"] = "labelled rows hold a single class"
    else:
        out["judged"] = True
        out["why_not_judged"] = None
    return out


# -- the run ----------------------------------------------------------------------------------
def _drift_detected(value: float | None, threshold: float, method: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return value >= threshold if method in DISTANCE_METHODS else value < threshold


def _expected_null_psi(n_cur: int, n_ref: int) -> tuple[float, int]:
    """PSI a pure sampling difference gives on equal distributions (Evidently bins numerics by Sturges' rule)."""
    if not n_cur or not n_ref:
        return float("nan"), 0
    bins = int(math.ceil(math.log2(n_cur + n_ref) + 1))
    return (bins - 1) * (1 / n_cur + 1 / n_ref), bins


def _run_evidently(uc: UseCase, current: pd.DataFrame, reference: pd.DataFrame, cfg: dict[str, Any]) -> Any:
    """One Report: DataDriftPreset over the features + ValueDrift on the score."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    features = uc.feature_columns
    definition = DataDefinition(numerical_columns=[*uc.columns_of_kind("numeric"), "score"],
                                categorical_columns=uc.columns_of_kind("categorical", "binary"))
    metrics: list[Any] = [
        DataDriftPreset(columns=features, method=cfg["drift_method"], threshold=float(cfg["column_drift_threshold"]),
                        drift_share=float(cfg["drift_share_threshold"])),
    ]
    if current["score"].notna().any():  # none when every current row was scored by another version
        metrics.append(ValueDrift(column="score", method="psi", threshold=float(cfg["prediction_drift_threshold"])))
    report = Report(metrics)
    cols = [*features, "score"]
    return report.run(Dataset.from_pandas(current[cols].reset_index(drop=True), data_definition=definition),
                      Dataset.from_pandas(reference[cols].reset_index(drop=True), data_definition=definition))


def _parse_snapshot(snapshot: Any) -> tuple[dict[str, float | None], dict[str, Any] | None, float | None]:
    """Per-column drift values, the drifted-columns count/share and the score drift from ``snapshot.dict()``."""
    columns: dict[str, float | None] = {}
    count = None
    score = None
    for metric in snapshot.dict()["metrics"]:
        cfg = metric.get("config") or {}
        kind = str(cfg.get("type", ""))
        value = metric.get("value")
        if kind.endswith(":DriftedColumnsCount"):
            count = {"count": int(value["count"]), "share": float(value["share"])}
        elif kind.endswith(":ValueDrift"):
            number = None if value is None else float(value)
            if cfg.get("column") == "score":
                score = number
            else:
                columns[str(cfg.get("column"))] = number
    return columns, count, score


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _summary_html(result: dict[str, Any]) -> str:
    """Our verdict above Evidently's report: what breached, against which threshold, on how many rows."""
    e = html.escape
    perf = result["performance"]
    breaches = "".join(f"<li>{e(b['detail'])}</li>" for b in result["breach_details"]) or "<li>none</li>"
    rows = "".join(
        f"<tr><td>{e(k)}</td><td>{_fmt(v)}</td><td>{_fmt(perf['at_registration'].get(k))}</td>"
        f"<td>{_fmt(perf['minimums'].get(k))}</td></tr>"
        for k, v in perf["metrics"].items()
    )
    perf_table = (f"<table border='1' cellpadding='4' style='border-collapse:collapse'><tr><th>metric</th>"
                  f"<th>now</th><th>at registration</th><th>minimum</th></tr>{rows}</table>") if rows else ""
    return (
        "<div style='font-family:sans-serif;padding:12px 20px;border-bottom:2px solid #888;background:#f6f6f6'>"
        f"<h2>{e(result['use_case'])} monitoring, {e(result['date'])} &mdash; model v{result['version']}</h2>"
        f"<p><b>Breaches:</b></p><ul>{breaches}</ul>"
        f"<p>Data drift: {result['drifted_columns_count']} of {len(result['column_drift'])} columns drifted "
        f"(share {_fmt(result['drift_share'], 3)}, dataset drift at &ge; {result['thresholds']['drift_share']}); "
        f"drifted: {e(', '.join(result['drifted_columns']) or 'none')}.<br>"
        f"Prediction drift (PSI of score): {_fmt(result['prediction_drift'])} "
        f"(threshold {result['thresholds']['prediction_drift']}).<br>"
        f"Current window: {e(', '.join(result['window']['dates']))}.<br>"
        f"Sampling: {e(result['sampling'])}</p>"
        f"<p><b>Performance</b> on {perf['labelled_rows']} matured labelled rows "
        f"(window {e(' .. '.join(perf['window']))}, threshold {perf['threshold']}): "
        f"{e(perf.get('why_not_judged') or 'judged')}</p>{perf_table}</div>"
    )


def _with_summary(report_html: str, summary: str) -> str:
    marker = report_html.find("<body")
    if marker < 0:
        return summary + report_html
    end = report_html.find(">", marker) + 1
    return report_html[:end] + summary + report_html[end:]


def upsert_timeseries(store: ArtifactStore, uc: UseCase, row: dict[str, Any], attempts: int = 20) -> pd.DataFrame:
    """Replace the row of ``row['date']`` (or add it) with compare-and-swap, so parallel days never lose rows."""
    key = timeseries_key(uc)
    for _attempt in range(attempts):
        tag = store.version_tag(key)
        if tag is None:
            table = pd.DataFrame(columns=TIMESERIES_COLUMNS)
        else:
            table = pd.read_csv(io.BytesIO(store.read_bytes(key)), dtype={"date": str})
        records = [r for r in table.to_dict("records") if str(r.get("date")) != row["date"]]
        records.append({c: row.get(c) for c in TIMESERIES_COLUMNS})
        table = pd.DataFrame(sorted(records, key=lambda r: str(r["date"])), columns=TIMESERIES_COLUMNS)
        try:
            store.replace(key, table.to_csv(index=False, lineterminator="\n").encode("utf-8"), tag)
        except ConflictError:
            continue
        return table
    raise ConflictError(f"{store.uri(key)}: gave up after {attempts} concurrent updates")


def read_timeseries(store: ArtifactStore, uc: UseCase) -> pd.DataFrame:
    key = timeseries_key(uc)
    if not store.exists(key):
        return pd.DataFrame(columns=TIMESERIES_COLUMNS)
    return pd.read_csv(io.BytesIO(store.read_bytes(key)), dtype={"date": str})


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
        "report_key": report_key(uc, d),
        "result_key": result_key(uc, d),
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
    store.write_text(report_key(uc, d), _with_summary(snapshot.get_html_str(as_iframe=False), _summary_html(result)))
    result["seconds"] = {"evidently": round(evidently_s, 3), "total": round(time.perf_counter() - started, 3)}
    store.write_json(result_key(uc, d), result)
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
