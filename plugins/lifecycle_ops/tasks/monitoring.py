"""Monitoring tasks (owner: DevOps): drift and performance, alerts, and the retraining policy."""

from __future__ import annotations

from typing import Any

from lifecycle_ops import lineage
from lifecycle_ops.runtime import artifact_store, partition_date, use_case


def monitor(context: dict[str, Any], name: str) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowSkipException

    from include.lifecycle.serve import scoring
    from include.lifecycle.watch import monitoring
    from lifecycle_ops.alerting import notify

    uc = use_case(name)
    store = artifact_store()
    day = partition_date(context)
    try:
        champion = scoring.resolve_champion(store, uc)
    except scoring.NoChampionError as exc:
        raise AirflowSkipException(str(exc)) from exc
    result = monitoring.monitor(store, uc, day, champion["version"])
    report = store.uri(result["report_key"])
    print(f"monitoring report: {report}")
    print(f"drift share {result['drift_share']:.2f}, dataset drift {result['dataset_drift']}, prediction drift "
          f"{result['prediction_drift']}, breaches {result['breaches']}")
    performance = [b for b in result["breach_details"] if b["kind"].startswith("performance:")]
    drift = [b for b in result["breach_details"] if not b["kind"].startswith("performance:")]
    for kind, breaches in (("performance_breach", performance), ("drift_detected", drift)):
        if breaches:
            notify(context, kind, f"{' '.join(b['detail'] for b in breaches)} (model v{champion['version']})",
                   use_case=uc.name, links={"monitoring report": report},
                   details={"drift_share": result["drift_share"], "labelled_rows": result.get("labelled_rows"),
                            "drifted_columns": result.get("drifted_columns", [])[:10]})
    return lineage.report(context, "monitor", result, uc=uc, store=store)


def decide(context: dict[str, Any], name: str, result: dict[str, Any], training_dag_id: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    from include.lifecycle.watch import retraining

    pending = context["ti"].get_dr_count(dag_id=training_dag_id, states=["queued", "running"])
    decision = retraining.decide_retrain(artifact_store(), use_case(name), datetime.now(UTC), result,
                                         training_pending=pending > 0, run_id=context["run_id"])
    print(f"retrain decision: {decision['retrain']} — {'; '.join(decision['reasons'])}")
    return lineage.report(context, "decide", decision, name=name, monitored=result)


def request_retrain(context: dict[str, Any], name: str, decision: dict[str, Any], asset: Any,
                    training_dag_id: str) -> dict[str, Any]:
    """Record the request (an event on ``retrain-requested/<uc>``) and start training with the day; skip on no.

    The training run is started the way ``TriggerDagRunOperator`` starts one on Airflow 3 (the task raises
    ``DagRunTriggerException`` and the task runner asks the API server), from this task: the provider's operator
    module imports Airflow's ORM models at parse time, ~1.3 s per parse of the monitoring DAG (bench 1), and
    a task process of its own for one API call.
    """
    from datetime import UTC, datetime

    from airflow.sdk.exceptions import AirflowSkipException, DagRunTriggerException

    from lifecycle_ops.alerting import notify

    if not decision["retrain"]:
        raise AirflowSkipException("retraining not requested: " + "; ".join(decision["reasons"]))
    day = partition_date(context).isoformat()
    context["outlet_events"][asset].extra = {"use_case": name, "date": day, "decision_key": decision["decision_key"]}
    notify(context, "retrain_requested", "; ".join(decision["reasons"]), use_case=name)
    conf = {"partition_date": day, "note": f"retraining requested by monitoring of {day}: "
                                           + "; ".join(r for r in decision["reasons"] if r.startswith("Breach"))}
    run_id = f"retrain__{day}__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    print(f"starting {training_dag_id} run {run_id} with {conf}")
    raise DagRunTriggerException(trigger_dag_id=training_dag_id, dag_run_id=run_id, conf=conf, logical_date=None,
                                 reset_dag_run=False, skip_when_already_exists=True, wait_for_completion=False,
                                 allowed_states=["success"], failed_states=["failed"], poke_interval=60,
                                 deferrable=False, note=conf["note"][:1000])
