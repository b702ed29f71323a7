"""Tables of the SME request: each slice judged on its own, and the live (shadow) comparison of the challenger.

Plain Markdown from the stored evidence; kept apart from the gate operator so approval.py stays about the gate.
"""

from __future__ import annotations

from typing import Any


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}" if value == 0 or abs(value) >= 10 ** -digits else f"{value:.2g}"
    return "–" if value is None else str(value)


def slice_table(cand: dict[str, Any], champ: dict[str, Any], comparison: dict[str, Any], primary: str) -> list[str]:
    """Each slice with its interval, the champion's value and its own threshold's verdict (pass/FAIL/WARNING)."""
    metric = cand.get("slice_metric", primary)
    champ_slices = champ.get("slices") or {}
    own = {(c.get("slice"), c.get("metric")): c for c in comparison.get("checks", []) if c.get("kind") == "slice_value"}
    bounds = cand.get("slice_thresholds") or {}
    shown = {"pass": "ok", "fail": "**FAIL**", "warn": "**WARNING**", "skipped": "not judged"}
    block = "blocks the blessing" if cand.get("slice_thresholds_block", True) else "warns only (does not block)"
    rule = ", ".join(f"{m} {'<=' if m == 'expected_cost_per_customer' else '>='} {b:g}" for m, b in bounds.items())
    lines = ["", f"**Slices** ({metric}; own threshold: {rule or 'none'}, a miss {block})", "",
             "| slice | value | rows | candidate | CI | champion | own threshold |", "|---|---|---|---|---|---|---|"]
    for col, rows in (cand.get("slices") or {}).items():
        other = {str(r.get("value")): r for r in champ_slices.get(col, [])}
        for row in rows:
            val = str(row.get("value"))
            ci = (row.get("ci") or {}).get(metric) or {}
            interval = f"[{_fmt(ci.get('low'))}, {_fmt(ci.get('high'))}]" if ci.get("low") is not None else "–"
            verdicts = [shown.get(c["status"], c["status"]) for (s, _m), c in own.items() if s == f"{col}={val}"]
            lines.append(f"| {col} | {val} | {row.get('rows')} | {_fmt(row.get(metric))} | {interval} | "
                         f"{_fmt(other.get(val, {}).get(metric))} | {', '.join(verdicts) or '–'} |")
    return lines


def shadow_section(comparison: dict[str, Any], gate: dict[str, Any]) -> list[str]:
    """The live comparison beside the holdout one: challenger minus champion on the same matured live rows."""
    o = comparison.get("overall") or {}
    if not o:
        return ["", f"**Live comparison (shadow):** {comparison.get('verdict')} — {comparison.get('reason')}"]
    pct = int(round(100 * float(o.get("confidence", 0.95))))
    ci, cost_ci = o.get("difference_ci") or [None, None], o.get("cost_difference_ci") or [None, None]
    lines = ["", f"**Live comparison (shadow), as of {comparison.get('date')}:** challenger v"
                 f"{comparison.get('challenger_version')} vs the served champion on {comparison.get('labelled_rows')} "
                 f"matured live rows over {len(comparison.get('days_with_labels') or [])} day(s) — "
                 f"**{comparison.get('verdict')}**: {comparison.get('reason')}", "",
             f"| on live rows | champion | challenger | difference | {pct}% paired CI |", "|---|---|---|---|---|",
             f"| {o.get('metric')} | {_fmt(o.get('champion'))} | {_fmt(o.get('challenger'))} | "
             f"{_fmt(o.get('difference'))} | [{_fmt(ci[0])}, {_fmt(ci[1])}] |",
             f"| cost per row | {_fmt(o.get('cost_champion'), 2)} | {_fmt(o.get('cost_challenger'), 2)} | "
             f"{_fmt(o.get('cost_difference'), 2)} | [{_fmt(cost_ci[0], 2)}, {_fmt(cost_ci[1], 2)}] |"]
    for col, entries in (comparison.get("slices") or {}).items():
        for e in entries:
            if e.get("judged"):
                lines.append(f"| {col}={e['value']} ({e['rows']} rows) | {_fmt(e.get('champion'))} | "
                             f"{_fmt(e.get('challenger'))} | {_fmt(e.get('difference'))} | "
                             f"[{_fmt((e.get('difference_ci') or [None])[0])}, "
                             f"{_fmt((e.get('difference_ci') or [None, None])[1])}] |")
    lines += ["", f"Shadow comparison sha256 `{str(gate.get('comparison_sha256'))[:16]}` is bound to this decision."]
    return lines
