"""Alert delivery on the smtp/http providers against real receivers: an aiosmtpd SMTP server and an HTTP webhook.

Connections come from ``AIRFLOW_CONN_*`` environment variables, the way a plain process (or a worker without a
metadata DB) sees them; the last test runs a real DAG with ``dag.test()`` so the same code is exercised inside a
running task and in its ``on_failure_callback``. Every alert is also recorded in the artifact store.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from include.lifecycle.alerts import Alert
from include.lifecycle.store import open_store
from lifecycle_ops.alerting import NOT_CONFIGURED, SENT, send_alert
from lifecycle_ops.notifiers import approval_pending_notifier
from tests.integration.receivers import SmtpReceiver, WebhookReceiver, conn_env_var, dead_port

SMTP_LOGIN = "alerts"
SMTP_PASSWORD = "smtp-pw-Zq81x"  # must never show up in a message or a log line
WEBHOOK_SECRET_PATH = "/services/T0001/B0002/hookSecret42"
REPORT = "http://localhost:8080/reports/validation/churn/date=2024-03-05/report.html"


@pytest.fixture(autouse=True)
def artifacts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The store the sent-alert records go to (never the project's own .artifacts)."""
    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    return open_store(str(tmp_path / "artifacts"))


def _records(store) -> list[dict]:
    return [store.read_json(key) for key in store.list("alerts/sent/")]


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver(login=SMTP_LOGIN, password=SMTP_PASSWORD) as receiver:
        yield receiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: dict | str) -> None:
    monkeypatch.setenv(conn_env_var(conn_id), value if isinstance(value, str) else json.dumps(value))


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch, smtp: SmtpReceiver, hook: WebhookReceiver):
    """Both default connections point at live receivers; recipients come from the Airflow Variable."""
    _set_conn(monkeypatch, "smtp_default", smtp.connection(from_email="lifecycle@example.com"))
    _set_conn(monkeypatch, "alerts_webhook", hook.connection(endpoint=WEBHOOK_SECRET_PATH))
    monkeypatch.setenv("AIRFLOW_VAR_ALERT_RECIPIENTS", '["ops@example.com", "ds@example.com"]')
    return smtp, hook


def _alert(kind: str = "batch_quarantined", **overrides) -> Alert:
    base = dict(
        use_case="churn",
        dag_id="data_acquisition",
        run_id="scheduled__2024-03-05T00:00:00+00:00",
        partition="2024-03-05",
        task_id="validate_batch",
        details={"rows_quarantined": 312},
        links={"validation report": REPORT},
    )
    base.update(overrides)
    return Alert.make(kind, "312 of 1,204 rows quarantined", **base)


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SMTP_PASSWORD not in text
        assert "hookSecret42" not in text


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------------------------------------ happy path


def test_send_alert_delivers_mail_and_slack_payload(wired, artifacts, caplog: pytest.LogCaptureFixture) -> None:
    smtp, hook = wired
    caplog.set_level(logging.DEBUG)

    assert send_alert(_alert()) == {"email": SENT, "webhook": SENT}

    (mail,) = smtp.wait_for(1)
    assert mail.auth_login == SMTP_LOGIN and smtp.auth_attempts == [(SMTP_LOGIN, True)]
    assert mail.mail_from == "lifecycle@example.com"
    assert mail.rcpt_tos == ["ops@example.com", "ds@example.com"]
    assert mail.subject.startswith("[WARNING] churn: Batch quarantined in data_acquisition.validate_batch (2024-03-05)")
    assert mail.message["X-Airflow-Run-Id"] == "scheduled__2024-03-05T00:00:00+00:00"
    assert mail.message["X-Lifecycle-Alert-Kind"] == "batch_quarantined"
    assert mail.message["X-Lifecycle-Severity"] == "warning"
    for expected in (
        "DAG:        data_acquisition",
        "Run:        scheduled__2024-03-05T00:00:00+00:00",
        "Partition:  2024-03-05",
        f"validation report: {REPORT}",
        "rows_quarantined: 312",
    ):
        assert expected in mail.body

    (req,) = hook.wait_for(1)
    assert req.path == WEBHOOK_SECRET_PATH
    assert req.headers["Content-Type"] == "application/json"
    payload = req.json()
    assert "Batch quarantined in data_acquisition (2024-03-05" in payload["text"]
    assert [b["type"] for b in payload["blocks"]][:3] == ["section", "section", "section"]
    assert any(f"<{REPORT}|validation report>" in b.get("text", {}).get("text", "") for b in payload["blocks"])

    assert "endpoint" not in {k.lower() for k in req.headers}  # our extra, not a header

    (record,) = _records(artifacts)
    assert record["alert"]["summary"] == "312 of 1,204 rows quarantined" and record["subject"] == mail.subject
    assert record["channels"]["email"] == {"connection": "smtp_default", "to": mail.rcpt_tos, "result": SENT}
    assert record["channels"]["webhook"] == {"connection": "alerts_webhook", "target": hook.url, "result": SENT}
    assert set(artifacts.list("alerts/sent/")) == {f"alerts/sent/{record['sent_at'][:10]}/" + artifacts.list(
        "alerts/sent/")[0].rsplit("/", 1)[1]}

    _assert_no_secret(mail.raw.decode(), req.body.decode(), caplog.text, json.dumps(record))
    assert not _errors(caplog)


