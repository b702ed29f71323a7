"""Batch scoring tasks (owner: software engineer)."""

from __future__ import annotations

from typing import Any

from lifecycle_ops import lineage
from lifecycle_ops.runtime import artifact_store, partition_date, use_case

CATCH_UP_LIMIT = 60  # partitions scored at most after a champion change (the newest ones)


def resolve_champion(context: dict[str, Any], name: str) -> dict[str, Any]:
    """Pin the model version for the whole run; no champion yet means nothing to score (skipped)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.lifecycle.serve import scoring

    try:
        champion = scoring.resolve_champion(artifact_store(), use_case(name))
    except scoring.NoChampionError as exc:
        raise AirflowSkipException(str(exc)) from exc
    print(f"scoring with {champion}")
    return lineage.report(context, "resolve_champion", champion, name=name)


def score_day(context: dict[str, Any], name: str, champion: dict[str, Any], day: str | None = None,
              asset: Any = None) -> dict[str, Any]:
    """Score one features partition with the pinned champion; overwrite its predictions.

    ``day`` None: the run's own partition (its event carries the run's key). A catch-up run names the day and
    announces it with that day's partition key, so monitoring sees each scored day once.
    """
    from datetime import date

    from include.lifecycle.serve import scoring

    uc = use_case(name)
    store = artifact_store()
    target = date.fromisoformat(day) if day else partition_date(context)
    result = scoring.score_partition(store, uc, target, champion["version"], model_sha256=champion["model_sha256"])
    if asset is not None:
        events = context["outlet_events"][asset]
        events.extra = {"use_case": name, "version": champion["version"], "partition": result["date"]}
        if day:
            events.add_partitions(result["date"])
    print(f"{result['date']}: {result['rows']} rows scored by v{result['version']} -> "
          f"{store.uri(result['predictions_key'])}")
    return lineage.report(context, "score_day", result, uc=uc, store=store)


def shadow_score_day(context: dict[str, Any], name: str, champion: dict[str, Any]) -> dict[str, Any]:
    """Score the run's partition in shadow with the blessed challenger (never served: its own keys), then compare
    it with the champion on the live rows whose labels have matured; a challenger that loses is alerted."""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.lifecycle.layout import shadow_comparison_key
    from include.lifecycle.serve import shadow
    from lifecycle_ops.alerting import notify

    uc = use_case(name)
    store = artifact_store()
    challenger = shadow.resolve_challenger(store, uc)
    if not challenger["eligible"]:
        raise AirflowSkipException(f"no shadow scoring: {challenger['reason']}")
    day = partition_date(context)
    scored = shadow.score_shadow(store, uc, day, challenger)
    comparison = shadow.compare_in_shadow(store, uc, int(challenger["version"]), day)
    key = store.uri(shadow_comparison_key(uc, int(challenger["version"]), day))
    print(f"{scored['date']}: {scored['rows']} rows shadow-scored by challenger v{challenger['version']} beside "
          f"champion v{champion['version']} -> {store.uri(scored['predictions_key'])}; live comparison: "
          f"{comparison['verdict']} ({comparison.get('reason')}) -> {key}")
    if comparison["verdict"] == "challenger_loses":
        notify(context, "shadow_lost", f"{challenger['model']} v{challenger['version']} loses to champion "
               f"v{champion['version']} on {comparison['labelled_rows']} live rows: {comparison['reason']}",
               use_case=uc.name, links={"shadow comparison": key},
               details={"challenger": challenger["version"], "champion": champion["version"]})
    result = {"date": scored["date"], "rows": scored["rows"], "challenger_version": challenger["version"],
              "champion_version": champion["version"], "shadow_key": scored["predictions_key"],
              "shadow_sha256": scored.get("sha256"),
              "comparison_key": shadow_comparison_key(uc, int(challenger["version"]), day),
              "verdict": comparison["verdict"], "labelled_rows": comparison["labelled_rows"],
              "enough_evidence": comparison["enough_evidence"], "seconds": scored["seconds"]}
    return lineage.report(context, "shadow_score_day", result, uc=uc, store=store)


def unscored_days(context: dict[str, Any], name: str, champion: dict[str, Any]) -> list[str]:
    """Features partitions that no model has scored yet (e.g. they arrived before the first champion)."""
    from include.lifecycle.layout import partition_dates

    uc = use_case(name)
    store = artifact_store()
    available = partition_dates(store, "features", uc, "features.parquet")
    scored = set(partition_dates(store, "predictions", uc, "predictions.parquet"))
    days = [d for d in available if d not in scored][-CATCH_UP_LIMIT:]
    print(f"{len(days)} unscored partition(s) for v{champion['version']}: {days}")
    return days
