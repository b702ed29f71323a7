"""The embedded platform's local alert inbox, for real: its own process group, alerts sent through
``send_alert`` to the connections ``airflow_settings.yaml`` gives, one JSON file per alert, stopped by ``stop``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from include.lifecycle.alerts import Alert, render_slack, render_subject, render_text
from include.lifecycle.inbox import read_inbox
from lifecycle_ops.alerting import SENT, send_alert
from scripts import alert_inbox
from scripts.apply_settings import import_files, parse_settings
from scripts.lifecycle_platform import INBOX, Platform, free_port, port_in_use
from scripts.production import production_platform
from tests.integration.receivers import conn_env_var

ROOT = Path(__file__).resolve().parents[2]
ALERT_VARS = ("ALERT_SMTP_HOST", "ALERT_SMTP_PORT", "ALERT_WEBHOOK_URL", "ALERT_INBOX_SMTP_PORT",
              "ALERT_INBOX_WEBHOOK_PORT")


@pytest.fixture
def no_alert_env(monkeypatch):
    for var in ALERT_VARS:
        monkeypatch.delenv(var, raising=False)


def _wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def inbox(no_alert_env, tmp_path):
    plat = Platform(home=tmp_path / "home", port=free_port())
    assert INBOX in plat.components
    ports = alert_inbox.allocate_ports(plat.run_dir / "alert-inbox.json")
    plat.start_components((INBOX,))
    try:
        _wait(lambda: all(port_in_use(p) for p in ports.values()) or not plat.running(), 20, "the inbox ports")
        assert plat.running(), (plat.log_dir / f"{INBOX}.log").read_text()
        yield plat, ports
    finally:
        plat.stop(deadline=5)
    assert not plat.running() and not any(port_in_use(p) for p in ports.values())


def _wire(monkeypatch, plat: Platform) -> None:
    """The connections airflow_settings.yaml yields with the platform's environment, as AIRFLOW_CONN_* (no DB)."""
    settings = parse_settings((ROOT / "airflow_settings.yaml").read_text(), env=plat.env())
    (connections,) = [c for name, c, _ in import_files(settings, {"pools": [], "variables": []})
                      if name == "connections.json"]
    for conn_id in ("smtp_default", "alerts_webhook"):
        monkeypatch.setenv(conn_env_var(conn_id), json.dumps(connections[conn_id]))
    monkeypatch.setenv("AIRFLOW_VAR_ALERT_RECIPIENTS", "ml-team@example.com")


def test_an_alert_sent_to_the_inbox_becomes_one_file_per_channel(inbox, monkeypatch, tmp_path) -> None:
    plat, ports = inbox
    _wire(monkeypatch, plat)
    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    alert = Alert.make("drift_detected", "drift share 0.45 > 0.30 (model v3)", dag_id="model_monitoring",
                       use_case="churn", run_id="scheduled__2024-03-05T06:00:00+00:00", partition="2024-03-05",
                       task_id="monitor", links={"monitoring report": "http://localhost:8080/reports/m.html"})

    assert send_alert(alert) == {"email": SENT, "webhook": SENT}

    records = _wait(lambda: len(read_inbox(plat.inbox_dir)) >= 2 and read_inbox(plat.inbox_dir), 10, "2 records")
    assert len(records) == 2
    mail = next(r for r in records if r["channel"] == "email")
    hook = next(r for r in records if r["channel"] == "webhook")
    assert mail["subject"] == render_subject(alert) and mail["text"] == render_text(alert)
    assert mail["from"] == "lifecycle-alerts@example.com" and mail["to"] == ["ml-team@example.com"]
    assert mail["headers"]["X-Lifecycle-Alert-Kind"] == "drift_detected"
    assert mail["headers"]["X-Lifecycle-Severity"] == "warning"
    assert mail["headers"]["X-Airflow-Run-Id"] == "scheduled__2024-03-05T06:00:00+00:00"
    assert hook["path"] == alert_inbox.WEBHOOK_PATH and hook["payload"] == render_slack(alert)
    for record in records:
        assert stat.S_IMODE((plat.inbox_dir / record["file"]).stat().st_mode) == 0o644
    listed = requests.get(f"http://127.0.0.1:{ports['webhook']}/", timeout=5).json()
    assert sorted(r["file"] for r in listed) == sorted(r["file"] for r in records)


def test_make_status_and_stop_see_the_inbox(inbox, tmp_path) -> None:
    plat, _ = inbox
    env = {**os.environ, "LIFECYCLE_AIRFLOW_HOME": str(plat.home)}
    cli = [sys.executable, str(ROOT / "scripts" / "lifecycle_platform.py")]
    status = subprocess.run([*cli, "status", "--port", str(plat.port)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert f"{INBOX:<16} running pid {plat.running()[INBOX]}" in status.stdout
    stop = subprocess.run([*cli, "stop", "--port", str(plat.port)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert stop.returncode == 0 and "stopped: alert-inbox" in stop.stdout, stop.stderr
    assert not plat.running()


def test_the_connections_point_at_the_inbox_only_when_nothing_else_is_configured(no_alert_env, tmp_path) -> None:
    plat = Platform(home=tmp_path / "home", port=free_port())
    assert "ALERT_SMTP_PORT" not in plat.env()  # no ports before the first start: the YAML defaults apply
    ports = alert_inbox.allocate_ports(plat.run_dir / "alert-inbox.json")
    env = plat.env()
    assert (env["ALERT_SMTP_HOST"], env["ALERT_SMTP_PORT"]) == ("127.0.0.1", str(ports["smtp"]))
    assert env["ALERT_WEBHOOK_URL"] == f"http://127.0.0.1:{ports['webhook']}/hooks/lifecycle"
    assert alert_inbox.allocate_ports(plat.run_dir / "alert-inbox.json") == ports  # stable across restarts
    assert str(plat.inbox_dir) in plat.describe()

    theirs = {"ALERT_SMTP_HOST": "127.0.0.1", "ALERT_SMTP_PORT": "2600", "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/h"}
    external = Platform(home=tmp_path / "home", port=free_port(), extra_env=theirs)  # e2e tests do this
    assert INBOX not in external.components
    assert {k: external.env()[k] for k in theirs} == theirs
    webhook_only = Platform(home=tmp_path / "home", port=free_port(), extra_env={"ALERT_SMTP_PORT": "2600"})
    assert webhook_only.inbox_channels() == ("webhook",) and webhook_only.env()["ALERT_SMTP_PORT"] == "2600"
    assert INBOX not in production_platform(tmp_path / "prod", free_port()).components  # real SMTP/webhook there
