"""The lifecycle's Airflow notifiers: ``on_failure_notifier()`` for every DAG's ``default_args`` and
``approval_pending_notifier()`` for the HITL operator's ``notifiers=``.

Apart from :mod:`lifecycle_ops.alerting`, which builds and sends the alert, because every generated DAG file
builds a failure notifier at parse time and sends nothing then: the alert builder, its renderers and smtplib
are imported when a notifier fires.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from lifecycle_ops.alert_channels import DEFAULT_SMTP_CONN_ID, DEFAULT_WEBHOOK_CONN_ID

__all__ = ["ApprovalPendingNotifier", "LifecycleNotifier", "approval_pending_notifier", "on_failure_notifier"]

log = logging.getLogger(__name__)


class LifecycleNotifier(BaseNotifier):
    """Turns a callback context into an alert and sends it; never raises into the task or the DAG run.

    ``summary``, ``details`` and ``links`` are templated (``"{{ ti.task_id }} quarantined {{ ds }}"``).
    """

    template_fields = ("kind", "summary", "details", "links", "to", "smtp_conn_id", "webhook_conn_id", "use_case")
    # Render to strings without asking the DAG: a DAG callback under ``dag.test()`` gets a SerializedDAG.
    render_template_as_native_obj = False

    def __init__(self, kind: str = "task_failed", summary: str | None = None, details: dict[str, Any] | None = None,
                 links: dict[str, str] | None = None, smtp_conn_id: str | None = DEFAULT_SMTP_CONN_ID,
                 webhook_conn_id: str | None = DEFAULT_WEBHOOK_CONN_ID, to: str | list[str] | None = None,
                 severity: str | None = None, use_case: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.summary = summary
        self.details = details or {}
        self.links = links or {}
        self.smtp_conn_id = smtp_conn_id
        self.webhook_conn_id = webhook_conn_id
        self.to = to
        self.severity = severity
        self.use_case = use_case
        self.last_result: dict[str, str] | None = None

    def __call__(self, *args: Any) -> None:
        """Render and notify through the base class; log, never raise.

        Rendering replaces the template fields in place; they are restored because one instance in
        ``default_args`` serves every task of the DAG (all of them in one process under ``dag.test()``).
        """
        saved = {name: getattr(self, name) for name in self.template_fields}
        try:
            super().__call__(*args)
        except Exception as exc:  # a notifier must not fail the task (or the approval gate) it reports on
            from include.lifecycle.alerts import redact

            log.error("ALERT NOT SENT (%s notifier): %s", self.kind, redact(f"{type(exc).__name__}: {exc}"))
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    def get_template_env(self, dag: Any = None) -> Any:
        return super().get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)

    def alert_args(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Summary, details and links of the alert (subclasses add what they read from the context)."""
        return {"summary": self.summary, "details": self.details, "links": self.links}

    def notify(self, context: Any) -> None:
        from lifecycle_ops.alerting import _build_and_send

        self.last_result = _build_and_send(context, self.kind, self.smtp_conn_id, self.webhook_conn_id, self.to,
                                           severity=self.severity, use_case=self.use_case, **self.alert_args(context))


class ApprovalPendingNotifier(LifecycleNotifier):
    """For a HITL operator's ``notifiers=``: who must answer, by when, and the Required Actions link.

    Runs before the task parks, after the operator set its subject and assigned users.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("kind", "approval_pending")
        super().__init__(**kwargs)

    def alert_args(self, context: Mapping[str, Any]) -> dict[str, Any]:
        task = context.get("task")
        users = getattr(task, "assigned_users", None) or []
        assigned = [str(u.get("name") or u.get("id")) if isinstance(u, Mapping) else str(u) for u in users]
        details: dict[str, Any] = {"assigned": assigned or "any user with access"}
        timeout = getattr(task, "response_timeout", None)
        if isinstance(timeout, dt.timedelta):
            details["answer within (hours)"] = round(timeout.total_seconds() / 3600, 2)
        try:  # the version under decision (the operator pushed its evidence before the notifiers run), for
            # the model card link; "evidence" is approval.DECISION_KEY, not imported: approval imports this module
            ti = context.get("ti")
            evidence = ti.xcom_pull(task_ids=ti.task_id, key="evidence", map_indexes=ti.map_index) or {}
            if evidence.get("version") is not None:
                details["version"] = evidence["version"]
        except Exception as exc:  # no link is better than no alert
            log.debug("no version for the approval alert: %s", type(exc).__name__)
        links: dict[str, str] = {}
        try:
            from lifecycle_ops.alerting import _base_url

            links["approve in Airflow"] = task.generate_link_to_ui_from_context(  # type: ignore[union-attr]
                context=context, base_url=_base_url())
        except Exception as exc:  # no link is better than no alert
            log.debug("no Required Actions link: %s", type(exc).__name__)
        subject = getattr(task, "subject", None) or "Approval requested"
        summary = self.summary or f"{subject}: waiting for {', '.join(assigned) or 'any user'}"
        return {"summary": summary, "details": {**details, **self.details}, "links": {**links, **self.links}}


def on_failure_notifier(**kwargs: Any) -> LifecycleNotifier:
    """The ``on_failure_callback`` for every DAG's ``default_args``: a critical ``task_failed`` alert."""
    kwargs.setdefault("kind", "task_failed")
    return LifecycleNotifier(**kwargs)


def approval_pending_notifier(**kwargs: Any) -> ApprovalPendingNotifier:
    """The notifier for ``SMEApprovalOperator(notifiers=[...])``: an ``approval_pending`` alert; never raises."""
    return ApprovalPendingNotifier(**kwargs)
