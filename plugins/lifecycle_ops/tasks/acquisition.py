"""Acquisition and validation tasks (owner: data engineer)."""

from __future__ import annotations

from typing import Any

from lifecycle_ops import lineage
from lifecycle_ops.runtime import artifact_store, partition_date, source_for, use_case


def deliver(context: dict[str, Any], name: str) -> dict[str, Any]:
    """The replayed source system drops the day's batch and labels into the landing area (``simulate_source``)."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    from include.lifecycle.data import replay

    if not (context.get("partition_key") or getattr(context.get("dag_run"), "partition_key", None)):
        # Without a key the day's asset event would carry none, and no downstream partitioned DAG would run.
        raise AirflowFailException("this run has no partition key: trigger it with Advanced Options → Partition "
                                   "Key = the day to load (YYYY-MM-DD), or backfill a range of days")
    uc = use_case(name)
    day = partition_date(context)
    if not (context.get("params") or {}).get("simulate_source", True):
        return {"date": day.isoformat(), "skipped": "simulate_source is off"}
    if uc.section("replay") == {}:
        return {"date": day.isoformat(), "skipped": "this use case has no replay: the real source delivers"}
    drift_var = Variable.get(f"lifecycle_drift_{uc.name}", default=None)
    drift = None if drift_var is None else str(drift_var).lower() in ("1", "true", "yes", "on")
    return lineage.report(context, "deliver", replay.publish(artifact_store(), uc, day, drift=drift), uc=uc)


def acquire(context: dict[str, Any], name: str) -> dict[str, Any]:
    """Copy the day's batch; a replayed use case asked for a day outside its replay has nothing to load (skip)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.lifecycle.data import acquisition, replay
    from include.lifecycle.data.sources import BatchMissingError

    uc = use_case(name)
    store = artifact_store()
    day = partition_date(context)
    try:
        acquired = acquisition.acquire(store, uc, day, source_for(uc, store))
    except BatchMissingError:
        dates = replay.replay_dates(uc) if uc.section("replay") else []
        if dates and not dates[0] <= day <= dates[-1]:
            raise AirflowSkipException(f"{day}: outside the replay of {uc.name} ({dates[0]} .. {dates[-1]}), "
                                       "so no batch was delivered; nothing to load") from None
        raise
    return lineage.report(context, "acquire", acquired, uc=uc, store=store)


def validate(context: dict[str, Any], name: str) -> dict[str, Any]:
    """Great Expectations gate; quarantines with reasons and alerts on every quarantined or rejected batch."""
    from include.lifecycle.data import validation
    from lifecycle_ops.alerting import notify

    uc = use_case(name)
    store = artifact_store()
    day = partition_date(context)
    links = {"validation report": store.uri(validation_report(uc, day))}
    try:
        result = validation.validate_batch(store, uc, day)
    except validation.BatchRejectedError as exc:
        notify(context, "batch_quarantined", str(exc), severity="critical", use_case=uc.name, links=links)
        raise
    if result["status"] != "accepted":
        rejected = result["status"] == "rejected"
        notify(context, "batch_quarantined",
               (f"batch REJECTED, {result['quarantined']} of {result['received']} rows quarantined: " if rejected
                else f"{result['quarantined']} of {result['received']} rows quarantined: ")
               + "; ".join(result["reasons"])[:600],
               severity="critical" if rejected else "warning", use_case=uc.name, links=links,
               details={k: result[k] for k in ("received", "accepted", "quarantined", "status")})
    print(f"validation report: {links['validation report']}")
    return lineage.report(context, "validate", result, uc=uc, store=store)


def profile_partition(context: dict[str, Any], name: str, validated: dict[str, Any]) -> dict[str, Any]:
    """The analyst's EDA profile of the day's accepted rows. Never fails the acquisition: a failure is logged at
    ERROR, recorded where the profile would be (``profile.json``), alerted, and returned as this task's note."""
    from include.lifecycle import layout
    from include.lifecycle.data import profile

    uc = use_case(name)
    store = artifact_store()
    day = partition_date(context)
    if not validated.get("accepted"):
        return {"date": day.isoformat(), "status": "skipped", "skipped": "no accepted rows to profile"}
    try:
        result = profile.profile_partition(store, uc, day)
    except Exception as exc:  # noqa: BLE001 - a profile is for people; the partition is accepted without it
        note = profile_failed(context, uc, store, layout.profile_summary_key(uc, day), f"partition {day}", exc)
        return lineage.report(context, "profile_partition", note, uc=uc, store=store, date=day.isoformat())
    print(f"data profile: {result['uri']} ({result['rows_profiled']} of {result['rows_total']} rows profiled, "
          f"reference: {result['reference']}, {result['seconds']} s)")
    return lineage.report(context, "profile_partition", result, uc=uc, store=store)


def profile_failed(context: dict[str, Any], uc: Any, store: Any, key: str, what: str, exc: Exception
                    ) -> dict[str, Any]:
    import logging

    from include.lifecycle.data import profile
    from lifecycle_ops.alerting import notify

    logging.getLogger(__name__).error("DATA PROFILE FAILED for %s of %s (the data is not affected): %s: %s", what,
                                      uc.name, type(exc).__name__, exc, exc_info=True)
    note = profile.record_failure(store, key, what, exc)
    notify(context, "profile_failed", f"the EDA profile of {what} could not be built: {note['error'][:300]}",
           use_case=uc.name, links={"profile note": store.uri(key)})
    return note


def validation_report(uc: Any, day: Any) -> str:
    from include.lifecycle.layout import validation_report_key

    return validation_report_key(uc, day)


def ingest_labels(context: dict[str, Any], name: str) -> dict[str, Any]:
    """Labels delivered that day; any quarantined label row alerts (all of them rejected: critical), and so does
    a delivered file with no usable row at all (empty, header only, unreadable)."""
    from include.lifecycle.data import acquisition
    from lifecycle_ops.alerting import notify

    uc = use_case(name)
    store = artifact_store()
    result = acquisition.ingest_labels(store, uc, partition_date(context), source_for(uc, store))
    alert = acquisition.labels_alert(result)
    if alert:
        notify(context, "batch_quarantined", alert["summary"], severity=alert["severity"], use_case=uc.name,
               details={"what": "labels", **{k: result.get(k) for k in ("received", "rows", "quarantined")}})
    return lineage.report(context, "ingest_labels", result, uc=uc, store=store)


def publish(context: dict[str, Any], name: str, validated: dict[str, Any], labels: dict[str, Any],
            asset: Any) -> dict[str, Any]:
    """Announce the day's accepted rows downstream; a day with none is not announced (nothing to build on)."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not validated.get("accepted"):
        raise AirflowSkipException(f"{validated.get('date')}: no accepted rows ({validated.get('status')}); "
                                   "nothing to announce downstream")
    extra = {"partition": validated["date"], "use_case": name, "accepted": validated["accepted"],
             "labels": labels.get("rows", 0)}
    context["outlet_events"][asset].extra = extra
    return extra
