"""The SME approval gate: Airflow's human-in-the-loop ``ApprovalOperator`` plus what a model release needs.

What the stock operator already does, and we keep: it waits in ``awaiting_input`` without holding a
worker slot, appears under *Required actions* in the UI, lets only ``assigned_users`` answer (the API
refuses anyone else), applies ``defaults`` at ``response_timeout`` and skips downstream on Reject.

What this adds:

* the request body is the **evidence**: candidate vs champion metrics with confidence intervals, the
  per-slice table, risk QA, business cost, the blessing reasons and where the model card is;
* assigned SMEs come from the ``approval_smes_<use case>`` Variable, else the use-case YAML;
* **no answer means Reject** (``defaults=["Reject"]``), and Approve needs a comment: the form shows a
  required *Comment* field, and an Approve that arrives without one anyway (a REST client) is refused
  *visibly* (the task fails with the reason in its log, the ledger records ``approval_refused``, an
  alert says so) instead of being quietly turned into a Reject;
* the request says up front who is assigned and that anyone else is refused (Airflow's own form shows
  the Approve button to every user who can open it);
* the decision is bound to **hashes** of the model, its evaluation, QA, data lineage and (with
  ``approval.shadow``) the live shadow comparison shown in the request, and written to
  the registry's append-only **ledger** with who, when and the comment; :func:`apply_decision`
  re-checks the hashes before it moves the ``champion`` alias and refuses (with an alert) if anything
  changed after the SME looked.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict

from lifecycle_ops.evidence_tables import shadow_section, slice_table
from lifecycle_ops.gate_recovery import REPLAYED, earlier_outcome, replay_event

log = logging.getLogger(__name__)

DECISION_KEY = "evidence"
COMMENT = "comment"
# Shortest comment (after trimming) that an Approve may carry; checked here, on resume. It cannot go into the
# field's schema: the task runner validates task params' *defaults* at task start (process_params), so a
# ``minLength`` on a field that starts empty fails the gate before it asks. 2 keeps the REST scenarios' "ok".
COMMENT_MIN_LENGTH = 2


def comment_param() -> Param:
    """The form field the SME fills in.

    ``type: string`` without ``null`` makes Airflow's form mark it required: Approve and Reject stay disabled
    while it is empty. ``source="task"``: HITLOperator keeps only task-sourced params in the request.
    """
    return Param("", type="string", title="Comment (required)",
                 description=("Why you approve or reject this model; it goes to the registry's ledger with your "
                              f"name. Required, at least {COMMENT_MIN_LENGTH} characters: an Approve without a "
                              "comment is refused and nothing is promoted."),
                 source="task")


def with_comment_param(params: Any) -> ParamsDict:
    """``params`` plus the comment field.

    Airflow's ``apply_defaults`` hands every operator the DAG's params in ``kwargs["params"]`` (source
    ``dag``) before ``__init__`` runs, so a ``setdefault("params", ...)`` never adds the field when the DAG
    has params, and HITLOperator then drops the DAG's ones: the stored request had ``params == {}``.
    """
    merged = copy.copy(params) if isinstance(params, ParamsDict) else ParamsDict(params or {})
    existing = merged.get_param(COMMENT) if COMMENT in merged else None
    if existing is None or existing.source != "task":
        merged[COMMENT] = comment_param()
    return merged


def approval_refusal(chosen: str, actor: str, comment: str, assigned: list[str]) -> str:
    """Why an Approve cannot stand ('' when it can); decided in the library (``include.lifecycle.model.gate``)."""
    from include.lifecycle.model.gate import approval_refusal as refusal

    return refusal(chosen, actor, comment, assigned, approve=ApprovalOperator.APPROVE, min_length=COMMENT_MIN_LENGTH)


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}" if value == 0 or abs(value) >= 10 ** -digits else f"{value:.2g}"
    return "–" if value is None else str(value)


def assigned_smes(uc: Any) -> list[str]:
    """The users allowed to answer: the ``approval_smes_<use case>`` Variable, else the YAML's list."""
    from airflow.sdk import Variable

    raw = Variable.get(f"approval_smes_{uc.name}", default=None)
    users = [u.strip() for u in str(raw).split(",") if u.strip()] if raw else []
    if not users:
        users = [str(u) for u in uc.section("approval").get("assigned_smes", [])]
    if not users:
        raise ValueError(f"use case {uc.name!r}: no SME is assigned to approve models "
                         f"(set the approval_smes_{uc.name} Variable or approval.assigned_smes)")
    return users


