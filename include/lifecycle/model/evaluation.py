"""Holdout evaluation and the TFX-style blessing of a candidate against the champion.

Evaluation turns a model and the holdout into JSON evidence (metrics, the business-cost threshold,
slices, a bootstrap interval, curves for the model card). :func:`compare` turns two such pieces of
evidence into a decision that lists every check with its observed value and its bound, so the SME
reading the approval request sees *why*, not only *whether*.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from include.lifecycle.config import UseCase
from include.lifecycle.model.slices import (
    SLICE_METRICS,
    resampled_auc,
    slice_intervals,
    slice_thresholds,
    slice_value_checks,
)
from include.lifecycle.model.training import limited_threads, target_vector

# Metrics where smaller is better; everything else is higher-is-better unless the config says otherwise.
LOWER_IS_BETTER = {"log_loss", "brier", "expected_cost_per_customer"}
THRESHOLD_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)
CURVE_POINTS = 120


# -- metric helpers ---------------------------------------------------------------------------
def costs(uc: UseCase) -> dict[str, float]:
    biz = uc.section("business")
    return {
        "fn": float(biz.get("cost_false_negative", 1.0)),
        "fp": float(biz.get("cost_false_positive", 1.0)),
        "tp": float(biz.get("cost_true_positive", 0.0)),
        "tn": float(biz.get("cost_true_negative", 0.0)),
    }


def _confusion(y: np.ndarray, pred: np.ndarray) -> dict[str, int]:
    return {
        "tn": int(((y == 0) & (pred == 0)).sum()),
        "fp": int(((y == 0) & (pred == 1)).sum()),
        "fn": int(((y == 1) & (pred == 0)).sum()),
        "tp": int(((y == 1) & (pred == 1)).sum()),
    }


def expected_cost(y: np.ndarray, p: np.ndarray, threshold: float, cost: dict[str, float]) -> float:
    cm = _confusion(y, (p >= threshold).astype(int))
    total = cm["fn"] * cost["fn"] + cm["fp"] * cost["fp"] + cm["tp"] * cost["tp"] + cm["tn"] * cost["tn"]
    return total / max(len(y), 1)


def cost_optimal_threshold(y: np.ndarray, p: np.ndarray, cost: dict[str, float]) -> float:
    """The threshold on a fixed 0.01 grid with the lowest expected cost per customer (lowest on ties)."""
    pos = y == 1
    costs_at = []
    for t in THRESHOLD_GRID:
        pred = p >= t
        tp = (pred & pos).sum()
        fp = (pred & ~pos).sum()
        fn = (~pred & pos).sum()
        tn = (~pred & ~pos).sum()
        costs_at.append(tp * cost["tp"] + fp * cost["fp"] + fn * cost["fn"] + tn * cost["tn"])
    return float(THRESHOLD_GRID[int(np.argmin(costs_at))])


def _safe(fn: Any, *args: Any, **kwargs: Any) -> float | None:
    """A metric that is undefined (one class only) is None in the evidence, never NaN or a crash."""
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _ranking_metric(name: str, y: np.ndarray, p: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    if name == "roc_auc":
        return _safe(roc_auc_score, y, p)
    if name == "average_precision":
        return _safe(average_precision_score, y, p)
    raise KeyError(name)


def _at_threshold(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    pred = (p >= threshold).astype(int)
    cm = _confusion(y, pred)
    precision = cm["tp"] / (cm["tp"] + cm["fp"]) if cm["tp"] + cm["fp"] else 0.0
    recall = cm["tp"] / (cm["tp"] + cm["fn"]) if cm["tp"] + cm["fn"] else None
    f1 = 2 * precision * recall / (precision + recall) if recall and (precision + recall) else 0.0
    return {"accuracy": float((pred == y).mean()) if len(y) else None, "precision": float(precision),
            "recall": recall, "f1": float(f1)}


def _log_loss(y: np.ndarray, p: np.ndarray) -> float | None:
    return _safe(log_loss, y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])


def metric_value(name: str, y: np.ndarray, p: np.ndarray, threshold: float, cost: dict[str, float]) -> Any:
    """One of :func:`point_metrics`, computing only what it needs (a bootstrap asks for one metric per resample)."""
    if name in ("roc_auc", "average_precision"):
        return _ranking_metric(name, y, p)
    if name == "log_loss":
        return _log_loss(y, p)
    if name == "brier":
        return _safe(brier_score_loss, y, p)
    if name == "expected_cost_per_customer":
        return expected_cost(y, p, threshold, cost)
    return _at_threshold(y, p, threshold)[name]


def point_metrics(y: np.ndarray, p: np.ndarray, threshold: float, cost: dict[str, float]) -> dict[str, Any]:
    at = _at_threshold(y, p, threshold)
    return {
        "roc_auc": _ranking_metric("roc_auc", y, p),
        "average_precision": _ranking_metric("average_precision", y, p),
        "log_loss": _log_loss(y, p),
        "brier": _safe(brier_score_loss, y, p),
        **at,
        "expected_cost_per_customer": expected_cost(y, p, threshold, cost),
    }


def _metric_fn(name: str, threshold: float, cost: dict[str, float]) -> Any:
    fn = lambda y, p: metric_value(name, y, p, threshold, cost)  # noqa: E731
    fn.metric_name = name  # lets a bootstrap take the weighted-rank path for ROC AUC
    return fn


def bootstrap_ci(
    y: np.ndarray, p: np.ndarray, metric: Any, samples: int, confidence: float, seed: int
) -> dict[str, Any]:
    """Percentile bootstrap over holdout rows; resamples with one class are skipped and counted."""
    rng = np.random.default_rng(seed)
    n = len(y)
    values = []
    fast = resampled_auc(np.asarray(y), np.asarray(p, dtype=np.float64)) if (
        getattr(metric, "metric_name", None) == "roc_auc" and n) else None
    for _ in range(samples):
        idx = rng.integers(0, n, n)  # the same draws either way: the interval does not depend on the path
        value = fast(idx) if fast else metric(y[idx], p[idx])
        if value is not None:
            values.append(value)
    alpha = (1 - confidence) / 2
    low, high = (np.quantile(values, [alpha, 1 - alpha]).tolist() if values else [None, None])
    return {"samples": samples, "valid_samples": len(values), "confidence": confidence, "seed": seed,
            "low": low, "high": high}


def _slice_groups(holdout: pd.DataFrame, col: str, uc: UseCase) -> list[tuple[str, np.ndarray]]:
    series = holdout[col]
    if uc.columns.get(col, {}).get("kind") == "numeric":
        series = pd.qcut(series, 4, duplicates="drop").astype(str)
    values = series.astype(str).where(series.notna(), "<missing>")
    return [(str(v), (values == v).to_numpy()) for v in sorted(values.unique())]


def _curves(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Downsampled ROC, PR and calibration curves, so the model card can be drawn from evidence alone."""

    def thin(*arrays: np.ndarray) -> list[list[float]]:
        idx = np.unique(np.linspace(0, len(arrays[0]) - 1, min(CURVE_POINTS, len(arrays[0]))).astype(int))
        return [np.round(a[idx], 5).tolist() for a in arrays]

    if len(np.unique(y)) < 2:
        return {}
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    frac_pos, mean_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fpr_l, tpr_l = thin(fpr, tpr)
    rec_l, prec_l = thin(recall[::-1], precision[::-1])
    return {
        "roc": {"fpr": fpr_l, "tpr": tpr_l},
        "pr": {"recall": rec_l, "precision": prec_l, "base_rate": round(float(y.mean()), 5)},
        "calibration": {"mean_predicted": np.round(mean_pred, 5).tolist(), "fraction_positive": np.round(frac_pos, 5).tolist()},
    }


