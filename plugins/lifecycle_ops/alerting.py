"""Send lifecycle alerts by e-mail and to a Slack-compatible webhook, on Airflow's smtp and http providers.

* ``notify(context, kind, ...)`` — the one way a task builds and sends an alert.
* the notifiers for ``on_failure_callback`` and the HITL operator's ``notifiers=`` are in
  ``lifecycle_ops.notifiers`` (they call :func:`_build_and_send` when they fire),
* ``send_alert(alert)`` — send an already built :class:`~include.lifecycle.alerts.Alert`.

The providers do the delivery (``SmtpHook`` for SMTP, ``HttpHook`` for the webhook's session and URL). What is
ours: alerting never fails the task (each channel is tried on its own; a dead receiver is logged at ERROR with a
reason that carries no secret and reported as ``"failed: ..."``; a missing connection is ``"not configured"``),
redaction (the renderers in ``include/lifecycle/alerts.py``), masking a webhook path that is a secret, and a record
of every alert in the artifact store (``alerts/sent/...``) so a console can show what was sent.

The channels and their connection conventions are in ``lifecycle_ops.alert_channels``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from include.lifecycle.alerts import DEFAULT_SEVERITY, Alert, as_partition, redact, render_subject, sent_alert_key
from lifecycle_ops.alert_channels import (
    CHANNELS,
    DEFAULT_SMTP_CONN_ID,
    DEFAULT_WEBHOOK_CONN_ID,
    NOT_CONFIGURED,
    SENT,
    ChannelNotConfigured,
    failure_reason,
    send_email,
    send_webhook,
)

__all__ = ["NOT_CONFIGURED", "SENT", "alert_from_context", "notify", "send_alert"]

log = logging.getLogger(__name__)


def _record(alert: Alert, channels: Mapping[str, Mapping[str, Any]]) -> None:
    """Write what was sent, where, and each channel's result to the artifact store; log, never raise."""
    try:
        from lifecycle_ops.runtime import artifact_store

        at, alert_id = dt.datetime.now(dt.UTC), uuid.uuid4().hex
        record = {"id": alert_id, "sent_at": at.isoformat(), "subject": render_subject(alert),
                  "alert": alert.to_dict(), "channels": {name: dict(meta) for name, meta in channels.items()}}
        artifact_store().write_json(sent_alert_key(at, alert_id), record)
    except Exception as exc:
        log.warning("Alert %s of %s/%s was not recorded in the artifact store: %s", alert.kind, alert.dag_id,
                    alert.run_id, redact(f"{type(exc).__name__}: {exc}")[:300])


def send_alert(
    alert: Alert,
    smtp_conn_id: str | None = DEFAULT_SMTP_CONN_ID,
    webhook_conn_id: str | None = DEFAULT_WEBHOOK_CONN_ID,
    to: str | Iterable[str] | None = None,
) -> dict[str, str]:
    """Send ``alert`` on every configured channel and record it; never raises.

    Returns ``{"email": ..., "webhook": ...}`` with ``"sent"``, ``"not configured"`` or ``"failed: <reason>"``.
    Pass ``smtp_conn_id=None`` / ``webhook_conn_id=None`` to skip a channel.
    """
    channels: dict[str, dict[str, Any]] = {"email": {"connection": smtp_conn_id},
                                           "webhook": {"connection": webhook_conn_id}}
    senders = {"email": lambda meta: send_email(alert, smtp_conn_id, to, meta),
               "webhook": lambda meta: send_webhook(alert, webhook_conn_id, meta)}
    results: dict[str, str] = {}
    for channel in CHANNELS:
        meta = channels[channel]
        try:
            senders[channel](meta)
            results[channel] = SENT
        except ChannelNotConfigured as exc:
            log.warning("Alert channel %s not configured (%s): %s alert for %s/%s not sent there", channel,
                        redact(str(exc)), alert.kind, alert.dag_id, alert.run_id)
            results[channel] = NOT_CONFIGURED
        except Exception as exc:  # alerting must never fail the task it reports on
            reason = failure_reason(exc, meta["connection"])
            log.error("ALERT DELIVERY FAILED on channel %s for %s alert of %s/%s: %s", channel, alert.kind,
                      alert.dag_id, alert.run_id, reason)
            results[channel] = f"failed: {reason}"
        meta["result"] = results[channel]
    _record(alert, channels)
    return results


# --------------------------------------------------------------------------------------------- context