def test_connections_given_as_uris_and_explicit_recipients(monkeypatch, smtp, hook) -> None:
    """URI form as the http provider reads it: the URI path is the scheme, the webhook path is the extra ``endpoint``."""
    pw = quote(SMTP_PASSWORD, safe="")
    _set_conn(
        monkeypatch,
        "smtp_default",
        f"smtp://{SMTP_LOGIN}:{pw}@127.0.0.1:{smtp.port}?disable_ssl=true&disable_tls=true&from_email=uri%40example.com",
    )
    _set_conn(monkeypatch, "alerts_webhook", f"http://127.0.0.1:{hook.port}/http?endpoint={quote('/hooks/alerts', safe='')}")
    monkeypatch.delenv("AIRFLOW_VAR_ALERT_RECIPIENTS", raising=False)

    result = send_alert(_alert(kind="promoted", severity="info"), to="sme@example.com; lead@example.com")

    assert result == {"email": SENT, "webhook": SENT}
    (mail,) = smtp.wait_for(1)
    assert mail.mail_from == "uri@example.com" and mail.rcpt_tos == ["sme@example.com", "lead@example.com"]
    assert mail.subject.startswith("[INFO] churn: Model promoted")
    assert hook.wait_for(1)[0].path == "/hooks/alerts"


# ------------------------------------------------------------------------------------------ failures


def test_dead_smtp_server_fails_only_the_email_channel(wired, monkeypatch, caplog, artifacts) -> None:
    smtp, hook = wired
    conn = smtp.connection()
    conn["port"] = dead_port()
    _set_conn(monkeypatch, "smtp_default", conn)

    result = send_alert(_alert())  # must not raise

    assert result["webhook"] == SENT and len(hook.wait_for(1)) == 1
    assert result["email"].startswith("failed: ConnectionRefusedError")
    errors = _errors(caplog)
    assert len(errors) == 1 and "channel email" in errors[0] and "ConnectionRefusedError" in errors[0]
    _assert_no_secret(caplog.text, result["email"])
    (record,) = _records(artifacts)
    assert record["channels"]["email"]["result"] == result["email"]  # the console shows the failure too


@pytest.mark.parametrize(
    ("receiver_kwargs", "extra", "reason"),
    [({"status": 503}, {}, "answered HTTP 503"), ({"delay": 3.0}, {"timeout": 0.3}, "timeout after 0.3s")],
    ids=["http-503", "timeout"],
)
def test_broken_webhook_fails_only_the_webhook_channel(wired, monkeypatch, caplog, receiver_kwargs, extra, reason):
    smtp, _ = wired
    with WebhookReceiver(**receiver_kwargs) as broken:
        _set_conn(monkeypatch, "alerts_webhook", broken.connection(endpoint=WEBHOOK_SECRET_PATH, **extra))
        started = time.monotonic()
        result = send_alert(_alert())
        elapsed = time.monotonic() - started

    assert result["email"] == SENT and len(smtp.wait_for(1)) == 1
    assert result["webhook"].startswith("failed: ") and reason in result["webhook"]
    assert elapsed < 2.5  # a hanging receiver must not hold the task
    errors = _errors(caplog)
    assert len(errors) == 1 and "channel webhook" in errors[0] and reason in errors[0]
    assert f"http://127.0.0.1:{broken.port}" in errors[0]  # says where, without the secret path
    _assert_no_secret(caplog.text, result["webhook"])


