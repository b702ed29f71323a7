"""
### Data acquisition — owned by the data engineer

Once a day, for the day's data interval, this DAG:

1. lets the **source system** deliver the day's batch (the bundled churn snapshot replayed as daily
   batches; switch the drift scenario with the `lifecycle_drift_churn` Variable),
2. **acquires** the batch from the configured source (local landing folder, S3 through the `aws_default`
   connection, or a SQL table) and keeps the received bytes untouched,
3. **validates** it with Great Expectations (suite in `include/expectations/`): bad rows, or the whole
   batch, go to quarantine with their reasons and an alert is sent; accepted + quarantined = received,
4. ingests the **labels** delivered that day (labels arrive days after their batch),
5. publishes the `raw/<use case>` asset with the partition date, which starts feature engineering.

Every task works on one partition (the interval's date) and overwrites it on rerun: backfills are safe.
Trigger by hand with the `partition_date` param to (re)load one day.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from lifecycle_ops.dag_support import default_args, raw_asset

USE_CASE = "churn"
RAW = raw_asset(USE_CASE)


@dag(
    dag_id="data_acquisition",
    # 00:30 UTC each day, for the previous day's interval (data_interval_start = the partition). No
    # start_date: a fresh deployment waits for the next night instead of running "yesterday" at once;
    # history is loaded by backfill or by triggering with partition_date.
    schedule=CronTriggerTimetable("30 0 * * *", timezone="UTC", interval=timedelta(days=1)),
    catchup=False,
    max_active_runs=3,
    default_args=default_args("data-engineer", retries=2),
    tags=["lifecycle", "stage:acquisition", "stage:validation", f"use-case:{USE_CASE}"],
    doc_md=__doc__,
    params={
        "use_case": Param(USE_CASE, type="string", description="Use case config in include/config/"),
        "partition_date": Param(None, type=["null", "string"], format="date",
                                description="Load this day instead of the data interval's day"),
        "simulate_source": Param(True, type="boolean",
                                 description="Let the replayed source system deliver the day's batch first"),
    },
)
def data_acquisition():
    @task
    def deliver_source_batch(**context) -> dict:
        """The replayed source system drops the day's batch and labels into the landing area."""
        from airflow.sdk import Variable

        from include.lifecycle.data import replay
        from lifecycle_ops.runtime import artifact_store, partition_date, use_case

        uc = use_case(context)
        day = partition_date(context)
        if not context["params"].get("simulate_source", True):
            return {"date": day.isoformat(), "skipped": "simulate_source is off"}
        drift_var = Variable.get(f"lifecycle_drift_{uc.name}", default=None)
        drift = None if drift_var is None else str(drift_var).lower() in ("1", "true", "yes", "on")
        return replay.publish(artifact_store(), uc, day, drift=drift)

    @task
    def acquire(delivered: dict, **context) -> dict:
        from include.lifecycle.data import acquisition
        from lifecycle_ops.runtime import artifact_store, partition_date, source_for, use_case

        uc = use_case(context)
        store = artifact_store()
        return acquisition.acquire(store, uc, partition_date(context), source_for(uc, store))

    @task
    def validate(acquired: dict, **context) -> dict:
        """Great Expectations gate; quarantines with reasons and alerts, fails only by policy."""
        from include.lifecycle.alerts import Alert
        from include.lifecycle.data import validation
        from lifecycle_ops.notifier import send_alert
        from lifecycle_ops.runtime import artifact_store, partition_date, use_case

        uc = use_case(context)
        store = artifact_store()
        day = partition_date(context)
        try:
            result = validation.validate_batch(store, uc, day)
        except validation.BatchRejectedError as exc:
            send_alert(Alert(kind="batch_quarantined", severity="critical", use_case=uc.name,
                             dag_id=context["dag"].dag_id, run_id=context["run_id"], partition=day.isoformat(),
                             summary=str(exc), details={},
                             links={"validation report": store.uri(f"validation/{uc.name}/date={day}/report.html")}))
            raise
        if result["quarantined"]:
            send_alert(Alert(
                kind="batch_quarantined", severity="warning" if result["status"] == "partial" else "critical",
                use_case=uc.name, dag_id=context["dag"].dag_id, run_id=context["run_id"], partition=day.isoformat(),
                summary=(f"{result['quarantined']} of {result['received']} rows quarantined "
                         f"({result['status']}): {'; '.join(result['reasons'])[:500]}"),
                details={k: result[k] for k in ("received", "accepted", "quarantined", "status")},
                links={"validation report": store.uri(result["report_key"])}))
        print(f"validation report: {store.uri(result['report_key'])}")
        return result

    @task
    def ingest_labels(delivered: dict, **context) -> dict:
        from include.lifecycle.data import acquisition
        from lifecycle_ops.runtime import artifact_store, partition_date, source_for, use_case

        uc = use_case(context)
        store = artifact_store()
        return acquisition.ingest_labels(store, uc, partition_date(context), source_for(uc, store))

    @task(outlets=[RAW])
    def publish(validated: dict, labels: dict, **context) -> dict:
        """Announce the partition to downstream DAGs (feature engineering), even when it was all quarantined."""
        extra = {"partition": validated["date"], "use_case": validated["use_case"],
                 "accepted": validated["accepted"], "labels": labels.get("rows", 0)}
        context["outlet_events"][RAW].extra = extra
        return extra

    delivered = deliver_source_batch()
    publish(validate(acquire(delivered)), ingest_labels(delivered))


data_acquisition()
