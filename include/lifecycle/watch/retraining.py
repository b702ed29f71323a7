"""The retraining policy: when does a monitoring breach turn into a ``retrain-requested`` event?

A breach alone is not enough, because retraining on the same data that produced the breach changes nothing
and floods the SMEs with approval requests. :func:`decide_retrain` asks for all of:

1. a breach in the monitoring result (drift, prediction drift or a performance minimum);
2. the cooldown (``retraining.cooldown_hours``) has passed since the last training, read from the registry
   ledger's latest ``registered`` entry (every training run registers its candidate, blessed or not);
3. at least ``retraining.min_new_labelled_rows`` labels delivered after the monitored version's training
   cut-off (its lineage ``as_of``) and up to ``now``: new evidence for a new model to learn from;
4. no training already waiting (``training_pending``, which the DAG reads from Airflow).

Every decision, yes or no, is written as its own object under ``monitoring/<uc>/retrain_decisions/`` with
``store.create`` (never overwritten), listing every check with its value, so "why did (or didn't) it
retrain on the 14th?" has an answer. This module is light: no Evidently, no scikit-learn.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from include.lifecycle.config import UseCase
from include.lifecycle.layout import partition_root, retrain_decisions_prefix
from include.lifecycle.model.registry import ModelRegistry, parse_time, registry_for
from include.lifecycle.store import ArtifactStore, json_bytes, retry_on_conflict

DEFAULT_COOLDOWN_HOURS = 24.0
DEFAULT_MIN_NEW_LABELLED_ROWS = 300


def last_training_at(registry: ModelRegistry) -> datetime | None:
    """Time of the latest registration (the end of the latest training run), None if nothing was trained."""
    times = [parse_time(e["at"]) for e in registry.ledger() if e.get("event") == "registered"]
    if not times:
        times = [parse_time(registry.manifest(v)["created_at"]) for v in registry.versions()]
    return max(times) if times else None


def _label_rows(store: ArtifactStore, key: str) -> int:
    """Row count from the Parquet footer (labels partitions are small; locally only the footer is read)."""
    import pyarrow.parquet as pq

    path = store.local_path(key)
    source: Any = path if path is not None else io.BytesIO(store.read_bytes(key))
    return int(pq.ParquetFile(source).metadata.num_rows)


def new_labelled_rows(store: ArtifactStore, uc: UseCase, after: date | None, until: date) -> dict[str, Any]:
    """Labels delivered strictly after ``after`` (the training cut-off) and on or before ``until``."""
    partitions = []
    for key in store.list(partition_root("labels", uc)):
        if not key.endswith("/labels.parquet") or "/date=" not in key:
            continue
        delivered = date.fromisoformat(key.split("/date=", 1)[1][:10])
        if (after is None or delivered > after) and delivered <= until:
            partitions.append({"date": delivered.isoformat(), "key": key, "rows": _label_rows(store, key)})
    return {"rows": sum(p["rows"] for p in partitions), "partitions": sorted(partitions, key=lambda p: p["date"])}


def decide_retrain(
    store: ArtifactStore,
    uc: UseCase,
    now: datetime | str,
    monitoring_result: dict[str, Any],
    training_pending: bool,
    *,
    actor: str = "model_monitoring",
    run_id: str | None = None,
) -> dict[str, Any]:
    """Decide whether the breaches in ``monitoring_result`` request a retrain now; record the decision."""
    policy = uc.section("retraining")
    cooldown_h = float(policy.get("cooldown_hours", DEFAULT_COOLDOWN_HOURS))
    min_rows = int(policy.get("min_new_labelled_rows", DEFAULT_MIN_NEW_LABELLED_ROWS))
    moment = parse_time(now).astimezone(UTC)
    registry = registry_for(store, uc)
    version = monitoring_result.get("version")
    if version is None:
        version = registry.alias_version("champion")

    breaches = list(monitoring_result.get("breaches") or [])
    details = {b.get("kind"): b.get("detail") for b in monitoring_result.get("breach_details") or []}
    breach_ok = bool(breaches)

    last = last_training_at(registry)
    hours = None if last is None else (moment - last).total_seconds() / 3600
    cooldown_ok = hours is None or hours >= cooldown_h

    as_of = None
    if version is not None:
        as_of_text = (registry.manifest(int(version)).get("lineage") or {}).get("as_of")
        as_of = date.fromisoformat(str(as_of_text)[:10]) if as_of_text else None
    fresh = new_labelled_rows(store, uc, as_of, moment.date())
    labels_ok = fresh["rows"] >= min_rows

    pending_ok = not training_pending

    checks = {
        "breach": {"passed": breach_ok, "breaches": breaches},
        "cooldown": {"passed": cooldown_ok, "hours_since_last_training": None if hours is None else round(hours, 3),
                     "last_training_at": None if last is None else last.isoformat(), "cooldown_hours": cooldown_h,
                     "next_allowed_at": None if last is None else (last + timedelta(hours=cooldown_h)).isoformat()},
        "new_labels": {"passed": labels_ok, "rows": fresh["rows"], "minimum": min_rows,
                       "after": None if as_of is None else as_of.isoformat(), "until": moment.date().isoformat(),
                       "partitions": len(fresh["partitions"])},
        "training_pending": {"passed": pending_ok, "training_pending": bool(training_pending)},
    }
    reasons = []
    if breach_ok:
        reasons += [f"Breach {b}: {details.get(b) or 'see the monitoring result'}" for b in breaches]
    else:
        reasons.append(f"No breach in the monitoring of {monitoring_result.get('date')}: nothing to retrain for.")
    if cooldown_ok:
        reasons.append("Cooldown passed: no training recorded yet." if hours is None else
                       f"Cooldown passed: last training {hours:.1f} h ago >= {cooldown_h:g} h.")
    else:
        reasons.append(f"Cooldown not passed: last training {hours:.1f} h ago < {cooldown_h:g} h "
                       f"(next allowed at {checks['cooldown']['next_allowed_at']}).")
    since = f"after v{version}'s training cut-off {as_of}" if as_of else "in total"
    reasons.append(f"{'Enough' if labels_ok else 'Not enough'} new labelled rows: {fresh['rows']} delivered {since} "
                   f"{'>=' if labels_ok else '<'} {min_rows}.")
    reasons.append("No training is waiting." if pending_ok else
                   "A training run is already pending: it will see the same data; not requesting another.")
    blocked_by = [name for name, check in checks.items() if not check["passed"]]
    retrain = not blocked_by
    record = {
        "use_case": uc.name,
        "date": monitoring_result.get("date"),
        "version": None if version is None else int(version),
        "decided_at": moment.isoformat(),
        "retrain": retrain,
        "blocked_by": blocked_by,
        "reasons": reasons,
        "checks": checks,
        "breaches": breaches,
        "monitoring_result_key": monitoring_result.get("result_key"),
        "actor": actor,
        "run_id": run_id,
    }
    stamp = moment.strftime("%Y%m%dT%H%M%S%fZ")

    def attempt() -> str:
        key = f"{retrain_decisions_prefix(uc)}/{stamp}-{uuid.uuid4().hex[:12]}.json"
        store.create(key, json_bytes({**record, "key": key}))
        return key

    key = retry_on_conflict(attempt, attempts=5, what=retrain_decisions_prefix(uc))
    return {**record, "decision_key": key}


def decision_history(store: ArtifactStore, uc: UseCase) -> list[dict[str, Any]]:
    """Every recorded decision, oldest first."""
    return [store.read_json(k) for k in store.list(retrain_decisions_prefix(uc) + "/") if k.endswith(".json")]