def test_refused_webhook_connection(wired, monkeypatch, caplog) -> None:
    _set_conn(
        monkeypatch,
        "alerts_webhook",
        {"conn_type": "http", "host": "127.0.0.1", "port": dead_port(), "extra": {"endpoint": WEBHOOK_SECRET_PATH}},
    )
    result = send_alert(_alert())
    assert result["email"] == SENT
    assert result["webhook"].startswith("failed: cannot connect to http://127.0.0.1:")
    assert "ConnectionRefusedError" in result["webhook"]
    assert any("channel webhook" in e for e in _errors(caplog))
    _assert_no_secret(caplog.text, result["webhook"])


def test_wrong_smtp_password_is_a_failure_without_echoing_credentials(wired, monkeypatch, caplog) -> None:
    smtp, _ = wired
    conn = smtp.connection()
    conn["password"] = "wrong-pw-Kx77"
    _set_conn(monkeypatch, "smtp_default", conn)

    result = send_alert(_alert())

    assert result["email"].startswith("failed: SMTP authentication failed (code 535)")
    assert smtp.auth_attempts and all(attempt == (SMTP_LOGIN, False) for attempt in smtp.auth_attempts)
    assert smtp.messages == []
    assert "wrong-pw-Kx77" not in caplog.text


def test_missing_connections_are_not_configured_not_errors(monkeypatch, caplog, artifacts) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_ALERTS_WEBHOOK", raising=False)
    caplog.set_level(logging.WARNING)

    assert send_alert(_alert()) == {"email": NOT_CONFIGURED, "webhook": NOT_CONFIGURED}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("channel email not configured" in w for w in warnings)
    assert any("channel webhook not configured" in w for w in warnings)
    assert not _errors(caplog)
    assert [r["channels"]["email"]["result"] for r in _records(artifacts)] == [NOT_CONFIGURED]


def test_an_unwritable_store_does_not_stop_the_alert(wired, monkeypatch, tmp_path, caplog) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(blocker))
    assert send_alert(_alert()) == {"email": SENT, "webhook": SENT}
    assert any("was not recorded" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert not _errors(caplog)


def _approval_context(op, run_id: str = "manual__2024-03-05T10:00:00+00:00") -> dict:
    ti = SimpleNamespace(dag_id="model_training", run_id=run_id, task_id=op.task_id, map_index=-1, try_number=1,
                         log_url=None)
    return {"task": op, "ti": ti, "task_instance": ti, "run_id": run_id, "params": {"use_case": "churn"},
            "dag_run": SimpleNamespace(conf={}, dag_id="model_training", run_id=run_id)}


def test_approval_pending_notifier_tells_who_must_answer_and_links_the_request(wired) -> None:
    """The notifier a HITL operator runs before it parks: assigned users, deadline, Required Actions link."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    smtp, hook = wired
    sme_approval = ApprovalOperator(task_id="sme_approval", subject="[churn] Promote model churn v3?",
                                    assigned_users=[{"id": "sme_alice", "name": "sme_alice"}], response_timeout=timedelta(hours=72))
    notifier = approval_pending_notifier(details={"version": "{{ params.use_case }}-v3"})
    notifier(_approval_context(sme_approval))

    assert notifier.last_result == {"email": SENT, "webhook": SENT}
    (mail,) = smtp.wait_for(1)
    assert mail.subject.startswith("[INFO] churn: Approval pending in model_training.sme_approval (no partition)")
    assert "[churn] Promote model churn v3?: waiting for sme_alice" in mail.subject
    assert "assigned: sme_alice" in mail.body and "version: churn-v3" in mail.body  # templated detail
    assert "/dags/model_training/runs/manual__2024-03-05T10:00:00+00:00/tasks/sme_approval/required_actions" in mail.body
    assert notifier.details == {"version": "{{ params.use_case }}-v3"}  # template restored for the next run
    assert hook.wait_for(1)[0].json()["text"].startswith("[INFO] churn · Approval pending in model_training")


def test_a_notifier_never_raises_into_the_gate(monkeypatch, caplog) -> None:
    """Dead receivers and a broken template: the HITL task must still park, so the notifier only logs."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    _set_conn(monkeypatch, "smtp_default", {"conn_type": "smtp", "host": "127.0.0.1", "port": dead_port(),
                                            "extra": {"disable_ssl": True, "disable_tls": True}})
    _set_conn(monkeypatch, "alerts_webhook", {"conn_type": "http", "host": "127.0.0.1", "port": dead_port()})
    monkeypatch.setenv("AIRFLOW_VAR_ALERT_RECIPIENTS", "ops@example.com")
    sme_approval = ApprovalOperator(task_id="sme_approval", subject="Promote?")
    notifier = approval_pending_notifier()
    notifier(_approval_context(sme_approval))  # must not raise
    assert all(v.startswith("failed: ") for v in notifier.last_result.values())
    broken = approval_pending_notifier(summary="{{ no_such_var.attr }}")
    broken(_approval_context(sme_approval))  # rendering error: logged, not raised
    assert any("ALERT NOT SENT" in e for e in _errors(caplog))


