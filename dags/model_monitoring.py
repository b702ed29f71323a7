"""
### Model monitoring — owned by DevOps

One run per scored day (a partitioned schedule on `predictions/<use case>`). For the day (and a short window
before it) it compares the features with the champion's training reference (Evidently data drift), the score
distribution with the reference's (prediction drift) and — once the delayed labels have arrived — the
classification performance on matured labels only. Thresholds come from the use-case YAML (`monitoring:`).
One HTML report per day is kept in the artifact store, and each run adds a row to the monitoring time series.

A breach alerts and asks the **retraining policy**: it requests a retrain only if the cooldown since the last
training has passed, enough new labelled rows exist and no training is already waiting. Every decision is kept
with its reasons. A request is recorded on `retrain-requested/<use case>` and **triggers the training DAG**
with the day and the reason (a partitioned event cannot start the nightly-scheduled training DAG itself).
"""

from __future__ import annotations

from airflow.sdk import IdentityMapper, PartitionedAssetTimetable, dag, task

from lifecycle_ops import factory
from lifecycle_ops.tasks import monitoring as t


def build(uc):
    name = uc.name
    retrain = factory.retrain_asset(uc)
    training = factory.dag_id(uc, "model_training")

    @dag(
        dag_id=factory.dag_id(uc, "model_monitoring"),
        schedule=PartitionedAssetTimetable(assets=factory.predictions_asset(uc),
                                           default_partition_mapper=IdentityMapper()),
        catchup=False,
        max_active_runs=1,
        default_args=factory.default_args("devops"),
        tags=factory.tags(uc, "monitoring", "alerting", "retraining"),
        doc_md=factory.doc(__doc__, uc),
    )
    def model_monitoring():
        @task
        def monitor(**context) -> dict:
            return t.monitor(context, name)

        @task
        def decide(result: dict, **context) -> dict:
            return t.decide(context, name, result, training)

        @task(outlets=[retrain])
        def request_retrain(decision: dict, **context) -> dict:
            return t.request_retrain(context, name, decision, retrain, training)

        request_retrain(decide(monitor()))

    return model_monitoring()


for _uc in factory.use_cases():
    build(_uc)
