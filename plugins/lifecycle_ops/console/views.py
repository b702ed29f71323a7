"""What each console page and API answer shows, read from the artifact store by known keys only.

Plain functions of (store, use case, ...) returning JSON-able dicts, shared by the HTML pages and the API.
Every key comes from ``include.lifecycle.layout`` or the registry; a date is parsed before it reaches a key.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from include.lifecycle import layout
from include.lifecycle.model.registry import ModelRegistry, RegistryError, registry_for
from include.lifecycle.store import StoreError


def parse_day(value: str) -> str | None:
    """``YYYY-MM-DD`` or None: anything else (``..``, slashes, ``2026-13-01``) never reaches a key."""
    if len(value) != 10:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def _json(store: Any, key: str) -> Any:
    try:
        return store.read_json(key) if store.exists(key) else None
    except (StoreError, ValueError):
        return None


# -- registry ------------------------------------------------------------------------------------------
def version_summary(registry: ModelRegistry, version: int, aliases: dict[str, int]) -> dict[str, Any]:
    m = registry.manifest(version)
    summary = m.get("evaluation_summary") or {}
    return {
        "version": version, "created_at": m.get("created_at"), "run_id": m.get("run_id"),
        "candidate": m.get("candidate"), "metrics": m.get("metrics") or {},
        "primary_metric": summary.get("primary_metric"), "value": summary.get("value"), "ci": summary.get("ci"),
        "confidence": summary.get("confidence"), "threshold": summary.get("threshold"),
        "judged_against": summary.get("champion_version"), "blessing": m.get("blessing") or {},
        "qa": m.get("qa") or {}, "lineage": m.get("lineage") or {}, "model_sha256": m.get("model_sha256"),
        "code_version": m.get("code_version"), "config_sha256": m.get("config_sha256"),
        "aliases": sorted(a for a, v in aliases.items() if v == version),
        "has_model_card": "model_card.html" in (m.get("artifacts") or {}),
    }


def versions(store: Any, uc: Any) -> list[dict[str, Any]]:
    registry = registry_for(store, uc)
    aliases = registry.aliases()
    return [version_summary(registry, v, aliases) for v in reversed(registry.versions())]


def version(store: Any, uc: Any, number: int) -> dict[str, Any] | None:
    registry = registry_for(store, uc)
    try:
        return version_summary(registry, number, registry.aliases())
    except RegistryError:
        return None


def ledger(store: Any, uc: Any) -> list[dict[str, Any]]:
    keep = ("seq", "at", "event", "version", "actor", "comment", "details")
    return [{k: e.get(k) for k in keep} for e in registry_for(store, uc).ledger()]


def champion_timeline(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who moved the champion when, and with what comment (promotions and rollbacks only)."""
    out = []
    for e in entries:
        if e["event"] in ("promoted", "rolled_back"):
            approval = (e.get("details") or {}).get("approval") or {}
            out.append({"at": e["at"], "event": e["event"], "version": e["version"], "actor": e["actor"],
                        "comment": e["comment"], "previous_version": (e.get("details") or {}).get("previous_version"),
                        "approval_run": approval.get("run_id")})
    return out


