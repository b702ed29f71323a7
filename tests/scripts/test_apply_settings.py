"""airflow_settings.yaml and the use-case defaults: malformed entries are named, nothing is half-applied, and
the writes go through Airflow's own `connections|pools|variables import`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.apply_settings import SettingsError, import_files, parse_settings, use_case_defaults, without_explicit
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
    assert {v["variable_name"] for v in parsed["variables"]} >= {"approval_smes_credit", "alert_recipients"}
    defaults = without_explicit(use_case_defaults(ROOT / "include" / "config"), parsed)
    assert {v["variable_name"] for v in defaults["variables"]} >= {"approval_smes_churn", "lifecycle_drift_credit"}
    assert "approval_smes_credit" not in {v["variable_name"] for v in defaults["variables"]}  # the file wins


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


def _config_dir(tmp_path: Path, **use_cases: str) -> Path:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    for name, text in use_cases.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def _use_case(name: str, smes: list[str] | None = None, **resources: int) -> str:
    """A full, valid use-case YAML (the bundled churn one renamed), with its own SMEs and resources."""
    raw = yaml.safe_load((ROOT / "include" / "config" / "churn.yaml").read_text())
    raw["name"] = name
    raw["validation"]["suite"] = "include/expectations/churn.json"
    if smes:
        raw["approval"]["assigned_smes"] = smes
    if resources:
        raw["resources"] = resources
    return yaml.safe_dump(raw)


DEMO = _use_case("demo", ["sme_carol", "sme_dan"], training_slots=3)


def test_every_use_case_yaml_adds_pools_and_variables(tmp_path):
    folder = _config_dir(tmp_path, demo=DEMO, bare=_use_case("bare"))
    defaults = use_case_defaults(folder)
    pools = {p["pool_name"]: p["pool_slot"] for p in defaults["pools"]}
    assert pools == {"lifecycle_training__bare": 2, "lifecycle_scoring__bare": 2,
                     "lifecycle_training__demo": 3, "lifecycle_scoring__demo": 2}
    variables = {v["variable_name"]: v["variable_value"] for v in defaults["variables"]}
    assert variables == {"lifecycle_drift_bare": "false", "approval_smes_bare": "sme_alice,sme_bob",
                         "approval_smes_demo": "sme_carol,sme_dan", "lifecycle_drift_demo": "false"}


def test_the_bundled_use_cases_give_defaults():
    names = {p["pool_name"] for p in use_case_defaults(ROOT / "include" / "config")["pools"]}
    assert {"lifecycle_training__churn", "lifecycle_scoring__churn"} <= names


def test_entries_in_the_settings_file_win_over_defaults(tmp_path):
    settings = parse_settings(GOOD + "    - {variable_name: lifecycle_drift_demo, variable_value: 'true'}\n"
                              "  pools:\n", env={})  # (a second empty 'pools:' key is a no-op for YAML)
    settings["pools"].append({"pool_name": "lifecycle_training__demo", "pool_slot": 7})
    left = without_explicit(use_case_defaults(_config_dir(tmp_path, demo=DEMO)), settings)
    assert "lifecycle_training__demo" not in {p["pool_name"] for p in left["pools"]}
    assert {v["variable_name"] for v in left["variables"]} == {"approval_smes_demo"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("approval: {}\n", "bad.yaml is invalid"),
        (_use_case("bad", training_slots=-1), "resources.training_slots"),
        (_use_case("bad").replace("assigned_smes:", "assigned_smez:"), "approval.assigned_smez: unknown key"),
        ("name: [1\n", "not valid YAML"),
    ],
)
def test_an_invalid_use_case_gets_no_defaults_and_is_named(tmp_path, capsys, text, message):
    defaults = use_case_defaults(_config_dir(tmp_path, demo=DEMO, bad=text))
    assert {p["pool_name"] for p in defaults["pools"]} == {"lifecycle_training__demo", "lifecycle_scoring__demo"}
    assert message in capsys.readouterr().err


def test_import_files_are_what_airflow_import_reads():
    text = GOOD.replace("  pools:\n", "    - {conn_id: by_uri, conn_uri: 'http://u:p@h:1/https'}\n  pools:\n")
    settings = parse_settings(text, env={})
    files = {name: content for name, content, _ in import_files(settings, {"pools": [], "variables": []})}
    assert files["connections.json"]["aws_default"] == {"conn_type": "aws", "extra": '{"region_name": "us-east-1"}'}
    assert files["connections.json"]["by_uri"] == "http://u:p@h:1/https"
    assert files["pools.json"] == {"training": {"slots": 2, "description": "cpu", "include_deferred": False}}
    assert files["variables.json"] == {"approval_smes_churn": "sme_alice,sme_bob"}
    assert "variable-defaults.json" not in files  # nothing to import: no CLI call


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory):
    platform = Platform(home=tmp_path_factory.mktemp("home"), port=free_port())
    platform.airflow("db", "migrate")
    return platform


def _run_apply(platform: Platform, path: Path, config: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**platform.env(), "LIFECYCLE_CONFIG_DIR": str(config), "TMPDIR": str(tmp), "TEST_AWS_KEY": SECRET}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "apply_settings.py"), str(path)],
                          env=env, capture_output=True, text=True, timeout=300)


SECRET = "AKIA-not-printed-4711"


def _export(platform: Platform, tmp_path: Path, what: str) -> dict:
    out = tmp_path / f"{what}.json"
    platform.airflow(what, "export", str(out))
    data = json.loads(out.read_text())
    out.unlink()
    return data


def _variables(platform: Platform, tmp_path: Path) -> dict[str, str]:
    return {k: v["value"] if isinstance(v, dict) else v for k, v in _export(platform, tmp_path, "variables").items()}


def test_apply_is_all_or_nothing_against_a_real_metadata_db(migrated_home, tmp_path):
    config = _config_dir(tmp_path, demo=DEMO)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    proc = _run_apply(migrated_home, good, config, scratch)
    assert proc.returncode == 0, proc.stderr
    assert "1 connections, 1 pools, 1 variables; use-case defaults: 2 pools, 2 variables" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr
    # the import files (they carry secrets) are gone; the use-case loader's data-facts and config caches may stay
    caches = ("lifecycle-data-facts", f"lifecycle-config-cache-{os.getuid()}")
    assert [p for p in scratch.iterdir() if p.name not in caches] == []
    assert _export(migrated_home, tmp_path, "connections")["aws_default"]["login"] == SECRET
    assert _variables(migrated_home, tmp_path)["approval_smes_churn"] == "sme_alice,sme_bob"
    pools = {name: p["slots"] for name, p in _export(migrated_home, tmp_path, "pools").items()}
    assert pools["training"] == 2 and pools["lifecycle_training__demo"] == 3 and pools["lifecycle_scoring__demo"] == 2

    # A value set in the DB (by hand, in the UI) survives a restart: defaults never overwrite.
    migrated_home.airflow("variables", "set", "lifecycle_drift_demo", "true")

    # A later entry is broken: the earlier, valid variable change must not be applied.
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace('"sme_alice,sme_bob"', '"sme_carol"') + "    - {variable_name: broken}\n")
    proc = _run_apply(migrated_home, bad, config, scratch)
    assert proc.returncode == 2
    assert "variable broken: variable_value is required" in proc.stderr
    assert "nothing was applied" in proc.stderr
    assert _variables(migrated_home, tmp_path)["approval_smes_churn"] == "sme_alice,sme_bob"

    # A broken use-case YAML gets nothing (its DAGs are not built either) and is named; the others still apply.
    (config / "zz.yaml").write_text(_use_case("zz", training_slots=0))
    proc = _run_apply(migrated_home, good, config, scratch)
    assert proc.returncode == 0 and "zz.yaml is invalid" in proc.stderr and "resources.training_slots" in proc.stderr
    assert "lifecycle_training__zz" not in _export(migrated_home, tmp_path, "pools")
    (config / "zz.yaml").unlink()

    # Re-applying is idempotent (overwrites, no duplicates) and keeps what was set in the DB.
    assert _run_apply(migrated_home, good, config, scratch).returncode == 0
    conns = migrated_home.airflow("connections", "list", "-o", "json").stdout
    assert conns.count('"aws_default"') == 1
    assert _variables(migrated_home, tmp_path)["approval_smes_demo"] == "sme_carol,sme_dan"
    assert migrated_home.airflow("variables", "get", "lifecycle_drift_demo").stdout.strip() == "true"


def test_missing_settings_file_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "apply_settings.py"), str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not found" in proc.stderr
