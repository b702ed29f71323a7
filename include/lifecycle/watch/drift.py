"""Data and prediction drift with Evidently 0.7, and the verdict shown above its report.
"""

from __future__ import annotations

import html
import logging
import math
from typing import Any

import pandas as pd

from include.lifecycle.config import UseCase
from include.lifecycle.watch.settings import DISTANCE_METHODS

log = logging.getLogger(__name__)


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
