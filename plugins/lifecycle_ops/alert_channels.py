"""The two alert channels on Airflow's providers: e-mail through ``SmtpHook``, the webhook through ``HttpHook``.

Each channel either returns (sent), raises :class:`ChannelNotConfigured` (no connection, no recipients) or raises
with a reason :func:`failure_reason` makes safe to log. ``lifecycle_ops.alerting`` is the public side.

Connections follow the providers' conventions:
``smtp_default`` (smtp): host, port, login/password; extra ``from_email``, ``to`` (recipients when neither ``to=``
nor the Variable ``alert_recipients`` gives any), ``timeout``, ``disable_ssl``, ``disable_tls``, ``retry_limit``.
``alerts_webhook`` (http): ``host`` (a full URL, path included, or a host name), ``schema`` (http/https), ``port``;
extra: headers and request options as HttpHook reads them (``timeout``, ``verify``, ``proxy``...), plus ours,
``endpoint`` (a path appended to the URL; not sent as a header). A password without a login is a bearer token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the renderers and smtplib are imported where an alert is sent: every DAG file's parse
    # imports this module (through the failure notifier's defaults) and sends nothing
    from include.lifecycle.alerts import Alert

log = logging.getLogger(__name__)

DEFAULT_SMTP_CONN_ID = "smtp_default"
DEFAULT_WEBHOOK_CONN_ID = "alerts_webhook"
RECIPIENTS_VARIABLE = "alert_recipients"
DEFAULT_FROM = "airflow-alerts@localhost"
WEBHOOK_TIMEOUT_S = 5.0
CHANNELS = ("email", "webhook")
SENT = "sent"
NOT_CONFIGURED = "not configured"
# Extra keys of the webhook connection that are ours, not headers (HttpHook sends every other extra as a header).
_OWN_WEBHOOK_EXTRAS = ("endpoint",)


class ChannelNotConfigured(Exception):
    """The channel has no connection (or no recipients): skip it, do not fail."""


class _ChannelError(Exception):
    """A delivery failure whose message is already safe to log."""


def _connection(conn_id: str | None) -> Any:
    if not conn_id:
        raise ChannelNotConfigured("no connection id given")
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ChannelNotConfigured(f"connection {conn_id!r} is not defined") from exc


def _extra(conn: Any) -> dict[str, Any]:
    try:
        extra = conn.extra_dejson
    except Exception:  # malformed extra JSON: treat as empty rather than failing the alert
        return {}
    return extra if isinstance(extra, dict) else {}


def _variable(key: str) -> str | None:
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


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())  # header values: no CR/LF injection through a run id or a summary


def send_email(alert: Alert, conn_id: str | None, to: Any, meta: dict[str, Any]) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    from include.lifecycle.alerts import render_html, render_subject

    conn = _connection(conn_id)
    extra = _extra(conn)
    recipients = parse_recipients(to) or parse_recipients(_variable(RECIPIENTS_VARIABLE)) or parse_recipients(
        extra.get("to"))
    if not recipients:
        raise ChannelNotConfigured(
            f"no recipients (pass to=, set Variable {RECIPIENTS_VARIABLE!r} or extra 'to' on {conn_id!r})")
    if not conn.host:
        raise ChannelNotConfigured(f"connection {conn_id!r} has no host")
    meta["to"] = recipients
    headers = {"X-Lifecycle-Alert-Kind": alert.kind, "X-Lifecycle-Severity": alert.severity,
               "X-Airflow-Dag-Id": alert.dag_id}
    if alert.run_id:
        headers["X-Airflow-Run-Id"] = alert.run_id
    hook = SmtpHook(smtp_conn_id=str(conn_id))
    try:
        hook.get_conn()  # connect, STARTTLS unless disabled (refuses to send a password in clear), login
        hook.send_email_smtp(to=recipients, from_email=str(extra.get("from_email") or DEFAULT_FROM),
                             subject=render_subject(alert), html_content=render_html(alert),
                             custom_headers={k: _one_line(v) for k, v in headers.items()})
    finally:
        try:  # closes the socket also when login failed (``with hook`` would leave it open then)
            hook.__exit__(None, None, None)
        except Exception:
            log.debug("SMTP client was not open")
    log.info("Alert %s for %s/%s e-mailed to %d recipient(s) via %s", alert.kind, alert.dag_id, alert.run_id,
             len(recipients), conn_id)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


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
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(path)
        except Exception:
            log.debug("could not register the webhook path with Airflow's secrets masker")


def _root_cause(exc: BaseException) -> str:
    """Innermost cause, e.g. 'ConnectionRefusedError: Connection refused'; outer messages repeat the URL."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    if isinstance(inner, OSError) and inner.strerror:
        return f"{type(inner).__name__}: {inner.strerror}"
    return type(inner).__name__


def send_webhook(alert: Alert, conn_id: str | None, meta: dict[str, Any]) -> None:
    import requests
    from airflow.providers.http.hooks.http import HttpHook

    from include.lifecycle.alerts import render_slack

    conn = _connection(conn_id)
    if not conn.host:
        raise ChannelNotConfigured(f"connection {conn_id!r} has no host")
    extra = _extra(conn)
    hook = HttpHook(method="POST", http_conn_id=str(conn_id))
    # The hook's session (auth, headers, TLS and proxy options) and URL; the POST itself is ours because
    # ``hook.run`` logs the full URL and the exception text outside the secrets masker, and bodies at ERROR.
    session = hook.get_conn(headers={"Content-Type": "application/json"})
    for key in _OWN_WEBHOOK_EXTRAS:
        session.headers.pop(key, None)
    if conn.password and not conn.login:
        session.headers["Authorization"] = f"Bearer {conn.password}"
    url = hook.url_from_endpoint(str(extra.get("endpoint") or ""))
    origin = meta["target"] = _origin(url)
    _mask_webhook_path(url)
    timeout = float(extra.get("timeout") or WEBHOOK_TIMEOUT_S)
    try:
        response = session.post(url, data=json.dumps(render_slack(alert)).encode("utf-8"), timeout=timeout,
                                allow_redirects=False)
    except requests.Timeout as exc:
        raise _ChannelError(f"timeout after {timeout:g}s posting to {origin}") from exc
    except requests.ConnectionError as exc:
        raise _ChannelError(f"cannot connect to {origin} ({_root_cause(exc)})") from exc
    finally:
        session.close()
    if response.status_code >= 300:
        raise _ChannelError(f"{origin} answered HTTP {response.status_code} {response.reason or ''}".strip())
    log.info("Alert %s for %s/%s posted to webhook %s (HTTP %s)", alert.kind, alert.dag_id, alert.run_id, origin,
             response.status_code)


def failure_reason(exc: BaseException, conn_id: str | None) -> str:
    """Loggable reason: what failed and why, without credentials or secret URLs."""
    import smtplib

    from include.lifecycle.alerts import redact

    if isinstance(exc, _ChannelError):
        text = str(exc)
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"SMTP authentication failed (code {exc.smtp_code})"  # the server's text may echo the login
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{type(exc).__name__}: {exc.smtp_code} {exc.smtp_error.decode(errors='replace')[:200]}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = redact(" ".join(text.split()))[:300]
    return f"{text} [conn {conn_id}]" if conn_id else text
