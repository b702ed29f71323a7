"""Shadow evaluation: the registered, blessed challenger scores every new features partition beside the champion.

Its scores are kept apart (``shadow/<uc>/v<version>/date=<d>/predictions.parquet``, each row ``shadow = true``):
never served, never in ``predictions/``, never read by monitoring. As labels mature, :func:`compare_in_shadow`
pairs both models on the *same live rows* (labels delivered on or after the day a row was scored, on or before
the comparison day): the difference in the primary metric and in business cost per row (challenger minus
champion, each at its own decision threshold), a paired bootstrap interval for each (both models resampled on
the same rows), overall and per slice, and a verdict. A challenger *loses* when the interval says it is worse
on the primary metric or costs more; too few labelled rows give no verdict.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle import layout
from include.lifecycle.config import UseCase
from include.lifecycle.model.evaluation import LOWER_IS_BETTER, costs, metric_value
from include.lifecycle.model.registry import registry_for
from include.lifecycle.model.training import _labels_frame, target_vector
from include.lifecycle.serve.scoring import score_partition
from include.lifecycle.store import ArtifactStore

log = logging.getLogger(__name__)
SLICE_SAMPLES = 100  # fewer resamples per slice than overall: slices are many, each interval is wide anyway


def resolve_challenger(store: ArtifactStore, uc: UseCase) -> dict[str, Any]:
    """The version to shadow: the ``challenger`` alias, when blessed, QA-passed and not the champion."""
    registry = registry_for(store, uc)
    version = registry.alias_version("challenger")
    champion = registry.alias_version("champion")
    out: dict[str, Any] = {"model": registry.name, "version": version, "champion_version": champion,
                           "eligible": False}
    if version is None:
        return {**out, "reason": "no challenger is registered"}
    if version == champion:
        return {**out, "reason": f"v{version} is the champion already"}
    manifest = registry.manifest(version)
    if not (manifest.get("blessing") or {}).get("blessed") or not (manifest.get("qa") or {}).get("passed"):
        return {**out, "reason": f"v{version} is not blessed with passed risk QA"}
    return {**out, "eligible": True, "model_sha256": manifest["model_sha256"], "reason": ""}


def score_shadow(store: ArtifactStore, uc: UseCase, day: Any, challenger: dict[str, Any]) -> dict[str, Any]:
    """Score ``day`` with the challenger into its own shadow partition (checksum-verified, idempotent)."""
    return score_partition(store, uc, day, int(challenger["version"]), model_sha256=challenger.get("model_sha256"),
                           shadow=True)


def shadow_days(store: ArtifactStore, uc: UseCase, version: int) -> list[str]:
    """Days the version has shadow-scored, oldest first."""
    days = {layout.date_of(k) for k in store.list(layout.shadow_prefix(uc, version))
            if k.endswith("/predictions.parquet") and "/comparison/" not in k}
    return sorted(d for d in days if d)


def paired_rows(store: ArtifactStore, uc: UseCase, version: int, day: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Live rows both models scored, with a label delivered on or after their scoring day and by ``day``."""
    end = layout.day_str(day)
    days = [d for d in shadow_days(store, uc, version) if d <= end]
    label_days = [d for d in layout.partition_dates(store, "labels", uc, "labels.parquet") if d <= end]
    labels = pd.concat([_labels_frame(store.read_frame(layout.labels_key(uc, d)), uc).assign(_delivered=d)
                        for d in label_days], ignore_index=True) if label_days else pd.DataFrame()
    slices = [c for c in uc.slices if c in uc.columns]
    parts, champion_versions = [], set()
    for d in days:
        if not store.exists(layout.predictions_key(uc, d)) or labels.empty:
            continue
        usable = labels[labels["_delivered"] >= d].sort_values("_delivered", kind="stable")
        usable = usable.drop_duplicates(uc.id_column, keep="last")
        cols = [uc.id_column, "score", "predicted_label", "model_version"]
        served = store.read_frame(layout.predictions_key(uc, d), columns=cols)
        shadow = store.read_frame(layout.shadow_predictions_key(uc, d, version), columns=cols[:3])
        joined = served.merge(shadow, on=uc.id_column, suffixes=("_champion", "_challenger"))
        joined = joined.merge(usable[[uc.id_column, uc.target]], on=uc.id_column)
        if slices and len(joined):
            feats = store.read_frame(layout.features_key(uc, d), columns=[uc.id_column, *slices])
            joined = joined.merge(feats, on=uc.id_column, how="left")
        champion_versions |= set(joined["model_version"].astype(int).tolist())
        parts.append(joined.assign(_scored=d))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame, {"shadow_days": days, "days_with_labels": sorted({p["_scored"].iloc[0] for p in parts if len(p)}),
                   "champion_versions": sorted(champion_versions)}


