"""
### Model training — owned by the data scientist

Runs **nightly** and whenever monitoring asks for a retrain (it triggers this DAG with the day and the reason
in the run's conf). Each step is a task on small dicts and artifact-store keys:

1. **assemble** the labelled training set as of the run's day (features partitions joined with the labels
   delivered so far; a stable, id-hashed holdout so champion and challenger are judged on the same rows),
2. **train** every candidate of the use-case YAML in parallel (one mapped task per candidate, each a small
   seeded grid search) and keep an experiment record per candidate,
   Beside training, **profile** the assembled set for the analyst (Evidently: distributions, missing values,
   categories, each feature against the target, beside the champion's training set; never fails the run),
3. **select** the best candidate by cross-validated primary metric and write the run's experiment record
   (candidates side by side, data hash, code version, the profile),
4. **evaluate** it against the current champion on the same holdout: value and change thresholds per metric
   and per slice, a bootstrap confidence interval and the business cost — *blessed* or not, with reasons,
5. **package** it (skops + sha256, model card with plots, pinned runtime, risk QA),
6. **register** it as an immutable registry version and, when blessed and QA passed, as the `challenger`,
   With `approval.shadow` in the YAML, **shadow_evidence** waits (rescheduled, no worker held) until the
   challenger, shadow-scored beside the champion on each new day, has enough labelled live rows; one that
   loses in shadow is alerted and not put to the SMEs unless the run was triggered with
   `force_without_shadow` and a `force_reason` (kept in the ledger). Without it the step passes at once.
7. **SME approval gate**: the assigned SMEs (Variable `approval_smes_<use case>`, else the YAML) see the
   evidence under *Required actions* and Approve or Reject with a comment; no answer by the deadline is a
   Reject; the decision and the evidence hashes go to the registry's append-only ledger,
8. **promote**: re-check the hashes, move the `champion` alias, record it, alert, and announce
   `model/<use case>@champion` (scoring catches up with the new champion).

Trigger by hand (*Trigger*) to retrain now; every field of the form is optional.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from lifecycle_ops import factory
from lifecycle_ops.approval import SMEApprovalOperator
from lifecycle_ops.tasks import training as t


def build(uc):
    name = uc.name
    challenger = factory.challenger_asset(uc)
    champion = factory.champion_asset(uc)
    candidates = [c["name"] for c in uc.raw["candidates"]]
    # approval.shadow: how long a request may wait for live evidence (then it is skipped), and how often it looks
    shadow = uc.raw["approval"].get("shadow") or {}
    shadow_wait_s = float(shadow.get("max_wait_days", 14)) * 86400
    shadow_poke_s = float(shadow.get("check_every_minutes", 30)) * 60

    @dag(
        dag_id=factory.dag_id(uc, "model_training"),
        schedule=factory.nightly(cron) if (cron := uc.raw["schedules"].get("training")) else None,
        catchup=False,
        max_active_runs=1,
        default_args=factory.default_args("data-scientist"),
        tags=factory.tags(uc, "training", "evaluation", "packaging", "approval", "promotion"),
        doc_md=factory.doc(__doc__, uc),
        params={
            "partition_date": Param(None, type=["null", "string"], format="date",
                                    description="Train on data as of this day (default: the run's day)"),
            "note": Param(None, type=["null", "string"],
                          description="Optional: why this run was started (kept with the run)"),
            "approval_timeout_hours": Param(None, type=["null", "number"], minimum=0,
                                            description="Optional: how long the SMEs have to answer "
                                                        "(default: the use case's approval.timeout_hours)"),
            "force_without_shadow": Param(False, type="boolean",
                                          description="Ask the SMEs without (or despite) the shadow evidence "
                                                      "approval.shadow requires; needs a force_reason"),
            "force_reason": Param(None, type=["null", "string"],
                                  description="Why the shadow evidence is overridden (kept in the ledger)"),
        },
    )
    def model_training():
        @task
        def assemble(**context) -> dict:
            return t.assemble(context, name)

        @task(pool=factory.training_pool(uc), map_index_template="{{ spec_name }}")
        def train_candidate(spec_name: str, **context) -> dict:
            context["spec_name"] = spec_name
            return t.train_candidate(context, name, spec_name)

        @task
        def profile_training_set(assembled: dict, **context) -> dict:
            return t.profile_training_set(context, name, assembled)

        @task
        def select_best(results: list[dict], profiled: dict, **context) -> dict:
            return t.select_best(context, name, results, profiled)

        @task
        def evaluate(best: dict, **context) -> dict:
            return t.evaluate(context, name, best)

        @task
        def package(best: dict, **context) -> dict:
            return t.package(context, name, best)

        @task(outlets=[challenger])
        def register(**context) -> dict:
            return t.register(context, name, challenger)

        @task.sensor(mode="reschedule", poke_interval=shadow_poke_s, timeout=shadow_wait_s, soft_fail=True)
        def shadow_evidence(**context):
            return t.shadow_evidence(context, name)

        @task(outlets=[champion])
        def promote(**context) -> dict:
            return t.move_champion(context, name, champion)

        trained = train_candidate.expand(spec_name=candidates)
        assembled = assemble()
        best = select_best(trained, profile_training_set(assembled))
        assembled >> trained
        registered = register()
        evaluate(best) >> package(best) >> registered
        gate = SMEApprovalOperator(task_id="sme_approval", use_case_name=name, source_task_id="register",
                                   action="promote", shadow_task_id="shadow_evidence")
        registered >> shadow_evidence() >> gate >> promote()

    return model_training()


for _uc in factory.use_cases():
    build(_uc)
