"""
### Model training — owned by the data scientist

Runs **nightly** (02:00 UTC) and whenever monitoring requests a retrain (the `retrain-requested/<use case>`
asset). Steps, each a task on small dicts and artifact-store keys:

1. **assemble** the labelled training set as of the run's day (features partitions joined with the labels
   delivered so far; a stable, id-hashed holdout so champion and challenger are judged on the same rows),
2. **train** every candidate spec from the use-case config in parallel (dynamic task mapping, one mapped
   task per spec, each a small grid search with fixed seeds) and keep an experiment record per candidate,
3. **select** the best candidate by cross-validated primary metric,
4. **evaluate** it against the current champion on the same holdout: value and change thresholds per metric
   and per slice, a bootstrap confidence interval, and the business cost — *blessed* or *not blessed* with
   reasons,
5. **package** it (skops + sha256, model card with plots, pinned runtime, risk QA: fairness gap,
   invariance, latency),
6. **register** it as an immutable registry version and, when blessed and QA passed, as the `challenger`,
7. **SME approval gate**: the assigned SMEs (Variable `approval_smes_churn`) see the evidence under
   *Required actions* and Approve or Reject with a comment; no answer by the deadline is a Reject;
   the decision and the evidence hashes go to the registry's append-only ledger,
8. **promote**: re-check the hashes, move the `champion` alias, record it, alert, and publish the
   `model/<use case>@champion` asset (batch scoring follows the champion).

Trigger by hand with Params to retrain now (e.g. `as_of`, `note`).
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from lifecycle_ops.approval import SMEApprovalOperator, apply_decision
from lifecycle_ops.dag_support import candidate_asset, champion_asset, default_args, retrain_asset

USE_CASE = "churn"
RETRAIN = retrain_asset(USE_CASE)
CANDIDATE = candidate_asset(USE_CASE)
CHAMPION = champion_asset(USE_CASE)


@dag(
    dag_id="model_training",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC"), assets=RETRAIN),
    catchup=False,  # no start_date: the first nightly run is the next 02:00, not one "missed" at deploy time
    max_active_runs=1,
    default_args=default_args("data-scientist"),
    tags=["lifecycle", "stage:training", "stage:evaluation", "stage:packaging", f"use-case:{USE_CASE}"],
    doc_md=__doc__,
    params={
        "use_case": Param(USE_CASE, type="string"),
        "partition_date": Param(None, type=["null", "string"], format="date",
                                description="Train on data as of this day (default: the run's day)"),
        "note": Param("", type="string", description="Why this run was started (kept in the experiment record)"),
        "approval_timeout_hours": Param(None, type=["null", "number"], minimum=0,
                                        description="How long the SMEs have to answer (default: the YAML's)"),
    },
)
def model_training():
    @task
    def assemble(**context) -> dict:
        from include.lifecycle import steps
        from lifecycle_ops.runtime import artifact_store, partition_date, run_id, use_case

        return steps.step_assemble(artifact_store(), use_case(context), partition_date(context), run_id(context))

    @task
    def candidate_specs(assembled: dict) -> list[str]:
        """The candidate names assemble listed (one mapped training task each)."""
        return list(assembled["candidates"])

    @task(pool="training", map_index_template="{{ spec_name }}")
    def train_candidate(spec_name: str, assembled: dict, **context) -> dict:
        from include.lifecycle import steps
        from lifecycle_ops.runtime import artifact_store, run_id, use_case

        context["spec_name"] = spec_name
        return steps.step_train_candidate(artifact_store(), use_case(context), run_id(context), spec_name)

    @task
    def select_best(results: list[dict], **context) -> dict:
        from include.lifecycle import steps
        from lifecycle_ops.runtime import artifact_store, run_id, use_case

        return steps.step_select_best(artifact_store(), use_case(context), run_id(context), list(results))

    @task
    def evaluate(best: dict, **context) -> dict:
        from include.lifecycle import steps
        from lifecycle_ops.runtime import artifact_store, run_id, use_case

        return steps.step_evaluate(artifact_store(), use_case(context), run_id(context), best)

    @task
    def package(best: dict, evaluation: dict, **context) -> dict:
        from include.lifecycle import steps
        from lifecycle_ops.runtime import artifact_store, run_id, use_case

        return steps.step_package(artifact_store(), use_case(context), run_id(context), best)

    @task(outlets=[CANDIDATE])
    def register(packaged: dict, evaluation: dict, **context) -> dict:
        from include.lifecycle import steps
        from lifecycle_ops.runtime import artifact_store, run_id, use_case

        registered = steps.step_register(artifact_store(), use_case(context), run_id(context))
        registered["eligible"] = bool(registered["blessed"] and registered["qa_passed"])
        context["outlet_events"][CANDIDATE].extra = {"version": registered.get("version"),
                                                      "blessed": registered.get("blessed")}
        print(f"registered v{registered['version']}: eligible={registered['eligible']} {registered['reasons']}")
        return registered

    @task(outlets=[CHAMPION])
    def promote(**context) -> dict:
        """Move the champion alias, after re-checking that the evidence is what the SME approved."""
        promoted = apply_decision(context, gate_task_id="sme_approval")
        context["outlet_events"][CHAMPION].extra = {"version": promoted["version"], "use_case": USE_CASE}
        return promoted

    assembled = assemble()
    specs = candidate_specs(assembled)
    results = train_candidate.partial(assembled=assembled).expand(spec_name=specs)
    best = select_best(results)
    evaluation = evaluate(best)
    registered = register(package(best, evaluation), evaluation)
    gate = SMEApprovalOperator(task_id="sme_approval", source_task_id="register", action="promote")
    registered >> gate >> promote()


model_training()
