"""
### Model monitoring — owned by DevOps

Runs on every new `predictions/<use case>` partition and once a day. For the partition (and a short
window before it) it compares the features with the champion's training reference (Evidently data
drift), the score distribution with the reference's (prediction drift) and — once the delayed labels
have arrived — the classification performance on matured labels only. Thresholds come from the
use-case YAML (`monitoring:`). One HTML report per run is kept in the artifact store (its address is in
the task log and in the alert), and each run adds a row to `monitoring/<use case>/timeseries.csv`.

A breach sends an alert and asks the **retraining policy**: it emits `retrain-requested/<use case>`
(which starts `model_training`) only if the cooldown since the last training has passed, enough new
labelled rows exist and no training is already waiting. Every decision is logged with its reasons.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from lifecycle_ops.dag_support import default_args, partitions_from_events, predictions_asset, retrain_asset

USE_CASE = "churn"
PREDICTIONS = predictions_asset(USE_CASE)
RETRAIN = retrain_asset(USE_CASE)


@dag(
    dag_id="model_monitoring",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=PREDICTIONS),
    catchup=False,
    max_active_runs=1,
    default_args=default_args("devops"),
    tags=["lifecycle", "stage:monitoring", "stage:alerting", f"use-case:{USE_CASE}"],
    doc_md=__doc__,
    params={
        "use_case": Param(USE_CASE, type="string"),
        "partition_date": Param(None, type=["null", "string"], format="date",
                                description="Monitor this partition (default: the newest scored one)"),
    },
)
def model_monitoring():
    @task
    def monitor(**context) -> dict:
        from datetime import date

        from airflow.sdk.exceptions import AirflowSkipException

        from include.lifecycle.alerts import Alert
        from include.lifecycle.serve import scoring
        from include.lifecycle.store import partition_dates
        from include.lifecycle.watch import monitoring
        from lifecycle_ops.notifier import send_alert
        from lifecycle_ops.runtime import artifact_store, use_case

        uc = use_case(context)
        store = artifact_store()
        days = partitions_from_events(context, PREDICTIONS)
        if context["params"].get("partition_date"):
            days = [str(context["params"]["partition_date"])[:10]]
        if not days:
            days = partition_dates(store, f"predictions/{uc.name}/", "predictions.parquet")[-1:]
        if not days:
            raise AirflowSkipException("no scored partition to monitor yet")
        day = date.fromisoformat(max(days))
        try:
            champion = scoring.resolve_champion(store, uc)
        except scoring.NoChampionError as exc:
            raise AirflowSkipException(str(exc)) from exc
        result = monitoring.monitor(store, uc, day, champion["version"])
        report = store.uri(result["report_key"])
        print(f"monitoring report: {report}")
        print(f"drift share {result['drift_share']:.2f}, dataset drift {result['dataset_drift']}, "
              f"prediction drift {result['prediction_drift']}, performance {result['performance']}, "
              f"breaches {result['breaches']}")
        if result["breaches"]:
            kind = "performance_breach" if any("perf" in b or "roc" in b for b in result["breaches"]) \
                else "drift_detected"
            send_alert(Alert(kind=kind, severity="warning", use_case=uc.name, dag_id=context["dag"].dag_id,
                             run_id=context["run_id"], partition=day.isoformat(),
                             summary=f"{'; '.join(result['breaches'])} (model v{champion['version']})",
                             details={"drift_share": result["drift_share"],
                                      "drifted_columns": result.get("drifted_columns", [])[:10],
                                      "labelled_rows": result.get("labelled_rows")},
                             links={"monitoring report": report}))
        return result

    @task
    def decide(result: dict, **context) -> dict:
        from datetime import UTC, datetime

        from include.lifecycle.watch import retraining
        from lifecycle_ops.runtime import artifact_store, use_case

        pending = context["ti"].get_dr_count(dag_id="model_training", states=["queued", "running"])
        decision = retraining.decide_retrain(artifact_store(), use_case(context), datetime.now(UTC), result,
                                             training_pending=pending > 0)
        print(f"retrain decision: {decision['retrain']} — {'; '.join(decision['reasons'])}")
        return decision

    @task(outlets=[RETRAIN])
    def request_retrain(decision: dict, **context) -> dict:
        """Emits the retrain-requested asset event only when the policy said yes."""
        from airflow.sdk.exceptions import AirflowSkipException

        from include.lifecycle.alerts import Alert
        from lifecycle_ops.notifier import send_alert
        from lifecycle_ops.runtime import use_case

        if not decision["retrain"]:
            raise AirflowSkipException("retraining not requested: " + "; ".join(decision["reasons"]))
        uc = use_case(context)
        context["outlet_events"][RETRAIN].extra = {"use_case": uc.name, "reasons": decision["reasons"]}
        send_alert(Alert(kind="retrain_requested", severity="info", use_case=uc.name, dag_id=context["dag"].dag_id,
                         run_id=context["run_id"], partition=None, summary="; ".join(decision["reasons"]),
                         details={}, links={}))
        return decision

    request_retrain(decide(monitor()))


model_monitoring()
