"""
### Model rollback — owned by DevOps, decided by the SME

Triggered by hand (*Trigger*) when the champion misbehaves in production. Params: `target_version` (a
registered version number, or `previous` for the champion before the current one) and a required `reason`.
The rollback goes through the **same SME approval gate** as a promotion (same evidence, same assigned SMEs,
same ledger), then moves the `champion` alias back after re-checking the evidence hashes, records a
`rolled_back` ledger entry (so "which model served on date X" stays answerable) and alerts. Scoring follows
the champion asset.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lifecycle_ops import factory
from lifecycle_ops.approval import SMEApprovalOperator
from lifecycle_ops.tasks import training as t


def build(uc):
    name = uc.name
    champion = factory.champion_asset(uc)

    @dag(
        dag_id=factory.dag_id(uc, "model_rollback"),
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=factory.default_args("devops"),
        tags=factory.tags(uc, "promotion", "rollback"),
        doc_md=factory.doc(__doc__, uc),
        params={
            "target_version": Param("previous", type="string", pattern=r"^(previous|[0-9]+)$",
                                    description="Version to roll back to, or 'previous'"),
            "reason": Param("", type="string", minLength=3, description="Why roll back (goes to the ledger)"),
            "approval_timeout_hours": Param(None, type=["null", "number"], minimum=0),
        },
    )
    def model_rollback():
        @task
        def resolve_target(**context) -> dict:
            return t.resolve_rollback_target(context, name)

        @task(outlets=[champion])
        def apply_rollback(**context) -> dict:
            return t.move_champion(context, name, champion)

        gate = SMEApprovalOperator(task_id="sme_approval", use_case_name=name, source_task_id="resolve_target",
                                   action="rollback")
        resolve_target() >> gate >> apply_rollback()

    return model_rollback()


for _uc in factory.use_cases():
    build(_uc)
