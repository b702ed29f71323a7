"""Alert messages for the ML lifecycle: what happened, to which DAG run and partition, and where to look.

Pure message building (no Airflow, no network): ``plugins/lifecycle_ops/alerting.py`` sends what these
functions render and records each sent alert under :func:`sent_alert_key`. Everything rendered passes through :func:`redact`, because alerts travel to mailboxes and chat
channels that are far less protected than the connection store the secrets came from.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS: tuple[str, ...] = (
    "task_failed",
    "batch_quarantined",
    "drift_detected",
    "performance_breach",
    "approval_pending",
    "approved",
    "rejected",
    "promoted",
    "promotion_refused",
    "rolled_back",
    "retrain_requested",
    "profile_failed",
    "shadow_lost",
)
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

# A sensible severity per kind, so callers only override when they know better. A refused promotion fails the
# run and means the evidence changed after the SME looked: critical, like a performance breach.
DEFAULT_SEVERITY: dict[str, str] = {
    "task_failed": "critical",
    "batch_quarantined": "warning",
    "drift_detected": "warning",
    "performance_breach": "critical",
    "approval_pending": "info",
    "approved": "info",
    "rejected": "warning",
    "promoted": "info",
    "promotion_refused": "critical",
    "rolled_back": "warning",
    "retrain_requested": "info",
    "profile_failed": "warning",  # the EDA profile is missing; the data it describes was still accepted
    "shadow_lost": "warning",  # the challenger is worse than the champion on live rows
}

KIND_TITLES: dict[str, str] = {
    "task_failed": "Task failed",
    "batch_quarantined": "Batch quarantined",
    "drift_detected": "Drift detected",
    "performance_breach": "Performance breach",
    "approval_pending": "Approval pending",
    "approved": "Model approved",
    "rejected": "Model rejected",
    "promoted": "Model promoted",
    "promotion_refused": "Promotion refused",
    "rolled_back": "Model rolled back",
    "retrain_requested": "Retraining requested",
    "profile_failed": "Data profile failed",
    "shadow_lost": "Challenger lost in shadow",
}

_SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}

REDACTED = "***"

# Keys whose values are secrets wherever they appear (details dicts, key=value text, JSON, headers).
_SECRET_KEY = (
    r"(?:[A-Za-z0-9_.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|client[_-]?secret|credentials?|authorization|auth|session[_-]?key|signature|sig))"
)
_SECRET_KEY_NAME = re.compile(rf"^{_SECRET_KEY}$", re.IGNORECASE)

_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, whole block.
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
        REDACTED,
    ),
    # user:password@host in any URL (keep the user, drop the password).
    (re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^@\s/]*@"), r"\g<pre>:" + REDACTED + "@"),
    # Authorization headers: "Bearer xyz", "Basic xyz", "token xyz".
    # (the token must hold a digit or base64 padding/symbol, so prose like "Basic checks" survives).
    (
        re.compile(
            r"\b(?P<pre>Bearer|Basic|Token)\s+(?=[A-Za-z0-9._~+/=-]*[0-9=+/])[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE
        ),
        r"\g<pre> " + REDACTED,
    ),
    # JSON / dict style: "password": "value"  or 'token': 'value'.
    (
        re.compile(rf"(?P<pre>[\"']{_SECRET_KEY}[\"']\s*:\s*)(?P<q>[\"'])(?:\\.|(?!(?P=q)).)*(?P=q)", re.IGNORECASE),
        r"\g<pre>\g<q>" + REDACTED + r"\g<q>",
    ),
    # key=value / key: value (config lines, query strings, exception messages).
    (
        re.compile(
            rf"(?P<pre>\b{_SECRET_KEY}\s*[=:]\s*)(?![\"']?{re.escape(REDACTED)}[\"']?(?:[\s&,;<>)\]}}]|$))"
            r"(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s&,;\"'<>)\]}]+)",
            re.IGNORECASE,
        ),
        r"\g<pre>" + REDACTED,
    ),
    # Slack incoming-webhook URLs carry their secret in the path.
    (
        re.compile(r"(?P<pre>https://hooks\.slack(?:-gov)?\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"),
        r"\g<pre>" + REDACTED,
    ),
    # Well-known token shapes.
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"), REDACTED),  # Slack
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), REDACTED),  # GitHub
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), REDACTED),  # GitLab
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), REDACTED),  # OpenAI-style API keys
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), REDACTED),  # JWT
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), REDACTED),  # AWS key ids
    # AWS secret access keys: 40 chars of base64 with mixed case and a digit (lower-case hex hashes survive).
    (
        re.compile(
            r"(?<![A-Za-z0-9/+=])(?!/)(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[0-9])"
            r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
        ),
        REDACTED,
    ),
]


def redact(text: str) -> str:
    """Replace anything that looks like a secret with ``***``.

    Deliberately greedy: a masked harmless value costs nothing, a leaked password in a chat channel costs a
    credential rotation.
    """
    if not text:
        return text
    out = str(text)
    for pattern, replacement in _REDACTIONS:
        out = pattern.sub(replacement, out)
    return out


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (``password``, ``aws_secret_access_key``, ``api_token`` ...)."""
    return bool(_SECRET_KEY_NAME.match(str(key)))


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``values`` with secret-named keys masked and every string value passed through :func:`redact`."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if is_secret_key(key):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        elif isinstance(value, list | tuple):
            out[key] = [redact_mapping(v) if isinstance(v, Mapping) else _redact_value(v) for v in value]
        else:
            out[key] = _redact_value(value)
    return out


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def as_partition(value: Any) -> dt.date | None:
    """Coerce a partition given as date, datetime or ``YYYY-MM-DD...`` string to a ``date`` (None stays None)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ValueError(f"partition must be a date or YYYY-MM-DD, got {text!r}") from exc


@dataclass
class Alert:
    """One lifecycle event worth telling a human about.

    ``partition`` is the data partition (``data_interval_start`` date) the run worked on, or None for runs that
    are not tied to one (a manual retrain, a rollback). ``links`` maps a name to a URL (report, log, model card).
    """

    kind: str
    severity: str
    use_case: str | None
    dag_id: str
    run_id: str | None
    partition: dt.date | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    task_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}; expected one of {', '.join(SEVERITIES)}")
        self.partition = as_partition(self.partition)
        self.details = dict(self.details or {})
        self.links = {str(k): str(v) for k, v in (self.links or {}).items() if v}

    @classmethod
    def make(cls, kind: str, summary: str, *, dag_id: str, severity: str | None = None, **kwargs: Any) -> Alert:
        """Build an alert with the kind's default severity unless one is given."""
        kwargs.setdefault("use_case", None)
        kwargs.setdefault("run_id", None)
        kwargs.setdefault("partition", None)
        return cls(kind=kind, severity=severity or DEFAULT_SEVERITY[kind], dag_id=dag_id, summary=summary, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (XCom, audit files); secrets already masked."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "use_case": self.use_case,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "partition": self.partition.isoformat() if self.partition else None,
            "summary": redact(self.summary),
            "details": redact_mapping(self.details),
            "links": {k: redact(v) for k, v in self.links.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=data["kind"],
            severity=data.get("severity") or DEFAULT_SEVERITY[data["kind"]],
            use_case=data.get("use_case"),
            dag_id=data["dag_id"],
            run_id=data.get("run_id"),
            partition=data.get("partition"),
            summary=data.get("summary", ""),
            details=dict(data.get("details") or {}),
            links=dict(data.get("links") or {}),
            task_id=data.get("task_id"),
        )


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _partition_text(alert: Alert) -> str:
    return alert.partition.isoformat() if alert.partition else "none (not tied to a partition)"


def _format_value(value: Any, limit: int = 500) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={_format_value(v, 80)}" for k, v in value.items())
    elif isinstance(value, list | tuple | set):
        text = ", ".join(_format_value(v, 80) for v in value)
    else:
        text = str(value)
    return _one_line(text, limit)


def render_subject(alert: Alert) -> str:
    """One-line e-mail subject: severity, use case, what happened, where (DAG and partition).

    Always a single line (no header injection through a summary with newlines).
    """
    scope = f"{alert.use_case}: " if alert.use_case else ""
    where = alert.dag_id + (f".{alert.task_id}" if alert.task_id else "")
    partition = alert.partition.isoformat() if alert.partition else "no partition"
    subject = f"[{alert.severity.upper()}] {scope}{KIND_TITLES[alert.kind]} in {where} ({partition})"
    summary = _one_line(redact(alert.summary), 200)
    if summary:
        subject = f"{subject} - {summary}"
    return _one_line(subject, 250)


def _detail_items(alert: Alert) -> list[tuple[str, str]]:
    return [(str(k), _format_value(v)) for k, v in redact_mapping(alert.details).items()]


def render_text(alert: Alert) -> str:
    """Plain-text body (e-mail, logs): what happened, the run and partition, the details and the links."""
    lines = [
        f"{KIND_TITLES[alert.kind]} ({alert.severity.upper()})",
        "",
        f"What happened: {alert.summary.strip() or KIND_TITLES[alert.kind]}",
        "",
        f"Use case:   {alert.use_case or '-'}",
        f"DAG:        {alert.dag_id}",
        f"Run:        {alert.run_id or '-'}",
    ]
    if alert.task_id:
        lines.append(f"Task:       {alert.task_id}")
    lines.append(f"Partition:  {_partition_text(alert)}")
    lines.append(f"Kind:       {alert.kind}")
    details = _detail_items(alert)
    if details:
        lines += ["", "Details:"] + [f"  - {k}: {v}" for k, v in details]
    lines += ["", "Links:"]
    if alert.links:
        lines += [f"  - {name}: {url}" for name, url in alert.links.items()]
    else:
        lines.append("  (no report link was attached to this alert)")
    return redact("\n".join(lines)) + "\n"


def render_html(alert: Alert) -> str:
    """HTML e-mail body (the smtp provider sends HTML): the plain-text body, escaped, in a ``<pre>`` block."""
    return (
        '<html><body><pre style="font-family: monospace; white-space: pre-wrap">'
        f"{html.escape(render_text(alert), quote=False)}</pre></body></html>"
    )


def sent_alert_key(at: dt.datetime, alert_id: str) -> str:
    """Store key of the record of one sent alert: ``alerts/sent/<YYYY-MM-DD>/<timestamp>-<id>.json`` (UTC).

    The timestamp leads the file name so a listing sorts by time; it has no ``:`` so it is a valid S3 key and file.
    """
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC)
    safe_id = re.sub(r"[^A-Za-z0-9_-]", "_", str(alert_id))
    return f"alerts/sent/{at:%Y-%m-%d}/{at:%Y%m%dT%H%M%S.%f}Z-{safe_id}.json"


