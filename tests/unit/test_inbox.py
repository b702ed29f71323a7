"""The local alert inbox's files: one atomic, readable JSON record per received alert, listed newest first."""

from __future__ import annotations

import json
import stat
from email.message import EmailMessage

from include.lifecycle.inbox import email_record, html_to_text, inbox_folder, read_inbox, webhook_record, write_record


def test_write_record_is_one_readable_json_file_named_by_arrival(tmp_path) -> None:
    folder = tmp_path / "inbox"
    path = write_record(folder, {"channel": "email", "received_at": "2024-03-05T10:11:12.000123+00:00", "n": 1})
    assert path.parent == folder and path.name.startswith("20240305T101112.000123Z-email-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads(path.read_text()) == {"channel": "email", "received_at": "2024-03-05T10:11:12.000123+00:00",
                                            "n": 1}
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temp file left behind


def test_write_record_fills_received_at_and_cleans_the_channel_name(tmp_path) -> None:
    path = write_record(tmp_path, {"channel": "Web/Hook"})
    data = json.loads(path.read_text())
    assert data["received_at"] and "-web_hook-" in path.name


def test_read_inbox_lists_newest_first_and_skips_what_is_not_a_record(tmp_path) -> None:
    for i in range(5):
        write_record(tmp_path, {"channel": "webhook", "received_at": f"2024-03-0{i + 1}T00:00:00+00:00", "i": i})
    (tmp_path / "zz-broken.json").write_text("{not json")
    (tmp_path / ".20991231T000000.000000Z-email-x.json").write_text("{}")  # hidden: a write in progress
    (tmp_path / "notes.txt").write_text("hello")
    records = read_inbox(tmp_path, limit=3)
    assert [r["i"] for r in records] == [4, 3, 2]
    assert all(r["file"].endswith(".json") for r in records)
    assert read_inbox(tmp_path / "missing") == []


def test_email_record_keeps_what_a_person_reads(tmp_path) -> None:
    msg = EmailMessage()
    msg["Subject"] = "[CRITICAL] churn: Task failed in model_training.train"
    msg["From"] = "lifecycle@example.com"
    msg["To"] = "ops@example.com"
    msg["X-Lifecycle-Alert-Kind"] = "task_failed"
    msg["X-Airflow-Run-Id"] = "manual__1"
    msg.set_content("<html><body><pre>What happened: a &lt; b</pre></body></html>", subtype="html")
    record = email_record(msg.as_bytes(), "lifecycle@example.com", ["ops@example.com"], received_at="2024-03-05")
    assert record["channel"] == "email" and record["to"] == ["ops@example.com"]
    assert record["subject"] == "[CRITICAL] churn: Task failed in model_training.train"
    assert record["text"].strip() == "What happened: a < b"
    assert record["headers"]["X-Lifecycle-Alert-Kind"] == "task_failed"
    assert record["headers"]["X-Airflow-Run-Id"] == "manual__1"
    assert "X-Lifecycle-Severity" not in record["headers"]


def test_webhook_record_parses_json_and_keeps_other_bodies_as_text() -> None:
    assert webhook_record("/hooks/lifecycle", "application/json", b'{"text": "hi"}')["payload"] == {"text": "hi"}
    record = webhook_record("/x", "text/plain", b"plain words")
    assert record["body"] == "plain words" and "payload" not in record


def test_inbox_folder_and_html_to_text() -> None:
    assert str(inbox_folder("/opt/airflow")) == "/opt/airflow/alerts/inbox"
    assert html_to_text("<p>a &amp; b</p><pre>x\n y</pre>") == "a & bx\n y"
