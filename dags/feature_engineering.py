"""
### Feature engineering — owned by the data analyst

Runs whenever data acquisition publishes a `raw/<use case>` partition (data-aware scheduling on the
asset). For each partition named in the triggering asset events it cleans the accepted rows (types,
categories as configured in `include/config/<use case>.yaml`) and writes the features partition that
training and batch scoring read. The scikit-learn preprocessing itself (imputation, scaling, one-hot)
is fitted at training time on training rows only and saved inside the model, so scoring raw rows
through the packaged model sees exactly what training saw.

Trigger by hand with `partition_date` to rebuild one partition.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lifecycle_ops.dag_support import default_args, features_asset, partitions_from_events, raw_asset

USE_CASE = "churn"
RAW = raw_asset(USE_CASE)
FEATURES = features_asset(USE_CASE)


@dag(
    dag_id="feature_engineering",
    schedule=[RAW],
    start_date=datetime(2025, 12, 31),
    catchup=False,
    max_active_runs=1,
    default_args=default_args("data-analyst"),
    tags=["lifecycle", "stage:features", f"use-case:{USE_CASE}"],
    doc_md=__doc__,
    params={
        "use_case": Param(USE_CASE, type="string"),
        "partition_date": Param(None, type=["null", "string"], format="date",
                                description="Rebuild this partition (manual runs)"),
    },
)
def feature_engineering():
    @task
    def partitions(**context) -> list[str]:
        """The partitions named by the triggering events, plus any whose features are missing or stale.

        Asset events can coalesce into one run (and an event can land outside a run's window), so the run
        also checks the store itself: every accepted raw partition without features built from it.
        """
        from include.lifecycle.model import features
        from lifecycle_ops.runtime import artifact_store, partition_date, use_case

        if context["params"].get("partition_date"):
            return [partition_date(context).isoformat()]
        found = set(partitions_from_events(context, RAW))
        found |= set(features.stale_partitions(artifact_store(), use_case(context)))
        print(f"partitions to build: {sorted(found)}")
        return sorted(found)

    @task(outlets=[FEATURES])
    def build(days: list[str], **context) -> list[dict]:
        from datetime import date

        from include.lifecycle.model import features
        from lifecycle_ops.runtime import artifact_store, use_case

        uc = use_case(context)
        store = artifact_store()
        built = []
        for day in days:
            key = f"raw/{uc.name}/date={day}/accepted.parquet"
            if not store.exists(key):
                print(f"partition {day}: no accepted rows (batch quarantined whole or missing); nothing to build")
                continue
            built.append(features.build_features_partition(store, uc, date.fromisoformat(day)))
        context["outlet_events"][FEATURES].extra = {
            "use_case": uc.name, "partitions": [b["date"] for b in built],
            "partition": built[-1]["date"] if built else None,
        }
        return built

    build(partitions())


feature_engineering()
