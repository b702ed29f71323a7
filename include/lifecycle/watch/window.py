"""What monitoring compares: the current window of scored rows, and the matured-label performance.
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from include.lifecycle.config import UseCase
from include.lifecycle.layout import (
    as_date,
    features_key,
    labels_key,
    predictions_key,
)
from include.lifecycle.model.evaluation import costs, point_metrics
from include.lifecycle.model.registry import registry_for
from include.lifecycle.model.training import _labels_frame, target_vector
from include.lifecycle.serve.scoring import decision_threshold, local_copy
from include.lifecycle.store import ArtifactStore
from include.lifecycle.watch.settings import PERFORMANCE_METRICS, MonitoringError

log = logging.getLogger(__name__)


def num_rows(store: ArtifactStore, key: str) -> int:
    """Row count from the Parquet footer (no data pages read on a local store)."""
    with local_copy(store, key) as path:
        return int(pq.ParquetFile(path).metadata.num_rows)


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


def _take(path: Any, columns: list[str], positions: np.ndarray, categorical: tuple[str, ...] = ()) -> pa.Table:
    """Rows at sorted ``positions`` of a Parquet file, reading only the row groups that hold them.

    A sample spread over a large day touches every row group, so the per-row cost of a read is what grows
    with the day: ``categorical`` string columns are decoded as dictionary indices, and only the sampled
    rows become strings.
    """
    pf = pq.ParquetFile(path)
    as_dictionary = [c for c in categorical if c in columns and pa.types.is_string(pf.schema_arrow.field(c).type)]
    if as_dictionary:
        pf = pq.ParquetFile(path, metadata=pf.metadata, read_dictionary=as_dictionary)
    parts, start = [], 0
    for i in range(pf.num_row_groups):
        stop = start + pf.metadata.row_group(i).num_rows
        lo, hi = np.searchsorted(positions, [start, stop])
        if hi > lo:
            parts.append(pf.read_row_group(i, columns=columns).take(pa.array(positions[lo:hi] - start)))
        start = stop
    table = pa.concat_tables(parts) if parts else pf.schema_arrow.empty_table().select(columns)
    for name in as_dictionary:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(i).cast(pa.string()))
    return table


def _sampled_pairs(store: ArtifactStore, uc: UseCase, d: date, quota: int, count: int,
                   rng: np.random.Generator) -> pd.DataFrame | None:
    """The day's sample drawn by position before anything is materialised; None if the files do not align.

    Scoring writes predictions in the features' row order, so row i of both is one customer: the sample is
    then the same rows, in the same order, as joining both files first and sampling the join (the same
    draw from ``rng``), at a cost that grows with the sample, not with the day. Every sampled pair's ids
    are compared; one mismatch (or a different row count) sends the day to the full join.
    """
    f_key, p_key = features_key(uc, d), predictions_key(uc, d)
    state = rng.bit_generator.state  # a fallback draws as if this had not run
    with local_copy(store, f_key) as f_path, local_copy(store, p_key) as p_path:
        if pq.ParquetFile(f_path).metadata.num_rows != count:
            rng.bit_generator.state = state
            return None
        positions = np.arange(count) if quota >= count else np.sort(rng.choice(count, size=quota, replace=False))
        feats = _take(f_path, [uc.id_column, *uc.feature_columns], positions,
                      tuple(uc.columns_of_kind("categorical")))
        preds = _take(p_path, [uc.id_column, "score", "model_version"], positions)
    if not feats.column(uc.id_column).equals(preds.column(uc.id_column)):
        rng.bit_generator.state = state
        return None
    frame = feats.replace_schema_metadata(None).to_pandas()  # the stored RangeIndex is the whole day's
    for col in ("score", "model_version"):
        frame[col] = preds.column(col).to_numpy()
    return frame


def current_window(store: ArtifactStore, uc: UseCase, day: date | str, cfg: dict[str, Any]
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Features + predictions of ``day`` and, while too small, earlier days; sampled to ``sample_rows``."""
    end = as_date(day)
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
    for d, quota, count in zip(dates, quotas, counts, strict=True):
        joined = _sampled_pairs(store, uc, d, quota, count, rng)
        if joined is None:  # rows not in the same order in both files: join everything, then sample
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
    end = as_date(day)
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
