"""Deliver lifecycle alerts by e-mail (SMTP) and to a Slack-compatible webhook.

Two entry points share one code path:

* ``LifecycleNotifier`` — an Airflow notifier for ``on_failure_callback`` / ``on_success_callback``;
  ``on_failure_notifier()`` is the one every DAG puts in ``default_args``.
* ``send_alert(alert)`` — a plain function a task calls after it decided something a human must know
  (a quarantined batch, drift, a refused promotion).

Alerting must never turn a working task into a failed one: each channel is tried on its own, a dead receiver is
logged at ERROR (channel and reason, no secrets) and reported as ``"failed: ..."``, a missing connection is
``"not configured"`` (WARNING). Connections are looked up through ``airflow.sdk.Connection.get``, which uses the
supervisor inside a running task and the secrets backends (``AIRFLOW_CONN_*`` environment variables first) in a
plain process — so the same code works in a task, in a callback and in a test.

Connection conventions
----------------------
``smtp_default`` (type ``smtp``): host, port, optional login/password; extra ``from_email``, ``to`` (list or
comma-separated), ``timeout`` (s, default 10), ``disable_ssl`` / ``disable_tls`` with the same meaning as the SMTP
provider's hook (implicit SSL and STARTTLS are on unless disabled).
``alerts_webhook`` (type ``http``): ``host`` (a full ``https://...`` URL is accepted), ``schema`` (``http``/``https``;
anything else is taken as a path prefix, which is what the URI form ``http://host:port/path`` produces), ``port``;
extra ``endpoint`` (path), ``timeout`` (s, default 5), ``headers`` (dict). login+password send HTTP basic auth,
a password alone is sent as a bearer token.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.sdk.bases.notifier import BaseNotifier
from airflow.sdk.definitions._internal.templater import Templater

from include.lifecycle.alerts import (
    DEFAULT_SEVERITY,
    Alert,
    as_partition,
    redact,
    render_slack,
    render_subject,
    render_text,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

DEFAULT_SMTP_CONN_ID = "smtp_default"
DEFAULT_WEBHOOK_CONN_ID = "alerts_webhook"
RECIPIENTS_VARIABLE = "alert_recipients"
DEFAULT_FROM = "airflow-alerts@localhost"
SMTP_TIMEOUT_S = 10.0
WEBHOOK_TIMEOUT_S = 5.0

SENT = "sent"
NOT_CONFIGURED = "not configured"


class ChannelNotConfigured(Exception):
    """The channel has no connection (or no recipients): skip it, do not fail."""


# --------------------------------------------------------------------------------------------- lookups


def _get_connection(conn_id: str | None) -> Any:
    """Fetch an Airflow connection, or raise ChannelNotConfigured when it does not exist."""
    if not conn_id:
        raise ChannelNotConfigured("no connection id given")
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException as exc:
        raise ChannelNotConfigured(f"connection {conn_id!r} is not defined") from exc


def _get_variable(key: str) -> str | None:
    """An Airflow Variable's raw value, None when unset or unreachable."""
    try:
        from airflow.sdk import Variable

        value = Variable.get(key, default=None)
    except Exception as exc:  # a missing variable must never break alerting
        log.debug("Variable %s could not be read: %s", key, type(exc).__name__)
        return None
    return None if value is None else str(value)


