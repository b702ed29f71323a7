"""Slices judged on their own: per-slice value thresholds (as TFX's), each with the slice's bootstrap interval.

A slice compared only with the champion goes unchecked when there is no champion, and a model that ranks no
better than a coin inside one customer group can look fine overall. So every judged slice must also reach an
absolute bound of its own (``evaluation.slice_thresholds``: metric -> bound, a minimum for higher-is-better
metrics, a maximum for costs). A miss blocks the blessing unless ``evaluation.slice_thresholds_block`` is false,
in which case it stays in the evidence as a warning the SME reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# SLICE_METRICS: what a slice entry carries (evaluate() keeps these per slice); only these take a slice threshold.
from include.lifecycle.config.schema import DEFAULT_SLICE_THRESHOLDS, SLICE_METRICS

__all__ = ["SLICE_METRICS", "resampled_auc", "slice_intervals", "slice_thresholds", "slice_value_checks"]
LOWER_IS_BETTER = {"expected_cost_per_customer"}


def slice_thresholds(ev: dict[str, Any]) -> dict[str, float]:
    """The configured per-slice bounds (``{}`` switches them off; a missing key means the chance floor)."""
    value = ev.get("slice_thresholds")
    return dict(DEFAULT_SLICE_THRESHOLDS if value is None else value)


def resampled_auc(y: np.ndarray, p: np.ndarray) -> Any:
    """ROC AUC of a resample from the drawn row indices: the rows are grouped by distinct score once, then a
    resample is one ``bincount`` of (score group, label) — no sort, no per-row weights.

    Mann-Whitney with ties counted half, which is what ``roc_auc_score`` computes; the group sums are integer
    counts, so the value is the same float the weighted-rank formula gives.
    """
    distinct, group = np.unique(p, return_inverse=True)  # groups in ascending score order
    key = (group.reshape(-1) * 2 + (y == 1)).astype(np.intp)
    groups = len(distinct)

    def auc(idx: np.ndarray) -> float | None:
        both = np.bincount(key[idx], minlength=2 * groups).astype(np.float64)
        wneg, wpos = both[0::2], both[1::2]
        total_pos, total_neg = wpos.sum(), wneg.sum()
        if not total_pos or not total_neg:
            return None
        below = np.cumsum(wneg) - wneg
        return float((wpos * (below + 0.5 * wneg)).sum() / (total_pos * total_neg))

    return auc


def slice_intervals(y: np.ndarray, p: np.ndarray, metric_fns: dict[str, Any], samples: int, confidence: float,
                    seed: int) -> dict[str, dict[str, Any]]:
    """Percentile bootstrap interval of each metric on one slice's rows (same resamples for every metric).

    ROC AUC (a function with ``metric_name == "roc_auc"``) is computed from the drawn indices by
    :func:`resampled_auc`; the draws are the same either way.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    values: dict[str, list[float]] = {m: [] for m in metric_fns}
    fast = {name: resampled_auc(np.asarray(y), np.asarray(p, dtype=np.float64)) for name, fn in metric_fns.items()
            if getattr(fn, "metric_name", None) == "roc_auc" and n}
    for _ in range(samples if n else 0):
        idx = rng.integers(0, n, n)
        for name, fn in metric_fns.items():
            value = fast[name](idx) if name in fast else fn(y[idx], p[idx])
            if value is not None:
                values[name].append(float(value))
    alpha = (1 - confidence) / 2
    out = {}
    for name, got in values.items():
        low, high = np.quantile(got, [alpha, 1 - alpha]).tolist() if got else (None, None)
        out[name] = {"low": low, "high": high, "confidence": confidence, "samples": samples,
                     "valid_samples": len(got)}
    return out


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def slice_value_checks(candidate: dict[str, Any], ev: dict[str, Any]) -> list[dict[str, Any]]:
    """One check per (slice, thresholded metric): pass, fail (blocking), warn (not blocking) or skipped."""
    bounds = slice_thresholds(ev)
    blocking = bool(ev.get("slice_thresholds_block", True))
    checks = []
    for entries in candidate.get("slices", {}).values():
        for s in entries:
            name = f"{s['column']}={s['value']}"
            for metric, bound in bounds.items():
                hib = metric not in LOWER_IS_BETTER
                op = ">=" if hib else "<="
                value = s.get(metric)
                ci = (s.get("ci") or {}).get(metric) or {}
                base = {"kind": "slice_value", "metric": metric, "observed": value, "bound": float(bound),
                        "slice": name, "rows": s["rows"], "positives": s.get("positives"), "comparison": op,
                        "ci_low": ci.get("low"), "ci_high": ci.get("high"), "blocking": blocking}
                if not s.get("judged") or value is None:
                    why = s.get("why_not_judged") or f"{metric} is undefined on this slice"
                    checks.append({**base, "passed": None, "status": "skipped",
                                   "detail": f"Slice {name} ({s['rows']} rows) reported, not judged against "
                                             f"{metric} {op} {bound:g}: {why}."})
                    continue
                ok = value >= bound if hib else value <= bound
                interval = (f" ({int(round(100 * ci['confidence']))}% CI {_fmt(ci.get('low'))}–"
                            f"{_fmt(ci.get('high'))})" if ci.get("low") is not None else "")
                if ok:
                    status, tail = "pass", "meeting"
                else:
                    status, tail = ("fail", "missing") if blocking else ("warn", "WARNING: missing")
                detail = (f"Slice {name} ({s['rows']} rows, {s.get('positives')} positives): {metric} "
                          f"{_fmt(value)}{interval}, {tail} the slice threshold {op} {bound:g}"
                          + ("" if ok or blocking else " (not blocking: evaluation.slice_thresholds_block is "
                                                       "false)") + ".")
                checks.append({**base, "passed": ok, "status": status, "detail": detail})
    return checks