def test_email_without_recipients_is_not_configured(wired, monkeypatch) -> None:
    smtp, hook = wired
    monkeypatch.delenv("AIRFLOW_VAR_ALERT_RECIPIENTS")
    assert send_alert(_alert()) == {"email": NOT_CONFIGURED, "webhook": SENT}
    assert smtp.messages == []


# ------------------------------------------------------------------------------------------ inside Airflow

PROBE_DAG = """
from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from lifecycle_ops.alerting import notify
from lifecycle_ops.notifiers import LifecycleNotifier, on_failure_notifier


@dag(
    schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
    params={"use_case": "churn"},
    default_args={"owner": "devops", "retries": 0, "on_failure_callback": on_failure_notifier()},
    on_failure_callback=LifecycleNotifier(summary="Run of {{ dag.dag_id }} for {{ ds }} failed"),
)
def alert_probe():
    @task
    def quarantine() -> dict:
        return notify(get_current_context(), "batch_quarantined", "12 rows quarantined",
                      links={"quarantine report": "http://reports/q.html"})

    @task
    def boom() -> None:
        raise ValueError("cannot reach postgresql://etl:db-Pw-313@warehouse/etl")

    quarantine() >> boom()


probe_dag = alert_probe()
"""


@pytest.fixture(scope="module")
def metadata_db() -> None:
    from airflow.utils import db

    db.initdb()


@pytest.mark.e2e  # ~20 s (metadata DB + first dag.test in the process): kept out of the fast set
def test_alerts_from_a_running_dag(metadata_db, wired, monkeypatch, tmp_path: Path, artifacts) -> None:
    """A task alerts with notify; a failing task and the failed run alert through the notifiers.

    The webhook is dead for this run: the quarantine task must still succeed, and mail still arrives.
    """
    smtp, _ = wired
    _set_conn(monkeypatch, "alerts_webhook", {"conn_type": "http", "host": "127.0.0.1", "port": dead_port()})
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alert_probe.py").write_text(textwrap.dedent(PROBE_DAG))
    from airflow import settings

    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))  # the default bundle reads it; parse only our file
    monkeypatch.syspath_prepend(str(dags))

    import importlib

    import pendulum

    probe = importlib.import_module("alert_probe")
    run = probe.probe_dag.test(logical_date=pendulum.datetime(2024, 3, 5, tz="UTC"))

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"quarantine": "success", "boom": "failed"}
    mails = sorted(smtp.wait_for(3), key=lambda m: m.subject)
    subjects = [m.subject for m in mails]
    # The DAG-level callback context carries the failing task too, so its alert names it as well.
    assert subjects[0].startswith("[CRITICAL] churn: Task failed in alert_probe.boom (2024-03-05) - Run of alert_probe")
    assert subjects[0].endswith("for 2024-03-05 failed")  # templated summary of the DAG-level notifier
    assert subjects[1].startswith("[CRITICAL] churn: Task failed in alert_probe.boom (2024-03-05) - Task boom failed")
    assert (
        subjects[2] == "[WARNING] churn: Batch quarantined in alert_probe.quarantine (2024-03-05) - 12 rows quarantined"
    )
    failed = mails[1]
    assert "What happened: Task boom failed: ValueError: cannot reach postgresql://etl:***@warehouse/etl" in failed.body
    assert f"Run:        {run.run_id}" in failed.body and "Partition:  2024-03-05" in failed.body
    assert (
        f"task log: http://localhost:8080/dags/alert_probe/runs/{quote(run.run_id, safe='')}/tasks/boom" in failed.body
    )
    assert "quarantine report: http://reports/q.html" in mails[2].body
    assert all("db-Pw-313" not in m.raw.decode() and SMTP_PASSWORD not in m.raw.decode() for m in mails)
    records = _records(artifacts)
    assert sorted(r["subject"] for r in records) == subjects
    assert all(r["channels"]["webhook"]["result"].startswith("failed: cannot connect") for r in records)