def parse_recipients(value: Any) -> list[str]:
    """Recipients given as a list, a JSON list or a comma/semicolon separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return parse_recipients(json.loads(text))
            except json.JSONDecodeError:
                pass
        items: Iterable[Any] = text.replace(";", ",").split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        items = [value]
    return [str(item).strip() for item in items if str(item).strip()]


def _extra(conn: Any) -> dict[str, Any]:
    try:
        extra = conn.extra_dejson
    except Exception:  # malformed extra JSON: treat as empty rather than failing the alert
        return {}
    return extra if isinstance(extra, dict) else {}


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


# --------------------------------------------------------------------------------------------- channels


def _send_email(alert: Alert, smtp_conn_id: str | None, to: Any) -> str:
    conn = _get_connection(smtp_conn_id)
    extra = _extra(conn)
    recipients = (
        parse_recipients(to)
        or parse_recipients(_get_variable(RECIPIENTS_VARIABLE))
        or parse_recipients(extra.get("to"))
    )
    if not recipients:
        raise ChannelNotConfigured(
            f"no recipients (pass to=, set Variable {RECIPIENTS_VARIABLE!r} or extra 'to' on {smtp_conn_id!r})"
        )
    if not conn.host:
        raise ChannelNotConfigured(f"connection {smtp_conn_id!r} has no host")
    sender = str(extra.get("from_email") or DEFAULT_FROM)

    msg = EmailMessage()
    msg["Subject"] = render_subject(alert)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="airflow.lifecycle")
    msg["X-Lifecycle-Alert-Kind"] = alert.kind
    msg["X-Lifecycle-Severity"] = alert.severity
    msg["X-Airflow-Dag-Id"] = alert.dag_id
    if alert.run_id:
        msg["X-Airflow-Run-Id"] = alert.run_id
    msg.set_content(render_text(alert))

    use_ssl = not _flag(extra.get("disable_ssl", False))
    use_starttls = not _flag(extra.get("disable_tls", False))
    timeout = float(extra.get("timeout") or SMTP_TIMEOUT_S)
    port = int(conn.port or (465 if use_ssl else 25))
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if use_ssl:
        client = smtplib.SMTP_SSL(conn.host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(conn.host, port, timeout=timeout)
    with client:
        if use_starttls and not use_ssl:
            client.starttls(context=context)  # refuses (raises) rather than sending a password in clear
        if conn.login:
            client.login(conn.login, conn.password or "")
        client.send_message(msg, from_addr=sender, to_addrs=recipients)
    log.info(
        "Alert %s for %s/%s e-mailed to %d recipient(s) via %s:%s",
        alert.kind,
        alert.dag_id,
        alert.run_id,
        len(recipients),
        conn.host,
        port,
    )
    return SENT


def webhook_url(conn: Any) -> str:
    """Full URL of the webhook connection (may carry a secret in its path: never log it, log ``_origin``)."""
    extra = _extra(conn)
    host = (conn.host or "").strip()
    schema = (conn.schema or "").strip().strip("/")
    prefix = ""
    if "://" in host:
        base = host.rstrip("/")
    else:
        if not host:
            raise ChannelNotConfigured("webhook connection has no host")
        if schema.lower() in {"http", "https"}:
            scheme = schema.lower()
        else:
            scheme = "https" if (conn.conn_type or "").lower() == "https" else "http"
            prefix = schema
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    path = "/".join(p.strip("/") for p in (prefix, str(extra.get("endpoint") or "")) if p and p.strip("/"))
    return f"{base}/{path}" if path else base


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class _SecretPathFilter(logging.Filter):
    """Masks webhook paths in urllib3's DEBUG lines ('POST /services/T../B../secret'): the path is the secret."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.paths:
            message = record.getMessage()
            masked = message
            for path in self.paths:
                masked = masked.replace(path, "/***")
            if masked != message:
                record.msg, record.args = masked, ()
        return True


_PATH_FILTER = _SecretPathFilter()


def _mask_webhook_path(url: str) -> None:
    path = urlsplit(url).path
    if path.strip("/") and path not in _PATH_FILTER.paths:
        _PATH_FILTER.paths.add(path)
        logger = logging.getLogger("urllib3.connectionpool")
        if _PATH_FILTER not in logger.filters:
            logger.addFilter(_PATH_FILTER)
    if len(path) >= 20:  # token-bearing paths (Slack: ~60 chars); short ones like /alerts would over-mask logs
        try:  # inside Airflow, also mask it in task logs
            from airflow.sdk.log import mask_secret

            mask_secret(path)
        except Exception:
            log.debug("could not register the webhook path with Airflow's secrets masker")


