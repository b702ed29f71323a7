"""Training tasks (owner: data scientist): thin wrappers over include.lifecycle.steps."""

from __future__ import annotations

from typing import Any

from lifecycle_ops import lineage
from lifecycle_ops.runtime import artifact_store, partition_date, run_id, use_case


def assemble(context: dict[str, Any], name: str) -> dict[str, Any]:
    from include.lifecycle import steps

    return lineage.report(context, "assemble", steps.step_assemble(artifact_store(), use_case(name),
                                                                  partition_date(context), run_id(context)), name=name)


def profile_training_set(context: dict[str, Any], name: str, assembled: dict[str, Any]) -> dict[str, Any]:
    """EDA profile of the assembled training set; a failure is logged, alerted and noted, never fatal."""
    from include.lifecycle import layout
    from include.lifecycle.data import profile
    from lifecycle_ops.tasks.acquisition import profile_failed

    uc = use_case(name)
    store = artifact_store()
    rid = assembled.get("run_id") or run_id(context)
    try:
        result = profile.profile_training_set(store, uc, rid)
    except Exception as exc:  # noqa: BLE001 - the run trains without its profile, and says so
        note = profile_failed(context, uc, store, layout.training_profile_summary_key(uc, rid),
                              f"the training set of run {rid}", exc)
        return lineage.report(context, "profile_training_set", {**note, "run_id": rid}, uc=uc, store=store)
    print(f"training-set profile: {result['uri']} ({result['rows_profiled']} of {result['rows_total']} rows, "
          f"reference: {result['reference']})")
    return lineage.report(context, "profile_training_set", result, uc=uc, store=store)


def train_candidate(context: dict[str, Any], name: str, spec_name: str) -> dict[str, Any]:
    from include.lifecycle import steps

    return lineage.report(context, "train_candidate", steps.step_train_candidate(
        artifact_store(), use_case(name), run_id(context), spec_name), name=name)


def select_best(context: dict[str, Any], name: str, results: list[dict[str, Any]],
                profiled: dict[str, Any] | None = None) -> dict[str, Any]:
    from include.lifecycle import steps

    return lineage.report(context, "select_best", steps.step_select_best(
        artifact_store(), use_case(name), run_id(context), list(results), profiled), name=name)


def evaluate(context: dict[str, Any], name: str, best: dict[str, Any]) -> dict[str, Any]:
    from include.lifecycle import steps

    return lineage.report(context, "evaluate", steps.step_evaluate(artifact_store(), use_case(name), run_id(context),
                                                                  best), name=name, best=best)


def package(context: dict[str, Any], name: str, best: dict[str, Any]) -> dict[str, Any]:
    from include.lifecycle import steps

    return lineage.report(context, "package", steps.step_package(artifact_store(), use_case(name), run_id(context),
                                                                best), name=name, best=best)


def register(context: dict[str, Any], name: str, asset: Any) -> dict[str, Any]:
    from include.lifecycle import steps

    registered = steps.step_register(artifact_store(), use_case(name), run_id(context))
    registered["eligible"] = bool(registered["blessed"] and registered["qa_passed"])
    context["outlet_events"][asset].extra = {"use_case": name, "version": registered.get("version"),
                                             "blessed": registered.get("blessed")}
    print(f"registered v{registered['version']}: eligible={registered['eligible']} {registered['reasons']}")
    return lineage.report(context, "register", registered, name=name)


def shadow_evidence(context: dict[str, Any], name: str) -> Any:
    """The sensor before the SME gate: done at once without ``approval.shadow``; else once the registered
    challenger's live comparison has enough evidence. A challenger that lost in shadow is alerted, recorded and
    not put to the SME (skipped) unless the run was triggered with ``force_without_shadow`` and a reason."""
    from airflow.sdk import PokeReturnValue
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.serve import shadow
    from lifecycle_ops.alerting import notify

    registered = context["ti"].xcom_pull(task_ids="register") or {}
    version = registered.get("version")
    if version is None or not registered.get("eligible"):
        return PokeReturnValue(is_done=True, xcom_value={"required": False, "reason": "no eligible version"})
    uc, store = use_case(name), artifact_store()
    registry = registry_for(store, uc)
    gate = shadow.shadow_gate(store, uc, int(version))
    params = context.get("params") or {}
    if gate["required"] and params.get("force_without_shadow"):
        reason = str(params.get("force_reason") or "").strip()
        if len(reason) < 2:
            raise AirflowFailException("force_without_shadow needs a force_reason (it goes to the ledger)")
        actor = str(getattr(context.get("dag_run"), "triggering_user_name", None) or "unknown")
        registry.append("shadow_overridden", int(version), actor=actor, comment=reason,
                        details={"run_id": context.get("run_id"), "gate": gate})
        print(f"shadow gate forced by {actor}: {reason} ({gate['reason']})")
        return PokeReturnValue(is_done=True, xcom_value={**gate, "forced": True, "force_reason": reason})
    print(f"shadow gate for v{version}: {gate['reason']}")
    if not gate["ready"]:
        return PokeReturnValue(is_done=False)
    if gate["lost"]:
        registry.append("shadow_lost", int(version), actor="lifecycle", comment=gate["reason"],
                        hashes={"shadow_comparison_sha256": gate["comparison_sha256"]},
                        details={"run_id": context.get("run_id"), "comparison_key": gate["comparison_key"]})
        notify(context, "shadow_lost", f"v{version} is not put to the SME: {gate['reason']}", use_case=uc.name,
               links={"shadow comparison": store.uri(gate["comparison_key"])})
        raise AirflowSkipException(f"v{version} lost in shadow and is not put to the SME: {gate['reason']} "
                                   "(trigger with force_without_shadow and a force_reason to ask anyway)")
    return PokeReturnValue(is_done=True, xcom_value=gate)


def move_champion(context: dict[str, Any], name: str, asset: Any, gate_task_id: str = "sme_approval"
                  ) -> dict[str, Any]:
    """Promote (or roll back to) the approved version after re-checking the evidence hashes."""
    from lifecycle_ops.approval import apply_decision

    moved = apply_decision(context, gate_task_id, name)
    context["outlet_events"][asset].extra = {"use_case": name, "version": moved["version"]}
    return lineage.report(context, "move_champion", moved, name=name)


def resolve_rollback_target(context: dict[str, Any], name: str) -> dict[str, Any]:
    from include.lifecycle.model.registry import registry_for

    registry = registry_for(artifact_store(), use_case(name))
    params = context.get("params") or {}
    return lineage.report(context, "resolve_rollback_target", rollback_target(
        registry, str(params.get("target_version", "previous")), str(params.get("reason", ""))), name=name)


def rollback_target(registry: Any, wanted: str, reason: str) -> dict[str, Any]:
    """Which version a rollback goes to, or why it cannot (``eligible`` False with the reasons)."""
    current = registry.alias_version("champion")
    wanted, reason = wanted.strip(), reason.strip()
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
