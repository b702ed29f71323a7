"""airflow_settings.yaml: malformed entries are named and nothing is half-applied."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.apply_settings import SettingsError, parse_settings
from scripts.lifecycle_platform import Platform, free_port

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
airflow:
  connections:
    - conn_id: aws_default
      conn_type: aws
      conn_login: ${TEST_AWS_KEY:-}
      conn_extra: {endpoint_url: "${TEST_S3_URL:-}", region_name: us-east-1}
  pools:
    - {pool_name: training, pool_slot: 2, pool_description: cpu}
  variables:
    - {variable_name: approval_smes_churn, variable_value: "sme_alice,sme_bob"}
"""


def test_project_settings_file_is_valid():
    parsed = parse_settings((ROOT / "airflow_settings.yaml").read_text(), env={})
    ids = {c["conn_id"] for c in parsed["connections"]}
    assert {"aws_default", "smtp_default", "alerts_webhook"} <= ids
    assert {v["variable_name"] for v in parsed["variables"]} >= {"approval_smes_churn"}


def test_placeholders_come_from_the_environment_and_empty_extras_are_dropped():
    parsed = parse_settings(GOOD, env={"TEST_AWS_KEY": "AKIAEXAMPLE"})
    aws = parsed["connections"][0]
    assert aws["conn_login"] == "AKIAEXAMPLE"
    assert aws["conn_extra"] == {"region_name": "us-east-1"}  # empty endpoint dropped


@pytest.mark.parametrize(
    "text, message",
    [
        ("airflow:\n  connections:\n    - conn_type: aws\n", "connection #0: conn_id is required"),
        ("airflow:\n  connections:\n    - {conn_id: x}\n", "connection x: conn_type is required"),
        ("airflow:\n  connections:\n    - {conn_id: x, conn_type: http, conn_port: abc}\n",
         "connection x: conn_port must be a number"),
        ("airflow:\n  connections:\n    - {conn_id: x, conn_type: http, conn_extra: '{bad json'}\n",
         "connection x: conn_extra is not valid JSON"),
        ("airflow:\n  connections:\n    - {conn_id: x, conn_type: http, conn_hots: h}\n",
         "connection x: unknown key(s) ['conn_hots']"),
        ("airflow:\n  connections:\n    - {conn_id: x, conn_type: http, conn_password: '${NOPE_SECRET}'}\n",
         "connection x.conn_password: environment variable NOPE_SECRET is not set"),
        ("airflow:\n  pools:\n    - {pool_name: p, pool_slot: many}\n", "pool p: pool_slot must be a whole number"),
        ("airflow:\n  variables:\n    - {variable_name: v}\n", "variable v: variable_value is required"),
        ("airflow:\n  variables:\n    - {variable_name: v, variable_value: 1}\n    - {variable_name: v, variable_value: 2}\n",
         "variable v: defined twice"),
        ("airflow:\n  connections: {conn_id: x}\n", "airflow.connections must be a list"),
        ("airflow: [1, 2\n", "not valid YAML"),
        ("airflow:\n  secrets: []\n", "unknown section"),
    ],
)
def test_malformed_entries_are_named(text, message):
    with pytest.raises(SettingsError) as exc:
        parse_settings(text, env={})
    assert message in str(exc.value)


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory):
    platform = Platform(home=tmp_path_factory.mktemp("home"), port=free_port())
    platform.airflow("db", "migrate")
    return platform


def _run_apply(platform: Platform, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "apply_settings.py"), str(path)],
                          env=platform.env(), capture_output=True, text=True, timeout=120)


def _variables(platform: Platform, tmp_path: Path) -> dict[str, str]:
    out = tmp_path / "variables.json"
    platform.airflow("variables", "export", str(out))
    return json.loads(out.read_text())


def test_apply_is_all_or_nothing_against_a_real_metadata_db(migrated_home, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    proc = _run_apply(migrated_home, good)
    assert proc.returncode == 0, proc.stderr
    assert "1 connections, 1 pools, 1 variables" in proc.stdout
    assert _variables(migrated_home, tmp_path)["approval_smes_churn"] == "sme_alice,sme_bob"

    # A later entry is broken: the earlier, valid variable change must not be applied.
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace('"sme_alice,sme_bob"', '"sme_carol"') + "    - {variable_name: broken}\n")
    proc = _run_apply(migrated_home, bad)
    assert proc.returncode == 2
    assert "variable broken: variable_value is required" in proc.stderr
    assert "nothing was applied" in proc.stderr
    assert _variables(migrated_home, tmp_path)["approval_smes_churn"] == "sme_alice,sme_bob"

    # Re-applying is idempotent (overwrites, no duplicates).
    assert _run_apply(migrated_home, good).returncode == 0
    conns = migrated_home.airflow("connections", "list", "-o", "json").stdout
    assert conns.count('"aws_default"') == 1


def test_missing_settings_file_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "apply_settings.py"), str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not found" in proc.stderr
