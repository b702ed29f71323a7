"""Feature engineering tasks (owner: data analyst)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle_ops import lineage
from lifecycle_ops.runtime import artifact_store, partition_date, use_case

# A partition is only reconciled once its raw rows are this old without features: the partition-keyed run
# normally builds them within seconds, so anything older means the hand-off was lost.
STALE_AFTER = timedelta(hours=1)


def build(context: dict[str, Any], name: str) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowSkipException

    from include.lifecycle.layout import accepted_key
    from include.lifecycle.model import features

    uc = use_case(name)
    store = artifact_store()
    day = partition_date(context)
    if not store.exists(accepted_key(uc, day)):
        raise AirflowSkipException(f"{day}: no accepted rows (batch quarantined whole, or not acquired)")
    built = features.build_features_partition(store, uc, day)
    print(f"{built['date']}: {built['rows']} rows -> {store.uri(built['features_key'])}")
    return lineage.report(context, "build", built, uc=uc, store=store)


def reconcile(context: dict[str, Any], name: str, asset: Any) -> list[str]:
    """Safety net: build partitions whose accepted rows have waited over an hour for features; skip otherwise.

    Each one rebuilt is announced with its own partition key, so downstream still sees every day once.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from include.lifecycle.layout import validation_result_key
    from include.lifecycle.model import features

    uc = use_case(name)
    store = artifact_store()
    own = partition_date(context).isoformat()
    now = datetime.now(UTC)
    late = []
    for day in features.stale_partitions(store, uc):
        if day == own:
            continue
        validated_at = store.read_json(validation_result_key(uc, day)).get("validated_at")
        if validated_at and now - datetime.fromisoformat(validated_at) >= STALE_AFTER:
            late.append(day)
    if not late:
        raise AirflowSkipException("every accepted partition has its features")
    for day in late:
        features.build_features_partition(store, uc, day)
    context["outlet_events"][asset].add_partitions(late)
    print(f"reconciled {len(late)} partition(s) whose hand-off was lost: {late}")
    return lineage.report(context, "reconcile", late, uc=uc, store=store)