def _paired(y: np.ndarray, champ: dict[str, np.ndarray], chal: dict[str, np.ndarray], metric: str,
            cost: dict[str, float], samples: int, confidence: float, seed: int) -> dict[str, Any]:
    """Challenger minus champion in ``metric`` and in cost per row, with paired bootstrap intervals."""

    def metric_of(idx: np.ndarray, m: dict[str, np.ndarray]) -> float | None:
        return metric_value(metric, y[idx], m["score"][idx], 0.5, cost)

    def cost_of(idx: np.ndarray, m: dict[str, np.ndarray]) -> float:
        pred, yy = m["label"][idx], y[idx]
        return float((pred & (yy == 1)).sum() * cost["tp"] + (pred & (yy == 0)).sum() * cost["fp"]
                     + (~pred & (yy == 1)).sum() * cost["fn"] + (~pred & (yy == 0)).sum() * cost["tn"]) / len(idx)

    n = len(y)
    every = np.arange(n)
    a, b = metric_of(every, champ), metric_of(every, chal)
    out: dict[str, Any] = {
        "rows": int(n), "positives": int(y.sum()), "metric": metric,
        "champion": a, "challenger": b, "difference": None if a is None or b is None else b - a,
        "cost_champion": cost_of(every, champ), "cost_challenger": cost_of(every, chal),
    }
    out["cost_difference"] = out["cost_challenger"] - out["cost_champion"]
    rng = np.random.default_rng(seed)
    diffs, cost_diffs = [], []
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        ma, mb = metric_of(idx, champ), metric_of(idx, chal)
        if ma is not None and mb is not None:
            diffs.append(mb - ma)
        cost_diffs.append(cost_of(idx, chal) - cost_of(idx, champ))
    alpha = (1 - confidence) / 2
    for key, values in (("difference_ci", diffs), ("cost_difference_ci", cost_diffs)):
        out[key] = np.quantile(values, [alpha, 1 - alpha]).tolist() if values else [None, None]
    out["confidence"], out["samples"], out["valid_samples"] = confidence, samples, len(diffs)
    return out


def _verdict(result: dict[str, Any], higher_is_better: bool) -> tuple[str, str]:
    low, high = result["difference_ci"]
    c_low, c_high = result["cost_difference_ci"]
    metric = result["metric"]
    if low is None:
        return "no_verdict", f"{metric} is undefined on the paired rows (a single class)"
    worse = high < 0 if higher_is_better else low > 0
    better = low > 0 if higher_is_better else high < 0
    if worse or c_low > 0:
        what = [f"{metric} {result['difference']:+.4f} (CI {low:+.4f} to {high:+.4f})"] if worse else []
        what += [f"cost per row {result['cost_difference']:+.2f} (CI {c_low:+.2f} to {c_high:+.2f})"] if c_low > 0 \
            else []
        return "challenger_loses", "the challenger is worse than the champion on the same live rows: " + "; ".join(what)
    if better and c_high <= 0:
        return "challenger_wins", (f"the challenger beats the champion on the same live rows: {metric} "
                                   f"{result['difference']:+.4f} (CI {low:+.4f} to {high:+.4f}), no higher cost")
    return "no_clear_difference", (f"{metric} {result['difference']:+.4f} (CI {low:+.4f} to {high:+.4f}), cost per "
                                   f"row {result['cost_difference']:+.2f} (CI {c_low:+.2f} to {c_high:+.2f})")