def holdout_fingerprint(holdout_df: pd.DataFrame, uc: UseCase) -> str:
    """sha256 of the sorted (id, target) pairs: two evaluations are comparable only if these match."""
    y = target_vector(holdout_df, uc)
    pairs = sorted(zip(holdout_df[uc.id_column].astype(str), y.tolist(), strict=True))
    return hashlib.sha256("\n".join(f"{i},{t}" for i, t in pairs).encode()).hexdigest()


def predict_positive(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class (the pipelines are fitted on a 0/1 target)."""
    with limited_threads():
        proba = model.predict_proba(frame)
    classes = list(getattr(model, "classes_", [0, 1]))
    return np.asarray(proba[:, classes.index(1)], dtype="float64")


# -- evaluate ---------------------------------------------------------------------------------
def evaluate(model: Any, holdout_df: pd.DataFrame, uc: UseCase, scores: np.ndarray | None = None) -> dict[str, Any]:
    """All holdout evidence for one model, JSON-ready (``scores``: the model's holdout scores, if already made)."""
    ev = uc.section("evaluation")
    cost = costs(uc)
    y = target_vector(holdout_df, uc)
    p = predict_positive(model, holdout_df.drop(columns=[uc.target])) if scores is None else scores
    threshold = cost_optimal_threshold(y, p, cost)
    metrics = point_metrics(y, p, threshold, cost)
    primary = ev.get("primary_metric", "roc_auc")
    boot_cfg = ev.get("bootstrap") or {}
    ci = bootstrap_ci(
        y,
        p,
        _metric_fn(primary, threshold, cost),
        samples=int(boot_cfg.get("samples", 200)),
        confidence=float(boot_cfg.get("confidence", 0.95)),
        seed=int(boot_cfg.get("seed", 0)),
    )
    slice_min = int(ev.get("slice_min_rows", 30))
    # every judged slice carries an interval for its metric and for each metric it has a threshold on
    ci_metrics = [m for m in SLICE_METRICS if m in {ev.get("slice_metric", primary), *slice_thresholds(ev)}]
    slices: dict[str, list[dict[str, Any]]] = {}
    for col in uc.slices:
        entries = []
        for value, mask in _slice_groups(holdout_df, col, uc):
            ys, ps = y[mask], p[mask]
            m = point_metrics(ys, ps, threshold, cost)
            both = len(np.unique(ys)) == 2
            judged = bool(mask.sum() >= slice_min and both)
            slice_ci = slice_intervals(ys, ps, {k: _metric_fn(k, threshold, cost) for k in ci_metrics},
                                 samples=int(boot_cfg.get("samples", 200)),
                                 confidence=float(boot_cfg.get("confidence", 0.95)),
                                 seed=int(boot_cfg.get("seed", 0))) if judged else {}
            entries.append(
                {
                    "column": col,
                    "value": value,
                    "rows": int(mask.sum()),
                    "positives": int(ys.sum()),
                    "judged": judged,
                    "why_not_judged": None
                    if mask.sum() >= slice_min and both
                    else (f"{int(mask.sum())} rows < slice_min_rows {slice_min}" if mask.sum() < slice_min
                          else "a single class"),
                    **{k: m[k] for k in SLICE_METRICS},
                    "ci": slice_ci,
                }
            )
        slices[col] = entries
    return {
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()) if len(y) else None,
        "holdout_sha256": holdout_fingerprint(holdout_df, uc),
        "primary_metric": primary,
        "threshold": threshold,
        "threshold_rule": "lowest expected business cost on the holdout over a 0.01 grid",
        "costs": cost,
        "metrics": metrics,
        "confusion_matrix": _confusion(y, (p >= threshold).astype(int)),
        "bootstrap": {"metric": primary, "point": metrics.get(primary), **ci},
        "slice_metric": ev.get("slice_metric", primary),
        "slice_min_rows": slice_min,
        "slice_thresholds": slice_thresholds(ev),
        "slice_thresholds_block": bool(ev.get("slice_thresholds_block", True)),
        "slices": slices,
        "curves": _curves(y, p),
    }


# -- compare ----------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _check(kind: str, metric: str, observed: Any, bound: Any, passed: bool | None, detail: str,
           **extra: Any) -> dict[str, Any]:
    status = "skipped" if passed is None else ("pass" if passed else "fail")
    return {"kind": kind, "metric": metric, "observed": observed, "bound": bound, "passed": passed,
            "status": status, "detail": detail, **extra}


