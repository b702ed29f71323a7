"""
### Data acquisition — owned by the data engineer

One run per **daily partition** (the partition key is the day, `YYYY-MM-DD`). The cron run just after
midnight UTC loads the day before; a backfill or a manual run with a *partition key* (re)loads any day.

1. the **source system** delivers the day's batch (the use case's snapshot replayed as daily batches; its
   drift scenario is switched with the `lifecycle_drift_<use case>` Variable),
2. **acquire** copies the batch from the configured source (landing folder, S3 through `aws_default`, or a SQL
   table) byte for byte,
3. **validate** runs the Great Expectations gate: bad rows, or the whole batch, go to quarantine with their
   reasons and every quarantined or rejected batch alerts; accepted + quarantined = received,
4. **ingest labels** stores the labels delivered that day (labels arrive days after their batch),
5. **profile** (beside publish) builds the analyst's EDA profile of the accepted rows with Evidently, beside the
   champion's training set, sampled as it states; a failure is logged, alerted and noted, never fatal,
6. **publish** announces the day's accepted rows on `raw/<use case>` (a partitioned asset event), which starts
   feature engineering for exactly that day. A day with no accepted rows is not announced.

Every task overwrites its partition on rerun: backfills and reruns are safe.
"""

from __future__ import annotations

from airflow.sdk import CronPartitionTimetable, Param, dag, task

from lifecycle_ops import factory
from lifecycle_ops.tasks import acquisition as t


def build(uc):
    name = uc.name
    raw = factory.raw_asset(uc)

    @dag(
        dag_id=factory.dag_id(uc, "data_acquisition"),
        # run_offset=-1: the run at 00:30 on the 2nd loads partition "<the 1st>".
        schedule=CronPartitionTimetable(uc.raw["schedules"]["acquisition"], timezone="UTC", run_offset=-1,
                                        key_format="%Y-%m-%d"),
        catchup=False,
        max_active_runs=4,
        default_args=factory.default_args("data-engineer", retries=2),
        tags=factory.tags(uc, "acquisition", "validation"),
        doc_md=factory.doc(__doc__, uc),
        params={"simulate_source": Param(True, type="boolean",
                                         description="Let the replayed source system deliver the day's batch")},
    )
    def data_acquisition():
        @task
        def deliver_source_batch(**context) -> dict:
            return t.deliver(context, name)

        @task
        def acquire(**context) -> dict:
            return t.acquire(context, name)

        @task
        def validate(**context) -> dict:
            return t.validate(context, name)

        @task
        def ingest_labels(**context) -> dict:
            return t.ingest_labels(context, name)

        @task(outlets=[raw])
        def publish(validated: dict, labels: dict, **context) -> dict:
            return t.publish(context, name, validated, labels, raw)

        @task
        def profile(validated: dict, **context) -> dict:
            return t.profile_partition(context, name, validated)

        delivered = deliver_source_batch()
        validated = validate()
        labels = ingest_labels()
        delivered >> acquire() >> validated
        delivered >> labels
        publish(validated, labels)
        profile(validated)  # beside publish, not before it: features never wait for the analyst's profile

    return data_acquisition()


for _uc in factory.use_cases():
    build(_uc)