def compare_in_shadow(store: ArtifactStore, uc: UseCase, version: int, day: Any) -> dict[str, Any]:
    """The paired live comparison of challenger ``version`` with the served champion, as of ``day``; written to
    ``layout.shadow_comparison_key`` (one file per day, a rerun overwrites)."""
    ev = uc.section("evaluation")
    boot = ev.get("bootstrap") or {}
    samples, confidence, seed = int(boot.get("samples", 200)), float(boot.get("confidence", 0.95)), int(
        boot.get("seed", 0))
    gate = uc.section("approval").get("shadow") or {}
    min_rows = int(gate.get("min_labelled_rows") or uc.section("monitoring").get("min_labelled_rows", 100))
    metric = ev.get("primary_metric", "roc_auc")
    frame, info = paired_rows(store, uc, version, day)
    result: dict[str, Any] = {"use_case": uc.name, "challenger_version": int(version), "date": layout.day_str(day),
                              "min_labelled_rows": min_rows, "min_days": gate.get("min_days"), **info,
                              "labelled_rows": int(len(frame)), "slices": {}}
    if len(frame) < min_rows:
        result.update(verdict="insufficient", reason=f"{len(frame)} labelled live rows < {min_rows} needed")
    else:
        y = target_vector(frame, uc)
        positive = str(uc.positive_label)
        models = {who: {"score": frame[f"score_{who}"].to_numpy("float64"),
                        "label": (frame[f"predicted_label_{who}"].astype(str) == positive).to_numpy()}
                  for who in ("champion", "challenger")}
        cost = costs(uc)
        result["overall"] = _paired(y, models["champion"], models["challenger"], metric, cost, samples,
                                    confidence, seed)
        verdict, reason = _verdict(result["overall"], metric not in LOWER_IS_BETTER)
        result.update(verdict=verdict, reason=reason)
        slice_min = int(ev.get("slice_min_rows", 30))
        for col in uc.slices:
            if col not in frame.columns or uc.columns.get(col, {}).get("kind") == "numeric":
                continue
            entries = []
            values = frame[col].astype(str)
            for value in sorted(values.unique()):
                mask = (values == value).to_numpy()
                if mask.sum() < slice_min or len(np.unique(y[mask])) < 2:
                    entries.append({"value": value, "rows": int(mask.sum()), "judged": False})
                    continue
                sub = {who: {k: v[mask] for k, v in m.items()} for who, m in models.items()}
                entries.append({"value": value, "judged": True,
                                **_paired(y[mask], sub["champion"], sub["challenger"], metric, cost, SLICE_SAMPLES,
                                          confidence, seed)})
            result["slices"][col] = entries
    days_ok = len(info["days_with_labels"]) >= int(gate.get("min_days") or 1)
    result["enough_evidence"] = bool(result["verdict"] != "insufficient" and days_ok)
    store.write_json(layout.shadow_comparison_key(uc, version, day), result)
    log.info("shadow v%s as of %s: %s (%s)", version, result["date"], result["verdict"], result.get("reason"))
    return result


def latest_comparison(store: ArtifactStore, uc: UseCase, version: int) -> tuple[str | None, dict[str, Any] | None]:
    """The newest daily comparison of ``version`` (its key and content), or (None, None)."""
    keys = sorted((k for k in store.list(layout.shadow_prefix(uc, version))
                   if "/comparison/" in k and k.endswith("/comparison.json")), key=lambda k: layout.date_of(k) or "")
    if not keys:
        return None, None
    return keys[-1], store.read_json(keys[-1])


def bound_comparison(store: ArtifactStore, key: str) -> tuple[str, dict[str, Any]]:
    """The sha256 of the comparison stored at ``key`` and its content, from one read: what is shown is what is bound."""
    import json

    from include.lifecycle.store import sha256_bytes

    data = store.read_bytes(key)
    return sha256_bytes(data), json.loads(data)


def shadow_gate(store: ArtifactStore, uc: UseCase, version: int) -> dict[str, Any]:
    """Whether the SME request for ``version`` may open: at once without ``approval.shadow``; else once the newest
    live comparison has enough evidence (``ready``), and never for a challenger that lost (``lost``)."""
    from include.lifecycle.store import sha256_bytes

    cfg = uc.section("approval").get("shadow")
    out: dict[str, Any] = {"required": bool(cfg), "version": int(version), "ready": not cfg, "lost": False,
                           "comparison_key": None, "comparison_sha256": None, "verdict": None}
    if not cfg:
        return {**out, "reason": "approval.shadow is off: the request opens at once"}
    if registry_for(store, uc).alias_version("champion") is None:
        # nothing serves, so nothing can be shadowed: the first model is judged on its holdout alone
        return {**out, "ready": True, "reason": "no champion to shadow against: the request opens at once"}
    key, comparison = latest_comparison(store, uc, version)
    if comparison is None:
        return {**out, "reason": f"v{version} has no live comparison yet (it is shadow-scored with each new day)"}
    out.update(comparison_key=key, comparison_sha256=sha256_bytes(store.read_bytes(key)),
               verdict=comparison["verdict"], date=comparison["date"], labelled_rows=comparison["labelled_rows"],
               days_with_labels=len(comparison.get("days_with_labels") or []))
    if not comparison.get("enough_evidence"):
        return {**out, "reason": (f"not enough shadow evidence yet: {out['labelled_rows']} labelled live rows over "
                                  f"{out['days_with_labels']} day(s); needs {cfg.get('min_labelled_rows')} rows and "
                                  f"{cfg.get('min_days')} days")}
    lost = comparison["verdict"] == "challenger_loses"
    return {**out, "ready": True, "lost": lost, "reason": comparison.get("reason", "")}