def request_header(smes: list[str], deadline: datetime | None) -> list[str]:
    """The first lines of the request: who may answer, how, and until when.

    Airflow's Required Action form shows Approve/Reject enabled to anyone who can open the page and says
    nothing about assignment; only the click is refused ("not a respondent for the task"). So say it first.
    """
    due = deadline.strftime("%Y-%m-%d %H:%M UTC") if deadline else "no deadline"
    return [
        f"**Assigned to: {', '.join(smes)}.** Only these users can answer this request. Anyone else who "
        "clicks Approve or Reject is refused by Airflow and their answer is not recorded.",
        "",
        f"**To answer:** write a *Comment* (at least {COMMENT_MIN_LENGTH} characters), then click **Approve** or "
        f"**Reject**. An Approve without a comment is refused: the task fails and nothing is promoted. "
        f"No answer by **{due}** counts as **Reject**.",
        "",
        "---",
        "",
        "",
    ]


def evidence_body(uc: Any, registry: Any, version: int, action: str, reason: str = "") -> str:
    """Markdown the SME reads before deciding. Everything in it comes from the version's registered artifacts
    (``evaluation.json``: candidate and champion judged on the same holdout, and the comparison)."""
    import json

    manifest = registry.manifest(version)
    evaluation = json.loads(registry.artifact(version, "evaluation.json"))
    cand = evaluation.get("candidate") or {}
    champ = evaluation.get("champion") or {}
    comparison = evaluation.get("comparison") or manifest.get("blessing") or {}
    qa = manifest.get("qa") or {}
    champion_version = registry.alias_version("champion")
    primary = cand.get("primary_metric", "roc_auc")
    lines = [
        f"**{action.title()} request for model `{registry.name}` version {version}** — use case *{uc.name}*.",
        "",
        f"> {str(uc.raw.get('description', '')).strip()}",
        "",
    ]
    if reason:
        lines += [f"**Reason given:** {reason}", ""]
    judged_against = comparison.get("champion_version")
    lines += [f"Current champion: {'v' + str(champion_version) if champion_version else 'none yet'}; "
              f"judged against: {'v' + str(judged_against) if judged_against else 'value thresholds only'}; "
              f"holdout rows: {cand.get('rows', '–')} ({cand.get('positives', '–')} positives).", ""]
    c_metrics, p_metrics = cand.get("metrics") or {}, champ.get("metrics") or {}
    lines += ["| metric | candidate | champion |", "|---|---|---|"]
    for m in ("roc_auc", "average_precision", "log_loss", "brier", "precision", "recall", "f1",
              "expected_cost_per_customer"):
        if m in c_metrics:
            lines.append(f"| {m} | {_fmt(c_metrics.get(m))} | {_fmt(p_metrics.get(m)) if p_metrics else '–'} |")
    boot = cand.get("bootstrap") or {}
    if boot:
        lines += ["", f"Bootstrap {int(round(100 * float(boot.get('confidence', 0.95))))}% CI on {primary} "
                      f"({boot.get('samples')} samples): [{_fmt(boot.get('low'))}, {_fmt(boot.get('high'))}]"]
    if cand.get("threshold") is not None:
        costs = cand.get("costs") or {}
        lines += ["", f"**Business metric:** expected cost per customer "
                      f"{_fmt(c_metrics.get('expected_cost_per_customer'), 2)} at threshold {cand['threshold']} "
                      f"(cost of a missed positive {costs.get('fn')}, of a false alarm {costs.get('fp')})."]
    slices = cand.get("slices") or {}
    if slices:
        lines += slice_table(cand, champ, comparison, primary)
    lines += ["", f"**Blessed:** {'yes' if comparison.get('blessed') else 'NO'}"]
    lines += [f"- {r}" for r in comparison.get("reasons", [])]
    failed = [c for c in comparison.get("checks", []) if c.get("status") == "fail"]
    lines += [f"- failed: {c.get('detail')}" for c in failed if c.get("detail") not in comparison.get("reasons", [])]
    if qa:
        lines += ["", f"**Risk QA:** {'passed' if qa.get('passed') else 'FAILED'}"]
        for name, check in (qa.get("checks") or {}).items():
            lines.append(f"- {name}: {_fmt(check.get('value'))} (bound {_fmt(check.get('bound'))}) — "
                         f"{'ok' if check.get('passed') else 'FAILED'}")
    from lifecycle_ops.links import console_url

    card_url, evaluation_url = (console_url(page, uc.name, version=version) for page in ("model_card", "evaluation"))
    lines += ["", f"**Model card:** [{uc.name} v{version}]({card_url}) · "
                  f"**Evaluation:** [side by side with the champion]({evaluation_url})"]
    lines += ["", "Approve only if you accept this model for production; a comment is required. "
                  "No answer before the deadline counts as **Reject**."]
    return "\n".join(lines)


