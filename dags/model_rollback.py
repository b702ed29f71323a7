"""
### Model rollback — owned by DevOps, decided by the SME

Triggered by hand (Trigger DAG w/ config) when the champion misbehaves in production. Params:
`target_version` (a registered version number, or `previous` for the champion before the current one)
and a required `reason`. The rollback goes through the **same SME approval gate** as a promotion (same
evidence, same assigned SMEs, same ledger), then moves the `champion` alias back after re-checking the
evidence hashes, records a `rolled_back` ledger entry (so "which model served on date X" stays
answerable) and alerts. Batch scoring follows the champion asset.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lifecycle_ops.approval import SMEApprovalOperator, apply_decision
from lifecycle_ops.dag_support import champion_asset, default_args

USE_CASE = "churn"
CHAMPION = champion_asset(USE_CASE)


@dag(
    dag_id="model_rollback",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args("devops"),
    tags=["lifecycle", "stage:promotion", "stage:rollback", f"use-case:{USE_CASE}"],
    doc_md=__doc__,
    params={
        "use_case": Param(USE_CASE, type="string"),
        "target_version": Param("previous", type="string", pattern=r"^(previous|[0-9]+)$",
                                description="Version to roll back to, or 'previous'"),
        "reason": Param("", type="string", minLength=3, description="Why roll back (goes to the ledger)"),
        "approval_timeout_hours": Param(None, type=["null", "number"], minimum=0),
    },
)
def model_rollback():
    @task
    def resolve_target(**context) -> dict:
        from include.lifecycle.model.registry import registry_for
        from lifecycle_ops.runtime import artifact_store, use_case

        uc = use_case(context)
        registry = registry_for(artifact_store(), uc)
        current = registry.alias_version("champion")
        wanted = str(context["params"]["target_version"]).strip()
        reason = str(context["params"]["reason"]).strip()
        if wanted == "previous":
            champions = [e["version"] for e in registry.ledger() if e["event"] in ("promoted", "rolled_back")]
            earlier = [v for v in champions if v != current]
            if not earlier:
                return {"version": None, "eligible": False, "reasons": ["there is no earlier champion"]}
            target = earlier[-1]
        else:
            target = int(wanted)
        if target not in registry.versions():
            return {"version": target, "eligible": False, "reasons": [f"v{target} is not registered"]}
        if target == current:
            return {"version": target, "eligible": False, "reasons": [f"v{target} is already the champion"]}
        return {"version": target, "eligible": True, "current": current, "reason": reason,
                "reasons": [f"rollback from v{current} to v{target}: {reason}"]}

    @task(outlets=[CHAMPION])
    def apply_rollback(**context) -> dict:
        moved = apply_decision(context, gate_task_id="sme_approval")
        context["outlet_events"][CHAMPION].extra = {"version": moved["version"], "use_case": USE_CASE}
        return moved

    gate = SMEApprovalOperator(task_id="sme_approval", source_task_id="resolve_target", action="rollback")
    resolve_target() >> gate >> apply_rollback()


model_rollback()
