"""
### Batch scoring — owned by the software engineer

Runs when feature engineering publishes a new `features/<use case>` partition **and** when the champion
changes (`model/<use case>@champion`). The champion is resolved **once at run start** and recorded, so
every partition of a run is scored by the same checksum-verified model version even if a promotion lands
mid-run. Scoring streams the partition in chunks (memory stays bounded whatever its size) and writes, per
partition, one predictions file with `id, score, predicted_label, model_version, scored_at` — a rerun
overwrites it. After a champion change the partitions that were never scored are caught up.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from lifecycle_ops.dag_support import (
    champion_asset,
    default_args,
    features_asset,
    partitions_from_events,
    predictions_asset,
)

USE_CASE = "churn"
FEATURES = features_asset(USE_CASE)
CHAMPION = champion_asset(USE_CASE)
PREDICTIONS = predictions_asset(USE_CASE)
CATCH_UP_LIMIT = 30  # partitions scored at most after a champion change


@dag(
    dag_id="batch_scoring",
    schedule=(FEATURES | CHAMPION),
    catchup=False,
    max_active_runs=1,
    default_args=default_args("software-engineer"),
    tags=["lifecycle", "stage:scoring", f"use-case:{USE_CASE}"],
    doc_md=__doc__,
    params={
        "use_case": Param(USE_CASE, type="string"),
        "partition_date": Param(None, type=["null", "string"], format="date",
                                description="Score this partition (manual runs)"),
    },
)
def batch_scoring():
    @task
    def resolve_champion(**context) -> dict:
        """Pin the model version for the whole run; no champion yet means nothing to score."""
        from airflow.sdk.exceptions import AirflowSkipException

        from include.lifecycle.serve import scoring
        from lifecycle_ops.runtime import artifact_store, use_case

        try:
            champion = scoring.resolve_champion(artifact_store(), use_case(context))
        except scoring.NoChampionError as exc:
            raise AirflowSkipException(str(exc)) from exc
        print(f"scoring with {champion}")
        return champion

    @task
    def partitions(champion: dict, **context) -> list[str]:
        from include.lifecycle.store import partition_dates
        from lifecycle_ops.runtime import artifact_store, partition_date, use_case

        uc = use_case(context)
        store = artifact_store()
        if context["params"].get("partition_date"):
            days = [partition_date(context).isoformat()]
        else:
            # The triggering events' partitions, plus every features partition never scored (events can
            # coalesce; after a champion change this catches up what arrived while there was none).
            available = partition_dates(store, f"features/{uc.name}/", "features.parquet")
            scored = set(partition_dates(store, f"predictions/{uc.name}/", "predictions.parquet"))
            unscored = [d for d in available if d not in scored][-CATCH_UP_LIMIT:]
            days = sorted(set(partitions_from_events(context, FEATURES)) | set(unscored))
        print(f"partitions to score with v{champion['version']}: {days}")
        return days

    @task(outlets=[PREDICTIONS], pool="scoring")
    def score(champion: dict, days: list[str], **context) -> list[dict]:
        from datetime import date

        from include.lifecycle.serve import scoring
        from lifecycle_ops.runtime import artifact_store, use_case

        uc = use_case(context)
        store = artifact_store()
        results = [scoring.score_partition(store, uc, date.fromisoformat(d), champion["version"],
                                           model_sha256=champion["model_sha256"]) for d in days]
        context["outlet_events"][PREDICTIONS].extra = {
            "use_case": uc.name, "version": champion["version"], "partitions": days,
            "partition": days[-1] if days else None}
        for r in results:
            print(f"{r['date']}: {r['rows']} rows scored by v{r['version']} -> {store.uri(r['predictions_key'])}")
        return results

    champion = resolve_champion()
    score(champion, partitions(champion))


batch_scoring()