def bind_shadow(store: Any, hashes: dict[str, str], shadow_gate: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """The request's hashes plus the live (shadow) comparison's, and the Markdown showing it; both from one read
    of the stored comparison, so the hash :func:`apply_decision` re-checks is of the bytes the SME was shown."""
    from include.lifecycle.model.gate import SHADOW_HASH
    from include.lifecycle.serve.shadow import bound_comparison

    if shadow_gate.get("comparison_key"):
        sha, comparison = bound_comparison(store, shadow_gate["comparison_key"])
        if sha != shadow_gate.get("comparison_sha256"):  # rewritten since the sensor judged it: show and bind this one
            log.warning("the shadow comparison %s changed after the shadow gate read it; the request shows and "
                        "binds the current one (%s)", shadow_gate["comparison_key"], sha[:16])
        shown = "\n" + "\n".join(shadow_section(comparison, {**shadow_gate, "comparison_sha256": sha}))
        return {**hashes, SHADOW_HASH: sha}, shown
    if shadow_gate.get("forced"):
        return hashes, (f"\n\n**Shadow evidence overridden** by the run's trigger: {shadow_gate.get('force_reason')}"
                        f" ({shadow_gate.get('reason')}).")
    return hashes, ""


class SMEApprovalOperator(ApprovalOperator):
    """Ask the assigned SMEs to approve a registered model version, with the evidence, bound by hashes.

    :param source_task_id: upstream task whose return value names the version:
        ``{"version": int, "eligible": bool, "reasons": [...]}`` (``blessed`` is read if ``eligible`` is absent).
    :param action: ``promote`` or ``rollback`` (changes wording and the ledger entries).
    :param default_timeout: used when neither the run's ``approval_timeout_hours`` param nor the YAML sets one.
    """

    template_fields = (*ApprovalOperator.template_fields, "source_task_id", "action", "use_case_name",
                       "shadow_task_id")

    def __init__(self, *, use_case_name: str, source_task_id: str, action: str = "promote",
                 default_timeout: timedelta = timedelta(hours=72), shadow_task_id: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("subject", "Model approval")
        kwargs.setdefault("defaults", ApprovalOperator.REJECT)
        kwargs["params"] = with_comment_param(kwargs.get("params"))
        kwargs.setdefault("response_timeout", default_timeout)
        if "notifiers" not in kwargs:  # the pending-approval alert; wrapped so a dead receiver cannot fail the gate
            from lifecycle_ops.notifiers import approval_pending_notifier

            kwargs["notifiers"] = [approval_pending_notifier()]
        super().__init__(**kwargs)
        self.source_task_id = source_task_id
        self.action = action
        self.use_case_name = use_case_name
        self.shadow_task_id = shadow_task_id  # the shadow-evidence sensor, whose live comparison the SME also sees

    # -- request ------------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from include.lifecycle.model.registry import registry_for
        from lifecycle_ops.runtime import artifact_store, use_case

        uc = use_case(self.use_case_name)
        ti = context["ti"]
        source = ti.xcom_pull(task_ids=self.source_task_id) or {}
        version = source.get("version")
        eligible = source.get("eligible", source.get("blessed"))
        if version is None or not eligible:
            reasons = "; ".join(source.get("reasons") or []) or "no eligible version"
            raise AirflowSkipException(f"nothing to approve: v{version} is not eligible ({reasons})")
        version = int(version)
        registry = registry_for(artifact_store(), uc)
        hashes = registry.evidence_hashes(version, verify=True)
        smes = assigned_smes(uc)
        params = context.get("params") or {}
        hours = params.get("approval_timeout_hours") or uc.section("approval").get("timeout_hours")
        if hours:
            self.response_timeout = timedelta(hours=float(hours))
        self.assigned_users = [{"id": u, "name": u} for u in smes]
        verb = "Promote" if self.action == "promote" else "Roll back to"
        self.subject = f"[{uc.name}] {verb} model {registry.name} v{version}? Assigned to {', '.join(smes)}"
        deadline = datetime.now(UTC) + self.response_timeout if self.response_timeout else None
        self.body = "\n".join(request_header(smes, deadline)) + evidence_body(
            uc, registry, version, self.action, reason=str(source.get("reason") or ""))
        shadow_gate = (ti.xcom_pull(task_ids=self.shadow_task_id) or {}) if self.shadow_task_id else {}
        hashes, shown = bind_shadow(registry.store, hashes, shadow_gate)
        self.body += shown
        # The champion this decision is about: the one the candidate was evaluated against (promote), or the one
        # being rolled back (rollback). Promotion refuses if the alias moved away from it meanwhile.
        if self.action == "promote":
            expected_champion = (registry.manifest(version).get("evaluation_summary") or {}).get("champion_version")
        else:
            expected_champion = registry.alias_version("champion")
        evidence = {"version": version, "hashes": hashes, "assigned": smes, "action": self.action,
                    "shadow_comparison_key": shadow_gate.get("comparison_key"),
                    "expected_champion": expected_champion,
                    "model": registry.name, "use_case": uc.name,
                    "timeout_hours": self.response_timeout.total_seconds() / 3600 if self.response_timeout else None}
        ti.xcom_push(key=DECISION_KEY, value=evidence)
        answer = earlier_outcome(dag_id=context["dag"].dag_id, run_id=context["run_id"], task_id=self.task_id,
                                 map_index=ti.map_index, try_number=ti.try_number, ledger=registry.ledger,
                                 version=version, hashes=hashes, assigned=smes) if (ti.try_number or 1) > 1 else None
        if answer and answer.get("decided"):
            entry = answer["decided"]
            if entry["event"] == "approval_refused":
                message = refusal_message(entry["actor"], f"{registry.name} v{version}", entry["details"]["refusal"])
                self.log.error("%s (decided by an earlier try of this request, which Airflow failed afterwards)",
                               message)
                raise AirflowFailException(message)
            return self.execute_complete(context, replay_event(entry, self.APPROVE, self.REJECT, COMMENT))
        if answer:
            who = answer["responded_by_user"]
            self.log.warning("Applying %s's answer to an earlier try of this request (%s at %s), which Airflow "
                             "stopped before it was applied; not asking again.", who.get("id"),
                             answer["chosen_options"], answer["responded_at"].isoformat())
            return self.execute_complete(context, answer)
        registry.append("approval_requested", version, actor="lifecycle", hashes=hashes,
                        details={"run_id": context["run_id"], "assigned": smes, "action": self.action,
                                 "dag_id": context["dag"].dag_id})
        return super().execute(context)  # the notifiers (the pending-approval alert) run before it parks

    # -- response -----------------------------------------------------------------------------
    def validate_params_input(self, params_input: Mapping) -> None:
        """Only the field names are checked here; the comment is judged in :meth:`execute_complete`.

        The stock check assigns each value into the ParamsDict, which validates it against the field's
        schema and raises a bare ``ParamValidationError`` (a retry then asks again): an answer sent over
        REST with, say, a number as comment would fail the task with a traceback that says nothing a
        person can act on, instead of the refusal below.
        """
        if unknown := set(params_input) - set(self.params):
            raise ValueError(f"params_input has fields this request does not ask for: {sorted(unknown)}")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        from include.lifecycle.model.registry import registry_for
        from lifecycle_ops.alerting import notify
        from lifecycle_ops.runtime import artifact_store, use_case

        uc = use_case(self.use_case_name)
        ti = context["ti"]
        evidence = ti.xcom_pull(task_ids=self.task_id, key=DECISION_KEY, map_indexes=ti.map_index) or {}
        registry = registry_for(artifact_store(), uc)
        version = evidence.get("version")
        # try_number: a retry tells a decision of a try Airflow failed afterwards from a person's clear (gate_recovery)
        where = {"run_id": context["run_id"], "dag_id": context["dag"].dag_id, "action": self.action,
                 "try_number": ti.try_number}

        def alert(kind: str, summary: str) -> None:
            notify(context, kind, summary, use_case=uc.name, details={"version": version, "action": self.action})

        if "error" in event:  # no answer and no defaults: cannot happen with defaults=[Reject], kept for safety
            registry.append("rejected", version, actor="timeout", comment=str(event.get("error")),
                            hashes=evidence.get("hashes"), details={**where, "timed_out": True})
            self.log.error("No answer before the deadline and no default: %s", event.get("error"))
            return super().execute_complete(context, event)

        replayed = event.pop(REPLAYED, None)  # a decision an earlier, killed try recorded: not recorded again
        user = event.get("responded_by_user") or {}
        actor = user.get("id") if isinstance(user, dict) else str(user or "")
        timed_out = bool(event.get("timedout")) or not actor
        chosen = (event.get("chosen_options") or [self.REJECT])[0]
        comment = str((event.get("params_input") or {}).get(COMMENT) or "").strip()
        responded_at = str(event.get("responded_at") or "")
        what = f"{registry.name} v{version}"

        refusal = "" if timed_out else approval_refusal(chosen, actor, comment, list(evidence.get("assigned") or []))
        if refusal:
            # Visible, not quiet: a failed task (red in the grid, the run fails, promote never runs), this log
            # line, a ledger entry and an alert. The SME answers again on a cleared task / a new run.
            registry.append("approval_refused", version, actor=actor, comment=comment, hashes=evidence.get("hashes"),
                            details={**where, "refusal": refusal, "chosen": chosen, "responded_at": responded_at})
            message = refusal_message(actor, what, refusal)
            self.log.error(message)
            alert("promotion_refused", message)
            raise AirflowFailException(message)

        decision = "approved" if chosen == self.APPROVE else "rejected"
        if timed_out:
            comment = "no answer before the response timeout"
        if replayed:
            entry = replayed
            self.log.warning("%s was %s by %s (ledger entry %s) in an earlier try of this request, which Airflow "
                             "failed afterwards; applying that decision, not asking again.", what, decision.upper(),
                             actor or "timeout", entry["id"])
        else:
            entry = registry.append(decision, version, actor=actor or "timeout", comment=comment,
                                    hashes=evidence.get("hashes"),
                                    details={**where, "timed_out": timed_out, "refusal": "",
                                             "responded_at": responded_at})
            self.log.info("%s %s by %s: %s", what, decision.upper(), actor or "timeout (no answer)", comment or "-")
            alert(decision, f"{what} {decision} by {actor or 'timeout'}" + (f": {comment}" if comment else ""))
        super().execute_complete(context, event)
        return {"decision": decision, "version": version, "actor": actor or "timeout", "comment": comment,
                "timed_out": timed_out, "hashes": evidence.get("hashes"), "ledger_entry": entry["id"],
                "action": self.action, "expected_champion": evidence.get("expected_champion", "unknown"),
                "shadow_comparison_key": evidence.get("shadow_comparison_key")}


def refusal_message(actor: str, what: str, refusal: str) -> str:
    return (f"APPROVAL REFUSED: {actor}'s Approve of {what} was not accepted because {refusal}. Nothing was "
            "promoted. To answer again, clear this task with its downstream tasks (or trigger a new run) and Approve "
            "with a comment.")


def apply_decision(context: Any, gate_task_id: str, use_case_name: str) -> dict[str, Any]:
    """Move ``champion`` to the approved version after re-checking the evidence hashes.

    Refuses (ledger entry + alert + task failure without retry) when the model, its evaluation, QA, lineage or
    the shadow comparison the SME was shown changed after the request, or when the champion moved meanwhile.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from include.lifecycle.model import gate
    from include.lifecycle.model.registry import IntegrityError, registry_for
    from include.lifecycle.store import ConflictError, StoreError, sha256_bytes
    from lifecycle_ops.alerting import notify
    from lifecycle_ops.runtime import artifact_store, use_case

    uc = use_case(use_case_name)
    decision = context["ti"].xcom_pull(task_ids=gate_task_id) or {}
    if decision.get("decision") != "approved":
        raise AirflowFailException(f"no approval to apply: {decision}")
    registry = registry_for(artifact_store(), uc)
    version = int(decision["version"])
    approved = decision.get("hashes") or {}
    kind = gate.move_kind(decision)

    def refuse(why: str) -> None:
        registry.append("promotion_refused", version, actor="lifecycle", comment=why,
                        hashes=approved, details={"run_id": context["run_id"], "attempted_event": kind})
        notify(context, "promotion_refused", f"{registry.name} v{version} not moved to champion: {why}",
               use_case=uc.name, details={"version": version})
        raise AirflowFailException(f"promotion of {registry.name} v{version} refused: {why}")

    try:
        current = registry.evidence_hashes(version, verify=True)
    except (IntegrityError, StoreError) as exc:
        refuse(f"evidence no longer verifies ({exc})")
    if key := decision.get("shadow_comparison_key"):
        try:
            current[gate.SHADOW_HASH] = sha256_bytes(registry.store.read_bytes(key))
        except StoreError as exc:
            refuse(f"the shadow result the SME saw (the live comparison at {key}) is gone ({exc})")
    previous = registry.alias_version("champion")
    expected = gate.expected_champion(decision, previous)
    if why := gate.promotion_refusal(approved, current, previous, expected, kind):
        refuse(why)
    try:
        move = registry.rollback if kind == "rolled_back" else registry.promote
        entry = move(version, actor=decision.get("actor", "unknown"), comment=decision.get("comment", ""),
                     approval={"ledger_entry": decision.get("ledger_entry"), "run_id": context["run_id"]},
                     expected_champion=expected,  # and the registry re-hashes its own evidence as it moves
                     expected_hashes={k: v for k, v in approved.items() if k != gate.SHADOW_HASH})
    except ConflictError as exc:
        refuse(f"the champion moved while this run was deciding ({exc})")
    except IntegrityError as exc:
        refuse(f"evidence changed while this run was promoting ({exc})")
    notify(context, kind, (f"{registry.name} champion is now v{version} (was "
                           f"{'v' + str(previous) if previous else 'none'}), approved by {decision.get('actor')}"),
           use_case=uc.name, details={"version": version, "previous": previous})
    return {"version": version, "previous": previous, "event": kind, "ledger_entry": entry["id"]}