def _worsening(candidate: float, champion: float, higher_is_better: bool, relative: bool) -> float:
    """How much worse the candidate is (positive = worse), absolute or relative to the champion."""
    delta = (champion - candidate) if higher_is_better else (candidate - champion)
    if relative:
        return delta / abs(champion) if champion else (0.0 if delta <= 0 else math.inf)
    return delta


def compare(candidate: dict[str, Any], champion: dict[str, Any] | None, uc: UseCase) -> dict[str, Any]:
    """Bless the candidate or not: value thresholds always; change and slice thresholds vs a champion."""
    ev = uc.section("evaluation")
    checks: list[dict[str, Any]] = []
    cand_m = candidate.get("metrics", {})
    champ_m = (champion or {}).get("metrics", {})
    champ_name = f"champion v{champion.get('model_version')}" if champion and champion.get("model_version") \
        else "the champion"

    if champion is not None:
        same = candidate.get("holdout_sha256") == champion.get("holdout_sha256")
        checks.append(_check("holdout", "holdout_sha256", candidate.get("holdout_sha256"),
                             champion.get("holdout_sha256"), same,
                             "Candidate and champion were scored on the same holdout rows." if same else
                             "Candidate and champion were scored on different holdouts, so they cannot be compared."))

    for metric, spec in (ev.get("thresholds") or {}).items():
        spec = spec or {}
        hib = bool(spec.get("higher_is_better", metric not in LOWER_IS_BETTER))
        value = cand_m.get(metric)
        for key, op in (("min", ">="), ("max", "<=")):
            if key not in spec:
                continue
            bound = float(spec[key])
            if value is None:
                checks.append(_check("value", metric, None, bound, False,
                                     f"{metric} could not be computed on the holdout, so it cannot reach {op} {bound}."))
                continue
            ok = value >= bound if key == "min" else value <= bound
            checks.append(_check("value", metric, value, bound, ok,
                                 f"{metric} is {_fmt(value)}, {'meeting' if ok else 'missing'} the required "
                                 f"{op} {bound}.", comparison=op))
        if champion is None:
            continue
        bound_key, kind_key = ("max_drop", "drop_kind") if hib else ("max_rise", "rise_kind")
        if bound_key not in spec:
            bound_key, kind_key = ("max_rise", "rise_kind") if hib else ("max_drop", "drop_kind")
        if bound_key not in spec:
            continue
        bound = float(spec[bound_key])
        relative = str(spec.get(kind_key, "absolute")) == "relative"
        champ_value = champ_m.get(metric)
        if value is None or champ_value is None:
            checks.append(_check("change", metric, None, bound, None,
                                 f"{metric} change vs {champ_name} not judged: a value is missing."))
            continue
        worse = _worsening(value, champ_value, hib, relative)
        ok = worse <= bound + 1e-12
        unit = "relative" if relative else "absolute"
        direction = "drop" if hib else "rise"
        shown = f"{worse:.2%}" if relative else f"{worse:+.4f}"
        checks.append(_check(
            "change", metric, worse, bound, ok,
            f"{metric} is {_fmt(value)} against {_fmt(champ_value)} for {champ_name}: a {unit} {direction} of "
            f"{shown}, {'within' if ok else 'beyond'} the allowed {bound:g}.",
            candidate_value=value, champion_value=champ_value, relative=relative, higher_is_better=hib))

    if champion is not None:
        checks.extend(_slice_checks(candidate, champion, ev, champ_name))
    checks.extend(slice_value_checks(candidate, ev))  # with or without a champion: slices judged on their own

    failed = [c for c in checks if c["status"] == "fail"]
    warnings = [c["detail"] for c in checks if c["status"] == "warn"]
    blessed = not failed
    if blessed:
        judged = sum(c["status"] == "pass" for c in checks)
        basis = f"against {champ_name}" if champion is not None else "with no champion, value thresholds alone decided"
        head = (f"Blessed: {judged} judged checks passed and {len(warnings)} warned without blocking ({basis})."
                if warnings else f"Blessed: all {judged} judged checks passed ({basis}).")
        reasons = [head] + warnings
    else:
        reasons = [c["detail"] for c in failed]
    return {"blessed": blessed, "reasons": reasons, "checks": checks, "warnings": warnings,
            "champion_version": (champion or {}).get("model_version")}


