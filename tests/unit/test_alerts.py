"""Alert message building: what a person on call reads in the mail / chat, and what must never be in it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from include.lifecycle.alerts import (
    DEFAULT_SEVERITY,
    KIND_TITLES,
    KINDS,
    Alert,
    redact,
    redact_mapping,
    render_html,
    render_slack,
    render_subject,
    render_text,
    sent_alert_key,
)

ROOT = Path(__file__).resolve().parents[2]
REPORT = "https://airflow.example.com/reports/validation/churn/date=2024-03-05/report.html"


def _alert(**overrides) -> Alert:
    base = dict(
        kind="batch_quarantined",
        severity="warning",
        use_case="churn",
        dag_id="data_acquisition",
        run_id="scheduled__2024-03-05T00:00:00+00:00",
        partition=dt.date(2024, 3, 5),
        summary="312 of 1,204 rows quarantined: monthly_charges out of range",
        details={"rows_quarantined": 312, "rows_accepted": 892, "share": 0.259136},
        links={"validation report": REPORT},
        task_id="validate_batch",
    )
    base.update(overrides)
    return Alert(**base)


# ------------------------------------------------------------------------------------------ the model


def test_every_kind_has_a_default_severity_and_builds() -> None:
    assert set(DEFAULT_SEVERITY) == set(KINDS) == set(KIND_TITLES)
    for kind in KINDS:
        alert = Alert.make(kind, "something happened", dag_id="d")
        assert alert.severity == DEFAULT_SEVERITY[kind]
    assert Alert.make("task_failed", "x", dag_id="d").severity == "critical"
    assert DEFAULT_SEVERITY["performance_breach"] == "critical"
    assert DEFAULT_SEVERITY["promotion_refused"] == "critical"  # it fails the run: the evidence changed
    assert Alert.make("drift_detected", "x", dag_id="d", severity="critical").severity == "critical"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "model_exploded", "unknown alert kind"),
        ("severity", "fatal", "unknown severity"),
        ("partition", "March 5th", "partition must be a date"),
    ],
)
def test_invalid_alerts_are_refused(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _alert(**{field: value})


def test_partition_accepts_dates_datetimes_and_iso_strings() -> None:
    assert _alert(partition="2024-03-05").partition == dt.date(2024, 3, 5)
    assert _alert(partition="2024-03-05T00:00:00+00:00").partition == dt.date(2024, 3, 5)
    assert _alert(partition=dt.datetime(2024, 3, 5, 23, 59)).partition == dt.date(2024, 3, 5)
    assert _alert(partition=None).partition is None


def test_to_dict_round_trips_and_masks_secrets() -> None:
    alert = _alert(details={"rows": 3, "password": "hunter2"})
    data = alert.to_dict()
    json.dumps(data)  # XCom-able
    assert data["partition"] == "2024-03-05"
    assert data["details"]["password"] == "***"
    back = Alert.from_dict(data)
    assert (back.kind, back.partition, back.run_id, back.links) == (
        alert.kind,
        alert.partition,
        alert.run_id,
        alert.links,
    )


# ------------------------------------------------------------------------------------------ rendering


def test_subject_says_severity_what_and_where_on_one_line() -> None:
    subject = render_subject(_alert(summary="line one\r\nBcc: attacker@example.com"))
    assert subject.startswith("[WARNING] churn: Batch quarantined in data_acquisition.validate_batch (2024-03-05)")
    assert "\n" not in subject and "\r" not in subject  # no header injection through the summary
    assert len(subject) <= 250
    assert "(no partition)" in render_subject(_alert(partition=None, task_id=None))


def test_text_body_names_run_partition_details_and_report_link() -> None:
    body = render_text(_alert())
    assert "What happened: 312 of 1,204 rows quarantined" in body
    assert "DAG:        data_acquisition" in body
    assert "Run:        scheduled__2024-03-05T00:00:00+00:00" in body
    assert "Partition:  2024-03-05" in body
    assert "Task:       validate_batch" in body
    assert "rows_quarantined: 312" in body and "share: 0.2591" in body
    assert f"validation report: {REPORT}" in body


def test_text_body_is_honest_about_missing_partition_and_links() -> None:
    body = render_text(_alert(partition=None, links={}))
    assert "Partition:  none (not tied to a partition)" in body
    assert "no report link was attached" in body


def test_html_body_is_the_text_body_escaped() -> None:
    alert = _alert(summary="score < 0.7 & <script>alert(1)</script>")
    body = render_html(alert)
    assert "<script>" not in body and "score &lt; 0.7 &amp; &lt;script&gt;" in body
    import html

    assert html.unescape(body.split(">", 3)[3].rsplit("</pre>", 1)[0]) == render_text(alert)


def test_sent_alert_key_sorts_by_time_and_is_a_safe_key() -> None:
    at = dt.datetime(2024, 3, 5, 23, 59, 58, 123456, tzinfo=dt.UTC)
    assert sent_alert_key(at, "abc123") == "alerts/sent/2024-03-05/20240305T235958.123456Z-abc123.json"
    later = sent_alert_key(at + dt.timedelta(seconds=3), "000")
    assert later.startswith("alerts/sent/2024-03-06/") and ":" not in later
    tz = dt.timezone(dt.timedelta(hours=2))
    assert sent_alert_key(dt.datetime(2024, 3, 6, 1, 0, tzinfo=tz), "x/../y").endswith("2024-03-05/20240305T230000.000000Z-x____y.json")


def test_slack_payload_shape() -> None:
    payload = render_slack(_alert())
    json.dumps(payload)
    assert payload["text"].startswith("[WARNING] churn · Batch quarantined in data_acquisition (2024-03-05, run ")
    assert all(block["type"] == "section" for block in payload["blocks"])
    texts = [b["text"]["text"] for b in payload["blocks"] if "text" in b]
    fields = [f["text"] for b in payload["blocks"] for f in b.get("fields", [])]
    assert all(b["text"]["type"] == "mrkdwn" for b in payload["blocks"] if "text" in b)
    assert all(f["type"] == "mrkdwn" for b in payload["blocks"] for f in b.get("fields", []))
    assert "*DAG:*\n`data_acquisition`" in fields
    assert "*Partition:*\n2024-03-05" in fields
    assert f"<{REPORT}|validation report>" in texts[-1]


def test_slack_escapes_control_characters_and_respects_size_limits() -> None:
    payload = render_slack(
        _alert(summary="score < 0.7 & drift > 0.3", details={f"col_{i}": "x" * 400 for i in range(40)})
    )
    assert "score &lt; 0.7 &amp; drift &gt; 0.3" in payload["blocks"][1]["text"]["text"]
    for block in payload["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000  # Slack rejects longer section text
        assert len(block.get("fields", [])) <= 10


def test_secrets_never_reach_any_rendering() -> None:
    alert = _alert(
        summary="load failed: postgresql://airflow:pg-Secret-771@db:5432/airflow password=hunter2",
        details={
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "api_token": "tok-123",
            "conn": "s3 key AKIAIOSFODNN7EXAMPLE",
        },
        links={"report": "https://user:link-pw-99@reports.example.com/r.html"},
    )
    rendered = (
        render_subject(alert) + render_text(alert) + json.dumps(render_slack(alert)) + json.dumps(alert.to_dict())
    )
    for secret in ("pg-Secret-771", "hunter2", "wJalrXUtnFEMI", "tok-123", "AKIAIOSFODNN7EXAMPLE", "link-pw-99"):
        assert secret not in rendered
    assert "postgresql://airflow:***@db:5432/airflow" in rendered  # still says where it failed


# ------------------------------------------------------------------------------------------ redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 ok", "password=*** ok"),
        ('PASSWORD = "hunter two" then', "PASSWORD = *** then"),
        ("smtp_password: s3cr3t", "smtp_password: ***"),
        ('{"api_token": "zzz", "rows": 1}', '{"api_token": "***", "rows": 1}'),
        ("redis://:redis-pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("https://bob:pw@host/x", "https://bob:***@host/x"),
        ("Authorization: Bearer eyJhbGciOi.x1", "Authorization: *** ***"),
        ("curl -H 'Bearer abc123def456'", "curl -H 'Bearer ***'"),
        ("key AKIAIOSFODNN7EXAMPLE end", "key *** end"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_ACCESS_KEY=***"),
        ("hook https://hooks.slack.com/services/T0001/B0002/abcdefXYZ123", "hook https://hooks.slack.com/***"),
        ("token xoxb-123456789012-abcdefghijkl", "token ***"),
        ("https://s3/x?X-Amz-Signature=abcd1234&y=1", "https://s3/x?X-Amz-Signature=***&y=1"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "***"),
    ],
)
def test_redact_masks_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Basic checks passed for 1,204 rows",
        "author: bob; token count: 5; max_tokens=10",
        "model sha 0123456789abcdef0123456789abcdef01234567 promoted",
        "s3://lifecycle/validation/churn/date=2024-03-05/report.html",
        "scheduled__2024-03-05T00:00:00+00:00",
        "http://localhost:8080/dags/data_acquisition/runs/manual__2024-03-05T00%3A00%3A00%2B00%3A00",
        "password=*** already masked",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_mapping_masks_secret_keys_recursively() -> None:
    out = redact_mapping(
        {
            "login": "bob",
            "password": "p",
            "nested": {"client_secret": "c", "rows": 5},
            "list": ["token=abc123", {"private_key": "k"}],
        }
    )
    assert out == {
        "login": "bob",
        "password": "***",
        "nested": {"client_secret": "***", "rows": 5},
        "list": ["token=***", {"private_key": "***"}],
    }


def test_alerts_module_does_not_import_airflow() -> None:
    code = (
        "import sys, include.lifecycle.alerts; "
        "bad = [m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')]; "
        "sys.exit('imports ' + ', '.join(bad) if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------ from a task context


def _context(**overrides) -> dict:
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="model_monitoring", run_id="scheduled__2024-03-05T06:00:00+00:00", task_id="monitor",
                         try_number=1, log_url="http://localhost:8080/dags/model_monitoring/runs/r/tasks/monitor")
    base = {"ti": ti, "run_id": ti.run_id, "params": {"use_case": "churn"},
            "dag_run": SimpleNamespace(conf={}, run_id=ti.run_id, dag_id=ti.dag_id),
            "data_interval_start": dt.datetime(2024, 3, 5, 6, tzinfo=dt.UTC)}
    base.update(overrides)
    return base


def test_alert_from_context_fills_run_partition_links_and_default_severity() -> None:
    from lifecycle_ops.alerting import alert_from_context

    alert = alert_from_context(_context(), "performance_breach", "roc_auc 0.61 < 0.70")
    assert alert.severity == "critical" and alert.use_case == "churn"
    assert (alert.dag_id, alert.task_id, alert.partition) == ("model_monitoring", "monitor", dt.date(2024, 3, 5))
    assert set(alert.links) == {"task log", "dag run", "drift report", "monitoring charts", "console alerts"}
    assert alert.links["drift report"].endswith("/lifecycle/uc/churn/monitoring/2024-03-05/report.html")
    assert alert_from_context(_context(), "drift_detected", "x", severity="critical").severity == "critical"


@pytest.mark.parametrize(("kind", "details", "expected"), [
    ("batch_quarantined", {}, "/lifecycle/uc/churn/data/2024-03-05/report.html"),
    ("approval_pending", {"version": 3}, "/lifecycle/uc/churn/models/3"),
    ("promoted", {"version": 3}, "/lifecycle/uc/churn/models/3/evaluation"),
])
def test_every_alert_links_to_its_console_page(kind, details, expected) -> None:
    from airflow.configuration import conf

    from lifecycle_ops.alerting import alert_from_context

    alert = alert_from_context(_context(), kind, "x", details=details)
    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    assert f"{base}{expected}" in alert.links.values()
    assert alert.links["console alerts"] == f"{base}/lifecycle/alerts"


@pytest.mark.parametrize(
    ("overrides", "partition", "expected"),
    [
        ({"params": {"partition_date": "2024-02-01"}}, None, dt.date(2024, 2, 1)),
        ({"partition_key": "not-a-date", "data_interval_start": None}, None, None),
        ({"partition_key": "2024-01-09", "data_interval_start": None}, None, dt.date(2024, 1, 9)),
        ({}, "2024-04-30", dt.date(2024, 4, 30)),
    ],
    ids=["param", "odd-partition-key", "date-partition-key", "explicit"],
)
def test_alert_partition_comes_from_the_context_unless_given(overrides, partition, expected) -> None:
    from lifecycle_ops.alerting import alert_from_context

    assert alert_from_context(_context(**overrides), "drift_detected", "x", partition=partition).partition == expected


def test_notify_never_raises_on_a_bad_alert(caplog) -> None:
    from lifecycle_ops.alerting import notify

    result = notify(_context(), "model_exploded", "x")
    assert result == {c: "failed: could not build alert (ValueError)" for c in ("email", "webhook")}
    assert any("ALERT NOT BUILT" in r.getMessage() for r in caplog.records)