def _partition_from_context(context: Mapping[str, Any]) -> Any:
    """The partition a run works on: a ``partition_date`` (context or param), a run conf date, a date-like
    partition key, else the data interval start / logical date. Values that are not dates are skipped."""
    dag_run = context.get("dag_run")
    params = context.get("params") or {}
    conf = getattr(dag_run, "conf", None) or {}
    candidates = [context.get("partition_date"), params.get("partition_date") if isinstance(params, Mapping) else None]
    if isinstance(conf, Mapping):
        candidates += [conf.get(key) for key in ("partition", "date", "ds")]
    candidates.append(context.get("partition_key") or getattr(dag_run, "partition_key", None))
    for key in ("data_interval_start", "logical_date"):
        candidates.append(context.get(key) or getattr(dag_run, key, None))
    for value in candidates:
        try:
            if as_partition(value) is not None:
                return value
        except (TypeError, ValueError):
            continue
    return None


def _base_url() -> str:
    try:
        from airflow.sdk.configuration import conf

        return str(conf.get("api", "base_url", fallback="http://localhost:8080/")).rstrip("/")
    except Exception:
        return "http://localhost:8080"


def _exception_text(exc: Any) -> str | None:
    if exc is None:
        return None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, BaseException):
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return redact(first[:500]) or None


def alert_from_context(
    context: Mapping[str, Any],
    kind: str,
    summary: str | None = None,
    details: Mapping[str, Any] | None = None,
    links: Mapping[str, str] | None = None,
    severity: str | None = None,
    use_case: str | None = None,
    partition: Any = None,
) -> Alert:
    """Build an Alert from a task (or DAG callback) context: dag, run, task, partition, the exception of a
    failure, links to the task log and the run. ``severity`` defaults to the kind's ``DEFAULT_SEVERITY``."""
    ti = context.get("ti") or context.get("task_instance")
    dag, dag_run = context.get("dag"), context.get("dag_run")
    dag_id = (getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
              or "unknown_dag")
    run_id = context.get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    task_id = getattr(ti, "task_id", None)
    params = context.get("params") or {}
    use_case = use_case or (params.get("use_case") if isinstance(params, Mapping) else None)
    if not use_case and "__" in str(dag_id):  # generated DAGs are <use case>__<stage>: every alert names its use case
        use_case = str(dag_id).split("__", 1)[0]

    det: dict[str, Any] = dict(details or {})
    exc_text = _exception_text(context.get("exception"))
    if exc_text and summary:  # a generated summary already carries the error
        det.setdefault("error", exc_text)
    if context.get("reason"):
        det.setdefault("reason", str(context["reason"]))
    try_number = getattr(ti, "try_number", None)
    if isinstance(try_number, int) and try_number > 1:
        det.setdefault("attempt", try_number)

    all_links: dict[str, str] = {}
    try:
        log_url = getattr(ti, "log_url", None) if ti is not None else None
    except Exception:
        log_url = None
    if log_url:
        all_links["task log"] = str(log_url)
    if run_id:
        all_links["dag run"] = f"{_base_url()}/dags/{quote(dag_id)}/runs/{quote(str(run_id), safe='')}"
    all_links.update(links or {})
    from lifecycle_ops.links import alert_links  # the console pages about this alert, after the caller's own

    for name, url in alert_links(use_case, kind, partition if partition is not None else
                                 _partition_from_context(context), det).items():
        all_links.setdefault(name, url)

    if not summary:
        if kind == "task_failed":
            what = f"Task {task_id} failed" if task_id else f"DAG run {run_id} failed"
            summary = f"{what}: {exc_text}" if exc_text else what
        else:
            summary = f"{kind.replace('_', ' ')} in {dag_id}"
    return Alert(kind=kind, severity=severity or DEFAULT_SEVERITY.get(kind, "warning"), use_case=use_case, dag_id=str(dag_id),
                 run_id=str(run_id) if run_id else None,
                 partition=as_partition(partition if partition is not None else _partition_from_context(context)),
                 summary=str(summary), details=det, links=all_links, task_id=task_id)


def _build_and_send(context: Mapping[str, Any], kind: str, smtp_conn_id: str | None = DEFAULT_SMTP_CONN_ID,
                    webhook_conn_id: str | None = DEFAULT_WEBHOOK_CONN_ID, to: Any = None,
                    **alert_args: Any) -> dict[str, str]:
    try:
        alert = alert_from_context(context, kind, **alert_args)
    except Exception as exc:  # a bad kind or partition must not fail the task either
        log.error("ALERT NOT BUILT (%s): %s", kind, redact(f"{type(exc).__name__}: {exc}"))
        return {channel: f"failed: could not build alert ({type(exc).__name__})" for channel in CHANNELS}
    return send_alert(alert, smtp_conn_id, webhook_conn_id, to=to)


def notify(context: Mapping[str, Any], kind: str, summary: str | None = None, **alert_args: Any) -> dict[str, str]:
    """Build an alert of ``kind`` from the task's context and send it; never raises (see :func:`send_alert`).

    ``alert_args`` are :func:`alert_from_context`'s (details, links, severity, use_case, partition); ``partition``
    overrides the one read from the context (a run that picked its day from asset events).
    """
    return _build_and_send(context, kind, summary=summary, **alert_args)
