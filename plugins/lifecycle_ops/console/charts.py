"""The monitoring charts as plotly figures (JSON for ``static/charts.js``); plotly is imported per request."""

from __future__ import annotations

from typing import Any


def _json(fig: Any) -> str:
    import plotly.io as pio

    return pio.to_json(fig, validate=False, pretty=False)


def _line(title: str, x: list[Any], series: dict[str, list[Any]], threshold: float | None = None,
          y_title: str = "") -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, ys in series.items():
        fig.add_trace(go.Scatter(x=x, y=ys, mode="lines+markers", name=name))
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dash", line_color="#b3261e", annotation_text=f"threshold {threshold}")
    fig.update_layout(title=title, height=320, margin={"l": 50, "r": 20, "t": 40, "b": 40}, yaxis_title=y_title,
                      legend={"orientation": "h"}, xaxis={"type": "category", "title": "day"})
    return _json(fig)


def monitoring_figures(series: list[dict[str, Any]], psi: dict[str, dict[str, float]],
                       thresholds: dict[str, Any]) -> list[tuple[str, str]]:
    """Drift share, PSI per column, and ROC AUC on matured labels against its minimum, one point a day."""
    days = [str(r["date"]) for r in series]
    figures = [("drift-share", _line("Share of drifted feature columns", days,
                                     {"drift share": [r.get("drift_share") for r in series]},
                                     thresholds.get("drift_share"), "share"))]
    psi_days = sorted(psi)
    columns = sorted({c for values in psi.values() for c in values})
    figures.append(("psi", _line("Drift per column (PSI)", psi_days,
                                 {c: [psi[d].get(c) for d in psi_days] for c in columns},
                                 thresholds.get("column_drift"), "PSI")))
    auc_min = (thresholds.get("performance_min") or {}).get("roc_auc")
    figures.append(("roc-auc", _line("ROC AUC on matured labels", days,
                                     {"roc_auc": [r.get("roc_auc") for r in series]}, auc_min, "ROC AUC")))
    return figures