def _mrkdwn_escape(text: str) -> str:
    """Slack mrkdwn control characters; see Slack's 'Escaping text' guide."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(name: str, url: str) -> str:
    safe_url = url.replace(" ", "%20").replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{_mrkdwn_escape(name)}>"


_SLACK_TEXT_LIMIT = 2900  # Slack rejects section text over 3000 chars


def render_slack(alert: Alert) -> dict[str, Any]:
    """Slack-compatible incoming-webhook payload: ``text`` (notification fallback) and mrkdwn ``blocks``."""
    title = KIND_TITLES[alert.kind]
    summary = redact(alert.summary.strip() or title)
    scope = f"{alert.use_case} · " if alert.use_case else ""
    headline = f"{_SEVERITY_EMOJI[alert.severity]} *[{alert.severity.upper()}] {_mrkdwn_escape(scope + title)}*"
    fields = [
        f"*DAG:*\n`{_mrkdwn_escape(alert.dag_id)}`",
        f"*Run:*\n`{_mrkdwn_escape(alert.run_id or '-')}`",
        f"*Partition:*\n{_mrkdwn_escape(_partition_text(alert))}",
    ]
    if alert.task_id:
        fields.append(f"*Task:*\n`{_mrkdwn_escape(alert.task_id)}`")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _one_line(_mrkdwn_escape(summary), _SLACK_TEXT_LIMIT)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": redact(f)} for f in fields]},
    ]
    details = _detail_items(alert)
    if details:
        body = "\n".join(f"• *{_mrkdwn_escape(k)}:* {_mrkdwn_escape(v)}" for k, v in details)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:_SLACK_TEXT_LIMIT]}})
    if alert.links:
        links = "  |  ".join(_slack_link(name, redact(url)) for name, url in alert.links.items())
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": links[:_SLACK_TEXT_LIMIT]}})
    partition = alert.partition.isoformat() if alert.partition else "no partition"
    text = f"[{alert.severity.upper()}] {scope}{title} in {alert.dag_id} ({partition}, run {alert.run_id or '-'}): "
    text = _one_line(text + summary, _SLACK_TEXT_LIMIT)
    return {"text": _mrkdwn_escape(redact(text)), "blocks": blocks}