def _send_webhook(alert: Alert, webhook_conn_id: str | None) -> str:
    conn = _get_connection(webhook_conn_id)
    extra = _extra(conn)
    url = webhook_url(conn)
    _mask_webhook_path(url)
    import requests  # lazy: keep plugin import cheap for the dag processor

    headers = {"Content-Type": "application/json"}
    extra_headers = extra.get("headers")
    if isinstance(extra_headers, Mapping):
        headers.update({str(k): str(v) for k, v in extra_headers.items()})
    auth = None
    if conn.login:
        auth = (conn.login, conn.password or "")
    elif conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    timeout = float(extra.get("timeout") or WEBHOOK_TIMEOUT_S)
    try:
        response = requests.post(
            url,
            data=json.dumps(render_slack(alert)).encode("utf-8"),
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise _ChannelError(f"timeout after {timeout:g}s posting to {_origin(url)}") from exc
    except requests.ConnectionError as exc:
        raise _ChannelError(f"cannot connect to {_origin(url)} ({_root_cause(exc)})") from exc
    if response.status_code >= 300:
        raise _ChannelError(f"{_origin(url)} answered HTTP {response.status_code} {response.reason or ''}".strip())
    log.info(
        "Alert %s for %s/%s posted to webhook %s (HTTP %s)",
        alert.kind,
        alert.dag_id,
        alert.run_id,
        _origin(url),
        response.status_code,
    )
    return SENT


class _ChannelError(Exception):
    """A delivery failure whose message is already safe to log."""


def _root_cause(exc: BaseException) -> str:
    """Innermost cause, e.g. 'ConnectionRefusedError: [Errno 111] Connection refused'.

    The outer requests/urllib3 messages repeat the URL, whose path may be the webhook's secret.
    """
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    if isinstance(inner, OSError) and inner.strerror:
        return f"{type(inner).__name__}: {inner.strerror}"
    return type(inner).__name__


def _failure_reason(exc: BaseException, conn_id: str | None) -> str:
    """Loggable reason: what failed and why, without credentials or secret URLs."""
    if isinstance(exc, _ChannelError):
        text = str(exc)
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"SMTP authentication failed (code {exc.smtp_code})"  # the server's text may echo the login
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{type(exc).__name__}: {exc.smtp_code} {exc.smtp_error.decode(errors='replace')[:200]}"
    elif isinstance(exc, smtplib.SMTPException | OSError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = redact(" ".join(text.split()))[:300]
    return f"{text} [conn {conn_id}]" if conn_id else text


_CHANNELS = ("email", "webhook")


def send_alert(
    alert: Alert,
    smtp_conn_id: str | None = DEFAULT_SMTP_CONN_ID,
    webhook_conn_id: str | None = DEFAULT_WEBHOOK_CONN_ID,
    to: str | Iterable[str] | None = None,
) -> dict[str, str]:
    """Send ``alert`` on every configured channel; never raises.

    Returns ``{"email": ..., "webhook": ...}`` with ``"sent"``, ``"not configured"`` or ``"failed: <reason>"``.
    Pass ``smtp_conn_id=None`` / ``webhook_conn_id=None`` to skip a channel.
    """
    results: dict[str, str] = {}
    senders = {
        "email": (smtp_conn_id, lambda: _send_email(alert, smtp_conn_id, to)),
        "webhook": (webhook_conn_id, lambda: _send_webhook(alert, webhook_conn_id)),
    }
    for channel in _CHANNELS:
        conn_id, sender = senders[channel]
        try:
            results[channel] = sender()
        except ChannelNotConfigured as exc:
            log.warning(
                "Alert channel %s not configured (%s): %s alert for %s/%s not sent there",
                channel,
                redact(str(exc)),
                alert.kind,
                alert.dag_id,
                alert.run_id,
            )
            results[channel] = NOT_CONFIGURED
        except Exception as exc:  # alerting must never fail the task it reports on
            reason = _failure_reason(exc, conn_id)
            log.error(
                "ALERT DELIVERY FAILED on channel %s for %s alert of %s/%s: %s",
                channel,
                alert.kind,
                alert.dag_id,
                alert.run_id,
                reason,
            )
            results[channel] = f"failed: {reason}"
    return results


# --------------------------------------------------------------------------------------------- context


def _partition_from_context(context: Mapping[str, Any]) -> Any:
    """The data partition a run works on: explicit partition, a ``partition`` run conf, else the interval start."""
    if context.get("partition_date"):
        return context["partition_date"]
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    for key in ("partition", "date", "ds"):
        if isinstance(conf, Mapping) and conf.get(key):
            return conf[key]
    for key in ("data_interval_start", "logical_date"):
        value = context.get(key)
        if value is None and dag_run is not None:
            value = getattr(dag_run, key, None)
        if value:
            return value
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
    if isinstance(exc, BaseException):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(text[:500]) or None


def alert_from_context(
    context: Mapping[str, Any],
    kind: str,
    summary: str | None = None,
    details: Mapping[str, Any] | None = None,
    links: Mapping[str, str] | None = None,
    severity: str | None = None,
    use_case: str | None = None,
) -> Alert:
    """Build an Alert from an Airflow task (or DAG callback) context.

    Fills dag_id, run_id, task_id, partition, the exception (failures), and links to the task log and the run.
    """
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    dag_id = (
        getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None) or "unknown_dag"
    )
    run_id = context.get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    task_id = getattr(ti, "task_id", None)
    params = context.get("params") or {}
    use_case = use_case or (params.get("use_case") if isinstance(params, Mapping) else None)

    det: dict[str, Any] = dict(details or {})
    exc_text = _exception_text(context.get("exception"))
    if exc_text and summary:  # a generated summary already carries the error
        det.setdefault("error", exc_text)
    reason = context.get("reason")
    if reason:
        det.setdefault("reason", str(reason))
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

    if not summary:
        if kind == "task_failed":
            what = f"Task {task_id} failed" if task_id else f"DAG run {run_id} failed"
            summary = f"{what}: {exc_text}" if exc_text else what
        else:
            summary = f"{kind.replace('_', ' ')} in {dag_id}"
    return Alert(
        kind=kind,
        severity=severity or DEFAULT_SEVERITY.get(kind, "warning"),
        use_case=use_case,
        dag_id=str(dag_id),
        run_id=str(run_id) if run_id else None,
        partition=as_partition(_partition_from_context(context)),
        summary=str(summary),
        details=det,
        links=all_links,
        task_id=task_id,
    )


def notify(context: Mapping[str, Any], kind: str, summary: str | None = None, *,
           details: Mapping[str, Any] | None = None, links: Mapping[str, str] | None = None,
           severity: str | None = None, use_case: str | None = None) -> dict[str, str]:
    """Build an alert from a task's context and send it; never raises (interim until the provider-based module)."""
    try:
        alert = alert_from_context(context, kind, summary=summary, details=details, links=links,
                                   severity=severity, use_case=use_case)
    except Exception as exc:  # alerting must never fail the task it reports on
        log.error("ALERT NOT BUILT (%s): %s", kind, redact(f"{type(exc).__name__}: {exc}"))
        return {channel: "failed: could not build alert" for channel in _CHANNELS}
    return send_alert(alert)


# --------------------------------------------------------------------------------------------- notifier


class LifecycleNotifier(BaseNotifier):
    """Airflow notifier that turns a callback context into an :class:`Alert` and sends it (never raises).

    ``summary`` and ``details`` are templated (``"{{ ti.task_id }} quarantined {{ ds }}"``).
    """

    template_fields = ("kind", "summary", "details", "to", "smtp_conn_id", "webhook_conn_id", "use_case")

    def __init__(
        self,
        kind: str = "task_failed",
        summary: str | None = None,
        details: dict[str, Any] | None = None,
        smtp_conn_id: str | None = DEFAULT_SMTP_CONN_ID,
        webhook_conn_id: str | None = DEFAULT_WEBHOOK_CONN_ID,
        to: str | list[str] | None = None,
        severity: str | None = None,
        use_case: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.summary = summary
        self.details = details or {}
        self.smtp_conn_id = smtp_conn_id
        self.webhook_conn_id = webhook_conn_id
        self.to = to
        self.severity = severity
        self.use_case = use_case
        self.last_result: dict[str, str] | None = None

    def __call__(self, *args: Any) -> None:
        """Render templates and notify; a broken template is logged, never raised into the task.

        Rendering mutates the template fields in place; they are restored afterwards because one instance in
        ``default_args`` serves every task of the DAG (all of them in one process under ``dag.test()``).
        """
        saved = {name: getattr(self, name) for name in self.template_fields}
        try:
            super().__call__(*args)
        except Exception as exc:  # a notifier must not fail the task it reports on
            log.error("ALERT NOT SENT (%s notifier): %s", self.kind, redact(f"{type(exc).__name__}: {exc}"))
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    @staticmethod
    def _sdk_dag(dag: Any) -> Any:
        """The DAG if it can template; DAG callbacks under ``dag.test()`` get a SerializedDAG that cannot."""
        return dag if hasattr(dag, "get_template_env") else None

    def get_template_env(self, dag: Any = None) -> Any:
        return super().get_template_env(dag=self._sdk_dag(dag))

    def _render(self, template: Any, context: Any, dag: Any = None) -> Any:
        return Templater._render(self, template, context, self._sdk_dag(dag or context.get("dag")))

    def notify(self, context: Context) -> None:
        """Build the alert and deliver it; log, never raise, whatever happens."""
        try:
            alert = alert_from_context(
                context,
                self.kind,
                summary=self.summary,
                details=self.details,
                severity=self.severity,
                use_case=self.use_case,
            )
        except Exception as exc:
            log.error("ALERT NOT BUILT for %s callback: %s", self.kind, redact(f"{type(exc).__name__}: {exc}"))
            self.last_result = {
                channel: f"failed: could not build alert ({type(exc).__name__})" for channel in _CHANNELS
            }
            return
        self.last_result = send_alert(alert, self.smtp_conn_id, self.webhook_conn_id, to=self.to)


def on_failure_notifier(**kwargs: Any) -> LifecycleNotifier:
    """The ``on_failure_callback`` for every DAG's ``default_args``: a critical ``task_failed`` alert."""
    kwargs.setdefault("kind", "task_failed")
    return LifecycleNotifier(**kwargs)
