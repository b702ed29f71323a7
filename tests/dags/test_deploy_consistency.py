"""deploy/docker-compose.yaml and `make run MODE=production` must describe the same deployment.

The compose file is parsed and compared with what ``scripts.production.production_platform`` really runs:
the Airflow version of the image, the environment variable names (executor, metadata DB, broker, result
backend, artifact root, API URLs, secrets) and each component's command. Secrets must come from the
environment, never be written in the file. A key added on one side only makes this test fail.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts import gate_access

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yaml"
ENV_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "LIFECYCLE_", "AWS_", "GX_")
# Set by the one-machine platform only, each for a reason that does not exist in containers.
PLATFORM_ONLY = {
    # Several workers share one host name locally; every container has its own.
    "AIRFLOW__CORE__HOSTNAME_CALLABLE",
}
SECRET_KEYS = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
               "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
ENV_REF = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(:\?[^}]*)?\}$")
GATE_CONN_ENV = f"AIRFLOW_CONN_{gate_access.CONN_ID.upper()}"
AIRFLOW_SERVICES = {"api-server": "api-server", "scheduler": "scheduler", "dag-processor": "dag-processor",
                    "triggerer": "triggerer", "worker": "celery-worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """The production platform as `make run MODE=production` builds it, from a clean environment."""
    from scripts.production import production_platform

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("LIFECYCLE_", "AWS_", "AIRFLOW_CONN_")):
                mp.delenv(key)
        plat = production_platform(tmp_path_factory.mktemp("home"), 8080)
        return plat, plat.env()


def _service_env(compose: dict, service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {k: str(v) for k, v in env.items()}


def _with_defaults(value: str) -> str:
    """The value compose uses when the optional variables are unset (``${VAR:-default}`` -> default)."""
    return re.sub(r"\$\{[A-Z][A-Z0-9_]*:-([^}]*)\}", r"\1", value)


def _pinned_airflow() -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^apache-airflow==([\w.]+)\s*$", line.strip())
        if match:
            return match.group(1)
    raise AssertionError("requirements.txt does not pin apache-airflow==X.Y.Z")


def _normalise(cmd: list[str]) -> list[str]:
    """Drop an ``env K=V`` prefix, name the airflow binary plainly, abstract the Celery node name."""
    if cmd and cmd[0] == "env":
        cmd = cmd[1:]
        while cmd and re.match(r"^[A-Z_][A-Z0-9_]*=", cmd[0]):
            cmd = cmd[1:]
    out = ["airflow" if i == 0 and Path(tok).name == "airflow" else tok for i, tok in enumerate(cmd)]
    if "--celery-hostname" in out:
        i = out.index("--celery-hostname") + 1
        assert re.fullmatch(r"celery-worker(-\d+)?@%h", out[i]), f"unexpected Celery node name {out[i]!r}"
        out[i] = "<node>@%h"
    return out


def test_image_runs_the_pinned_airflow_version(compose):
    version = _pinned_airflow()
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+apache/airflow:(\S+)", dockerfile, re.MULTILINE)
    assert base, "Dockerfile must build FROM apache/airflow:<version>"
    assert base.group(1).split("-")[0] == version, f"image {base.group(1)} vs requirements.txt {version}"
    from importlib.metadata import version as installed

    assert installed("apache-airflow") == version, "the local venv runs another Airflow than requirements.txt"
    for name in AIRFLOW_SERVICES:
        svc = compose["services"][name]
        build = svc.get("build") or {}
        assert (COMPOSE.parent / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve() == \
            (ROOT / "Dockerfile").resolve(), f"{name} is not built from the project's Dockerfile"
        tag = _with_defaults(svc["image"]).rsplit(":", 1)[-1]
        assert tag.split("-")[0] == version, f"{name}: image tag {svc['image']} does not carry Airflow {version}"


def test_compose_has_the_production_services(compose):
    services = set(compose["services"])
    assert {"postgres", "redis", "minio", "airflow-init", *AIRFLOW_SERVICES} <= services, services
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker, "worker must scale with --scale worker=N"
    assert worker.get("deploy", {}).get("replicas", 1) >= 2, "run at least two workers by default"


def test_environment_keys_are_the_platforms(compose, platform):
    plat, env = platform
    plat_keys = {k for k in env if k.startswith(ENV_PREFIXES)} - PLATFORM_ONLY
    assert PLATFORM_ONLY <= set(env), "a PLATFORM_ONLY key no longer exists; drop it from this test"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        compose_keys = {k for k in _service_env(compose, name) if k.startswith(ENV_PREFIXES)}
        assert compose_keys == plat_keys, (
            f"{name}: only in compose {sorted(compose_keys - plat_keys)}, "
            f"only in production_platform {sorted(plat_keys - compose_keys)}")


def test_environment_values_mean_the_same(compose, platform):
    _, env = platform
    svc = _service_env(compose, "scheduler")
    for e in (env, svc):
        assert e["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert e["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert e["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + e["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert e["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert e["LIFECYCLE_ARTIFACT_ROOT"].startswith("s3://")
        assert e["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")
        assert e["AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR"] == "True"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == env["AIRFLOW__API__BASE_URL"] + "/execution/"
    assert svc["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        f"http://api-server:{svc['AIRFLOW__API__PORT']}/execution/"), "workers must reach the api-server service"


def test_secrets_come_from_the_environment(compose):
    svc = _service_env(compose, "scheduler")
    for key in SECRET_KEYS:
        assert ENV_REF.match(svc[key]), f"{key} must be a ${{VAR:?...}} reference, not a literal: {svc[key]!r}"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        password = re.search(r"://[^:/@]+:([^@]*)@", svc[key])
        assert password and ENV_REF.match(password.group(1)), f"{key}: the DB password must come from the env"
    password = _conn_parts(svc[GATE_CONN_ENV])["password"]
    assert ENV_REF.match(password), f"{GATE_CONN_ENV}: the gate's password must come from the env: {password!r}"
    pg = compose["services"]["postgres"]["environment"]
    assert ENV_REF.match(str(pg["POSTGRES_PASSWORD"]))
    text = COMPOSE.read_text()
    assert not re.search(r"[A-Za-z0-9_-]{43}=", text), "something that looks like a Fernet key is in the file"


def test_component_commands_are_the_platforms(compose, platform):
    plat, _ = platform
    expected = {}
    for component in plat.components:
        kind = "celery-worker" if component.startswith("celery-worker-") else component
        expected.setdefault(kind, set()).add(tuple(_normalise(plat.component_command(component))))
    assert len(plat.workers) >= 2, "production mode runs at least two Celery workers"
    assert set(expected) == set(AIRFLOW_SERVICES.values()), expected
    for service, kind in AIRFLOW_SERVICES.items():
        command = compose["services"][service]["command"]
        tokens = shlex.split(command) if isinstance(command, str) else list(command)
        # The official image's entrypoint runs `airflow <command>`.
        got = tuple(_normalise(["airflow", *tokens]))
        assert expected[kind] == {got}, f"{service}: compose runs {got}, production_platform {expected[kind]}"


def _conn_parts(uri: str) -> dict[str, str]:
    """scheme, login, password, host, port of a connection URI whose password may be a ``${VAR:?...}`` reference
    (which ``urlsplit`` would cut at the ``?``)."""
    match = re.fullmatch(r"(?P<scheme>\w+)://(?P<login>[^:/@]+):(?P<password>.+)@(?P<host>[^:/@]+):(?P<port>\d+)/?", uri)
    assert match, f"not a connection URI with login, password, host and port: {uri!r}"
    return match.groupdict()


def _users(value: str) -> set[str]:
    return {u.strip() for u in value.split(",") if u.strip()}


def test_gate_login_and_connection_are_the_platforms(compose, platform):
    """The SME gate's retry reads earlier answers over REST as ``lifecycle_gate`` (viewer), through a connection
    every task gets from the environment: compose must give both, pointing at its api-server service."""
    plat, env = platform
    assert GATE_CONN_ENV in env, "production_platform no longer gives tasks the gate's connection"
    mine = _conn_parts(env[GATE_CONN_ENV])
    assert f"{gate_access.GATE_USER}:{gate_access.GATE_ROLE}" in _users(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"])
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        svc = _service_env(compose, name)
        assert GATE_CONN_ENV in svc, f"{name}: no {GATE_CONN_ENV}; the gate's retry could not read earlier answers"
        theirs = _conn_parts(svc[GATE_CONN_ENV])
        assert (theirs["scheme"], theirs["login"]) == (mine["scheme"], mine["login"]) == ("http", gate_access.GATE_USER)
        assert (theirs["host"], theirs["port"]) == ("api-server", svc["AIRFLOW__API__PORT"]), theirs
        assert _users(svc["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]) == _users(
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]), f"{name}: not the platform's users and roles"


def test_init_step_sets_the_gate_password_the_connection_carries(compose, tmp_path):
    """Run airflow-init's gate step for real: the connection's password becomes lifecycle_gate's login, the other
    users' passwords are kept, and a second init changes nothing."""
    command = compose["services"]["airflow-init"]["command"]
    script = command[-1] if isinstance(command, list) else command
    block = re.search(r"^python - <<'GATE'\n(.*?)^GATE$", script, re.MULTILINE | re.DOTALL)
    assert block, "airflow-init does not set the gate's login (a `python - <<'GATE'` step)"
    password = "s3cret-Gate_pw"
    passwords = tmp_path / "auth" / "passwords.json"
    passwords.parent.mkdir()
    passwords.write_text(json.dumps({"admin": "kept"}))
    env = {**os.environ, GATE_CONN_ENV: f"http://{gate_access.GATE_USER}:{password}@api-server:8080",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-"], input=block.group(1), env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(passwords.read_text()) == {"admin": "kept", gate_access.GATE_USER: password}
    assert passwords.stat().st_mode & 0o077 == 0, "the passwords file must be private"