def open_approvals(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests with no decision yet (a decision entry of the same run and version closes a request)."""
    decided = {((e.get("details") or {}).get("run_id"), e["version"]) for e in entries
               if e["event"] in ("approved", "rejected")}
    return [{"version": e["version"], "at": e["at"], "action": (e.get("details") or {}).get("action"),
             "run_id": (e.get("details") or {}).get("run_id")} for e in entries
            if e["event"] == "approval_requested" and ((e.get("details") or {}).get("run_id"), e["version"]) not in decided]


def champion(store: Any, uc: Any) -> dict[str, Any]:
    registry = registry_for(store, uc)
    doc = registry.get_alias("champion")
    challenger = registry.get_alias("challenger")
    return {"use_case": uc.name, "model": registry.name, "champion": doc, "challenger": challenger,
            "champion_version": doc["version"] if doc else None}


def champion_at(store: Any, uc: Any, moment: datetime) -> dict[str, Any]:
    registry = registry_for(store, uc)
    return {"use_case": uc.name, "model": registry.name, "at": moment.isoformat(),
            "champion_version": registry.champion_at(moment)}


def model_card_html(store: Any, uc: Any, number: int) -> str | None:
    try:
        return registry_for(store, uc).artifact(number, "model_card.html").decode("utf-8")
    except RegistryError:
        return None


def model_card_markdown(store: Any, uc: Any, number: int) -> str | None:
    try:
        return registry_for(store, uc).artifact(number, "model_card.md").decode("utf-8")
    except RegistryError:
        return None


def evaluation(store: Any, uc: Any, number: int) -> dict[str, Any] | None:
    try:
        return json.loads(registry_for(store, uc).artifact(number, "evaluation.json"))
    except RegistryError:
        return None


def compare(store: Any, uc: Any, a: int, b: int) -> dict[str, Any] | None:
    """Two versions' evaluations side by side (metrics, CI, threshold, slices) on their own holdouts."""
    left, right = evaluation(store, uc, a), evaluation(store, uc, b)
    if left is None or right is None:
        return None
    ca, cb = left.get("candidate") or {}, right.get("candidate") or {}
    metrics = sorted(set(ca.get("metrics") or {}) | set(cb.get("metrics") or {}))
    rows = [{"metric": m, "a": (ca.get("metrics") or {}).get(m), "b": (cb.get("metrics") or {}).get(m)}
            for m in metrics]
    slices = []
    metric = ca.get("slice_metric") or ca.get("primary_metric")
    for col, entries in (ca.get("slices") or {}).items():
        other = {str(r.get("value")): r for r in (cb.get("slices") or {}).get(col, [])}
        for r in entries:
            slices.append({"column": col, "value": r.get("value"), "rows": r.get("rows"), "a": r.get(metric),
                           "b": other.get(str(r.get("value")), {}).get(metric)})
    return {"a": a, "b": b, "metrics": rows, "slice_metric": metric, "slices": slices,
            "threshold": {"a": ca.get("threshold"), "b": cb.get("threshold")},
            "bootstrap": {"a": ca.get("bootstrap"), "b": cb.get("bootstrap")},
            "holdout": {"a": {"rows": ca.get("rows"), "sha256": ca.get("holdout_sha256")},
                        "b": {"rows": cb.get("rows"), "sha256": cb.get("holdout_sha256")}},
            "comparison": {"a": left.get("comparison"), "b": right.get("comparison")}}



# -- shadow (live) evidence ----------------------------------------------------------------------------
def _live(o: dict[str, Any]) -> dict[str, Any]:
    keep = ("rows", "positives", "metric", "champion", "challenger", "difference", "difference_ci", "cost_champion",
            "cost_challenger", "cost_difference", "cost_difference_ci", "confidence")
    return {k: o.get(k) for k in keep}


def _slice_value(value: Any) -> str:
    """One spelling per slice value: the live comparison reads ``1.0`` where the holdout's slice says ``1``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(number)


def shadow(store: Any, uc: Any, number: int) -> dict[str, Any] | None:
    """The version's live paired comparisons with the served champion, one per day it was compared (oldest first),
    beside its holdout comparison; ``lost`` when the newest one says the challenger is worse. None if it never
    shadowed."""
    keys = [k for k in store.list(layout.shadow_prefix(uc, number))
            if "/comparison/" in k and k.endswith("/comparison.json")]
    found = sorted((c for c in (_json(store, k) for k in keys) if c), key=lambda c: str(c.get("date")))
    if not found:
        return None
    days = []
    for c in found:
        slices = [{"column": col, "value": e.get("value"), "judged": bool(e.get("judged")), **_live(e)}
                  for col, entries in (c.get("slices") or {}).items() for e in entries]
        days.append({"date": c.get("date"), "labelled_rows": c.get("labelled_rows"), "verdict": c.get("verdict"),
                     "reason": c.get("reason"), "enough_evidence": bool(c.get("enough_evidence")),
                     "days_with_labels": len(c.get("days_with_labels") or []),
                     "champion_versions": c.get("champion_versions") or [], "overall": _live(c.get("overall") or {}),
                     "slices": slices})
    latest = days[-1]
    ev = evaluation(store, uc, number) or {}
    cand, champ = ev.get("candidate") or {}, ev.get("champion") or {}
    cm, pm = cand.get("metrics") or {}, champ.get("metrics") or {}
    metric = cand.get("primary_metric") or latest["overall"].get("metric") or "roc_auc"
    cost = "expected_cost_per_customer"

    def minus(a: Any, b: Any) -> float | None:
        return a - b if isinstance(a, int | float) and isinstance(b, int | float) else None

    boot = cand.get("bootstrap") or {}
    holdout = {"metric": metric, "rows": cand.get("rows"), "champion_version": (ev.get("comparison") or {}).get(
        "champion_version"), "champion": pm.get(metric), "challenger": cm.get(metric),
        "difference": minus(cm.get(metric), pm.get(metric)), "ci": [boot.get("low"), boot.get("high")],
        "cost_champion": pm.get(cost), "cost_challenger": cm.get(cost), "cost_difference": minus(cm.get(cost),
                                                                                                   pm.get(cost))}
    slice_metric = cand.get("slice_metric") or metric
    held, held_champ = ({(col, _slice_value(r.get("value"))): r for col, rows in (side.get("slices") or {}).items()
                         for r in rows} for side in (cand, champ))
    beside = []
    for s in latest["slices"]:
        where = (s["column"], _slice_value(s["value"]))
        beside.append({**s, "holdout_rows": held.get(where, {}).get("rows"), "holdout_difference": minus(
            held.get(where, {}).get(slice_metric), held_champ.get(where, {}).get(slice_metric))})
    events = [{k: e.get(k) for k in ("at", "event", "actor", "comment")} for e in registry_for(store, uc).ledger()
              if e["version"] == number and e["event"] in ("shadow_lost", "shadow_overridden")]
    return {"version": number, "days": days, "latest": latest, "lost": latest["verdict"] == "challenger_loses",
            "holdout": holdout, "slice_metric": slice_metric, "slices": beside, "events": events,
            "shadow_days": found[-1].get("shadow_days") or []}

# -- data ----------------------------------------------------------------------------------------------
def partitions(store: Any, uc: Any) -> list[dict[str, Any]]:
    """Per day: validation status and counts, newest first."""
    out = []
    for day in reversed(layout.partition_dates(store, "validation", uc, "result.json")):
        result = _json(store, layout.validation_result_key(uc, day)) or {}
        out.append({k: result.get(k) for k in ("date", "status", "received", "accepted", "quarantined", "reasons",
                                                "gx_success", "validated_at")}
                   | {"date": day, "has_profile": store.exists(layout.profile_key(uc, day))})
    return out


def partition(store: Any, uc: Any, day: str) -> dict[str, Any] | None:
    result = _json(store, layout.validation_result_key(uc, day))
    if result is None:
        return None
    return {"result": result, "reasons": _json(store, layout.quarantine_reasons_key(uc, day)),
            "has_report": store.exists(layout.validation_report_key(uc, day)),
            "has_rows": store.exists(layout.quarantine_rows_key(uc, day)),
            "has_profile": store.exists(layout.profile_key(uc, day)),
            "profile": _json(store, layout.profile_summary_key(uc, day))}


def quarantined_rows(store: Any, uc: Any, day: str) -> Any:
    """The quarantined rows with their reasons as a DataFrame (None when the day quarantined nothing)."""
    key = layout.quarantine_rows_key(uc, day)
    return store.read_frame(key) if store.exists(key) else None


def quarantined_last_days(store: Any, uc: Any, days: int = 7) -> dict[str, Any]:
    """Rows quarantined in the ``days`` days up to the newest validated partition (a replay's "today")."""
    found = layout.partition_dates(store, "validation", uc, "result.json")
    if not found:
        return {"rows": 0, "since": None, "until": None}
    until = date.fromisoformat(found[-1])
    since = until - timedelta(days=days - 1)
    total = sum(int((_json(store, layout.validation_result_key(uc, d)) or {}).get("quarantined") or 0)
                for d in found if date.fromisoformat(d) >= since)
    return {"rows": total, "since": since.isoformat(), "until": until.isoformat()}


# -- monitoring ----------------------------------------------------------------------------------------
def monitoring_days(store: Any, uc: Any) -> list[str]:
    prefix = layout.monitoring_prefix(uc) + "/"
    days = {layout.date_of(k) for k in store.list(prefix) if k.endswith("/result.json")}
    return sorted(d for d in days if d)


def monitoring_result(store: Any, uc: Any, day: str) -> dict[str, Any] | None:
    return _json(store, layout.monitoring_result_key(uc, day))


def timeseries(store: Any, uc: Any) -> list[dict[str, Any]]:
    from include.lifecycle.watch.timeseries import read_timeseries

    try:
        table = read_timeseries(store, uc)
    except (StoreError, ValueError):
        return []
    table = table.astype(object).where(table.notna(), None)
    return sorted(table.to_dict("records"), key=lambda r: str(r.get("date")))


def column_psi(store: Any, uc: Any) -> dict[str, dict[str, float]]:
    """date -> column -> drift value, from each day's result.json."""
    out = {}
    for day in monitoring_days(store, uc):
        result = monitoring_result(store, uc, day) or {}
        values = result.get("column_drift") or {}
        out[day] = {c: (v.get("value") if isinstance(v, dict) else v) for c, v in values.items()}
    return out


# -- experiments ---------------------------------------------------------------------------------------
def experiments(store: Any, uc: Any) -> list[dict[str, Any]]:
    """Each training run's candidates side by side (newest run first), from the candidates' records."""
    runs: dict[str, list[dict[str, Any]]] = {}
    root = layout.training_root(uc)
    for key in store.list(root):
        if not key.endswith("/record.json") or "/candidates/" not in key:
            continue
        run = key[len(root):].split("/", 1)[0]
        record = _json(store, key) or {}
        runs.setdefault(run, []).append({
            "name": record.get("name"), "estimator": record.get("estimator"),
            "best_params": record.get("best_params"), "cv_metric": record.get("cv_metric"),
            "cv_score": record.get("cv_score"), "duration_s": record.get("duration_s"),
            "train_rows": record.get("train_rows"), "data_sha256": record.get("lineage_sha256"),
            "code_version": record.get("code_version"), "trained_at": record.get("trained_at")})
    out = []
    for run, candidates in runs.items():
        best = _json(store, layout.best_key(uc, run)) or {}
        registered = _json(store, layout.registered_key(uc, run)) or {}
        out.append({"run_id": run, "best": best.get("name"), "registered_version": registered.get("version"),
                    "has_profile": store.exists(layout.training_profile_key(uc, run)),
                    "trained_at": max(str(c.get("trained_at") or "") for c in candidates),
                    "candidates": sorted(candidates, key=lambda c: -(c.get("cv_score") or 0))})
    return sorted(out, key=lambda r: r["trained_at"], reverse=True)


def registered_version(store: Any, uc: Any, run_id: str) -> int | None:
    doc = _json(store, layout.registered_key(uc, layout.safe(run_id)))
    return int(doc["version"]) if doc and doc.get("version") is not None else None


# -- alerts --------------------------------------------------------------------------------------------
def sent_alerts(store: Any, readable: set[str], limit: int = 100) -> list[dict[str, Any]]:
    """What was sent (every mode records it in the store), newest first, of the use cases the user may read."""
    keys = sorted((k for k in store.list(layout.sent_alerts_prefix()) if k.endswith(".json")), reverse=True)
    out = []
    for key in keys:
        doc = _json(store, key)
        alert = (doc or {}).get("alert") or {}
        if alert.get("use_case") in readable:
            out.append({"sent_at": doc.get("sent_at"), "subject": doc.get("subject"), **alert,
                        "channels": doc.get("channels")})
        if len(out) >= limit:
            break
    return out


def inbox_alerts(folder: Any, readable: set[str], limit: int = 100) -> list[dict[str, Any]]:
    """What the embedded default's local inbox received, newest first; only mails/webhooks of readable use cases."""
    from include.lifecycle.inbox import read_inbox

    out = []
    for record in read_inbox(folder, limit=500):
        payload = record.get("payload") or {}
        use_case = (payload.get("use_case") if isinstance(payload, dict) else None) or _use_case_of(record)
        if use_case in readable:
            out.append({**record, "use_case": use_case})
        if len(out) >= limit:
            break
    return out


def _use_case_of(record: dict[str, Any]) -> str | None:
    """A mail names its DAG in a header; a webhook's text says "... in <use case>__<stage> (...)"."""
    import re

    dag = (record.get("headers") or {}).get("X-Airflow-Dag-Id") or ""
    if "__" in dag:
        return dag.split("__", 1)[0]
    text = str((record.get("payload") or {}).get("text") or "") if isinstance(record.get("payload"), dict) else ""
    match = re.search(r" in ([A-Za-z0-9_-]+?)__[a-z_]+ \(", text)
    return match.group(1) if match else None