def _slice_checks(candidate: dict[str, Any], champion: dict[str, Any], ev: dict[str, Any],
                  champ_name: str) -> list[dict[str, Any]]:
    metric = ev.get("slice_metric", ev.get("primary_metric", "roc_auc"))
    max_drop = float(ev.get("slice_max_drop", 0.05))
    hib = metric not in LOWER_IS_BETTER
    champ_slices = {(s["column"], s["value"]): s for ss in champion.get("slices", {}).values() for s in ss}
    checks = []
    for entries in candidate.get("slices", {}).values():
        for s in entries:
            name = f"{s['column']}={s['value']}"
            other = champ_slices.get((s["column"], s["value"]))
            if not s["judged"] or other is None or not other["judged"] or s.get(metric) is None \
                    or other.get(metric) is None:
                why = s.get("why_not_judged") or "not judged for the champion"
                checks.append(_check("slice", metric, s.get(metric), max_drop, None,
                                     f"Slice {name} reported, not judged: {why}.", slice=name, rows=s["rows"]))
                continue
            worse = _worsening(s[metric], other[metric], hib, relative=False)
            ok = worse <= max_drop + 1e-12
            checks.append(_check(
                "slice", metric, worse, max_drop, ok,
                f"Slice {name}: {metric} {_fmt(s[metric])} against {_fmt(other[metric])} for {champ_name} "
                f"({worse:+.4f} worse), {'within' if ok else 'beyond'} the allowed {max_drop:g}.",
                slice=name, rows=s["rows"], candidate_value=s[metric], champion_value=other[metric]))
    return checks
