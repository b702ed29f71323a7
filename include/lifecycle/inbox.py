"""The local alert inbox: one JSON file per alert the embedded platform's own receivers got.

Pure library (no Airflow, no network). ``scripts/alert_inbox.py`` (an SMTP and a webhook receiver on 127.0.0.1)
turns what arrives into records with :func:`email_record` / :func:`webhook_record` and stores them with
:func:`write_record`; a console page, a test or a person with ``ls`` reads them back with :func:`read_inbox`.

Files are named ``<received_at>-<channel>-<id>.json`` so the name sorts by arrival, written atomically (a reader
never sees half a record) and world-readable (0644): the inbox is for reading, and holds no secrets.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

# The headers our alert mails carry (lifecycle_ops.alert_channels) plus the usual ones worth showing.
MAIL_HEADERS = ("X-Lifecycle-Alert-Kind", "X-Lifecycle-Severity", "X-Airflow-Dag-Id", "X-Airflow-Run-Id", "From",
                "To", "Date", "Message-ID")
FILE_MODE = 0o644


def inbox_folder(airflow_home: str | os.PathLike[str]) -> Path:
    """Where the embedded platform's inbox lives: ``<AIRFLOW_HOME>/alerts/inbox``."""
    return Path(airflow_home) / "alerts" / "inbox"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _stamp(received_at: str) -> str:
    """``2024-03-05T10:11:12.000123+00:00`` -> ``20240305T101112.000123Z`` (sortable, safe in a file name)."""
    try:
        at = dt.datetime.fromisoformat(received_at).astimezone(dt.UTC)
    except ValueError:
        at = dt.datetime.now(dt.UTC)
    return f"{at:%Y%m%dT%H%M%S.%f}Z"


def write_record(folder: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Store one received alert as a JSON file in ``folder``; returns its path.

    ``received_at`` is filled in when missing. The file appears complete or not at all (temp file + rename).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = {**record, "received_at": record.get("received_at") or _now()}
    channel = re.sub(r"[^a-z0-9_-]", "_", str(data.get("channel") or "unknown").lower())
    path = folder / f"{_stamp(data['received_at'])}-{channel}-{uuid.uuid4().hex[:12]}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")  # hidden: read_inbox skips it
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_inbox(folder: str | os.PathLike[str], limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` records, newest first; each carries its ``file`` name. Unreadable files are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.glob("*.json") if not p.name.startswith(".")), reverse=True)
    out: list[dict[str, Any]] = []
    for name in names:
        if len(out) >= limit:
            break
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # removed meanwhile, or edited by hand: not a record
            continue
        if isinstance(data, dict):
            out.append({**data, "file": name})
    return out


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The text of an HTML body (our alert mails are a ``<pre>`` block, so this is the plain-text body)."""
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def email_record(raw: bytes, mail_from: str | None, rcpt_tos: Iterable[str],
                 received_at: str | None = None) -> dict[str, Any]:
    """What a person wants to see of one received mail: envelope, subject, text body and the alert headers."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = ""
    part = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    if part is not None:
        content = part.get_content()
        text = html_to_text(content) if part.get_content_subtype() == "html" else content
    headers = {name: str(message[name]) for name in MAIL_HEADERS if message[name] is not None}
    return {"channel": "email", "received_at": received_at or _now(), "from": mail_from, "to": list(rcpt_tos),
            "subject": str(message["Subject"] or ""), "text": text, "headers": headers}


def webhook_record(path: str, content_type: str | None, body: bytes,
                   received_at: str | None = None) -> dict[str, Any]:
    """One webhook POST: its path and JSON payload (the raw text when the body is not JSON)."""
    record: dict[str, Any] = {"channel": "webhook", "received_at": received_at or _now(), "path": path,
                              "content_type": content_type}
    text = body.decode("utf-8", errors="replace")
    try:
        record["payload"] = json.loads(text)
    except ValueError:
        record["body"] = text
    return record
