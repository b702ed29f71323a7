"""Production mode, for real: PostgreSQL metadata DB, CeleryExecutor on Redis with two workers, artifacts on S3.

The fixture makes a fresh PostgreSQL database and picks an empty Redis DB number, starts a moto S3 server
(HTTP, its own process group) and starts the platform exactly as ``make run MODE=production`` does, on a
free port. The scenario is driven over the REST API the way its users drive it: a data engineer loads the
replay's labelled history, feature engineering follows on the asset, a data scientist triggers training,
and **one Celery worker is SIGKILLed while it trains a candidate** — the run must still finish (retries on
the surviving worker), the SME approves over REST, and the champion moves exactly once.

Everything is torn down by pid, database and DB number even when an assertion fails. Every wait has a
deadline. Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (``.ci/run`` starts them).
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scripts.lifecycle_platform import PROJECT_ROOT, free_port
from scripts.production import (
    MOTO_CREDENTIALS,
    MotoServer,
    ProductionPlatform,
    create_database,
    drop_database,
    ensure_bucket,
    flush_redis,
    free_redis_db,
    pg_url,
    production_platform,
    redis_url,
    s3_client,
)
from scripts.rest_client import AirflowClient, wait_for
from tests.integration.receivers import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.production

USE_CASE = "churn"
DAY = "2025-12-31"  # the replay's already-labelled history partition
DAGS = ["churn__data_acquisition", "churn__feature_engineering", "churn__model_training"]
BUCKET = "lifecycle-it"
ARTIFACT_SUFFIXES = {".parquet", ".skops", ".csv", ".gz", ".html", ".png", ".md"}
STORE_DIRS = {"landing", "incoming", "raw", "quarantine", "validation", "labels", "features", "training", "models"}


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _require_services() -> None:
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable(port)]
    if missing:
        # Production mode is part of the product: without its services the suite fails rather than skips.
        pytest.fail(f"{' and '.join(missing)} not running on 127.0.0.1 (.ci/run starts them; see README)")


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _bucket_keys(endpoint: str, prefix: str) -> list[str]:
    client = s3_client(endpoint, **MOTO_CREDENTIALS)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        keys += [obj["Key"][len(prefix) + 1:] for obj in page.get("Contents", [])]
    return keys


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A fresh DB, its own Redis DB number, moto and the platform; all of it removed afterwards."""
    _require_services()
    base = tmp_path_factory.mktemp("production")
    db_name = f"lifecycle_it_{uuid.uuid4().hex[:10]}"
    db_url = pg_url(db_name)
    redis_db = free_redis_db()
    local_root = PROJECT_ROOT / ".artifacts"
    before = _snapshot(local_root)
    moto = MotoServer(base / "moto", port=free_port())
    plat: ProductionPlatform | None = None
    started = time.monotonic()
    smtp, hook = SmtpReceiver(), WebhookReceiver()
    try:
        smtp.start()
        hook.start()
        create_database(db_url)
        moto.start()
        ensure_bucket(moto.endpoint, BUCKET, **MOTO_CREDENTIALS)
        plat = production_platform(base / "home", free_port(), db_name=db_name, redis_db=redis_db,
                                   s3_endpoint=moto.endpoint, bucket=BUCKET, workers=2)
        plat.extra_env.update({
            **MOTO_CREDENTIALS,
            # One task per worker on 2 cores, so two queued tasks land on both workers.
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            # A lost worker's task is failed (and retried) after 40 s without heartbeat, not Airflow's 300 s.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "40",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "LIFECYCLE_CONFIG_DIR": str(_config_dir(base)),
            "ALERT_SMTP_HOST": "127.0.0.1", "ALERT_SMTP_PORT": str(smtp.port), "ALERT_WEBHOOK_URL": hook.url,
        })
        plat.start(wait=False)
        plat.wait_ready(timeout=300, dags=DAGS)
        print(f"production platform ready in {time.monotonic() - started:.0f}s")
        yield {"platform": plat, "moto": moto, "local_root": local_root, "before": before,
               "prefix": plat.artifact_root.removeprefix(f"s3://{BUCKET}/")}
    finally:
        problems = []
        if plat is not None:
            try:
                plat.stop()
                if plat.running():
                    problems.append(f"processes left running: {plat.running()}")
            except Exception as exc:  # keep tearing down
                problems.append(f"stop: {exc!r}")
        for step in (lambda: drop_database(db_url), lambda: flush_redis(redis_url(redis_db)), moto.stop,
                     hook.stop, smtp.stop):
            try:
                step()
            except Exception as exc:
                problems.append(repr(exc))
        print(f"production fixture total {time.monotonic() - started:.0f}s")
        assert not problems, problems


def _config_dir(base: Path) -> Path:
    """The bundled churn YAML without its nightly training: a run started by the clock (a test crossing 02:00
    UTC) would hold the one training slot while the test waits for the run it triggered."""
    import yaml

    raw = yaml.safe_load((PROJECT_ROOT / "include" / "config" / f"{USE_CASE}.yaml").read_text())
    raw.setdefault("schedules", {})["training"] = None
    out = base / "config"
    out.mkdir()
    (out / f"{USE_CASE}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


@pytest.fixture(scope="module")
def scenario(production) -> dict[str, Any]:
    """Acquire, build features, train while a worker dies, approve; return what the tests check."""
    plat: ProductionPlatform = production["platform"]
    moto: MotoServer = production["moto"]
    api = AirflowClient(plat)
    hosts = plat.worker_hostnames()
    prefix = production["prefix"]
    t0 = time.monotonic()

    acq = api.trigger("churn__data_acquisition", user="data_engineer", partition_key=DAY)
    assert api.wait_run("churn__data_acquisition", acq, timeout=300) == "success", api.diagnose("churn__data_acquisition", acq)
    features_key = f"features/{USE_CASE}/date={DAY}/features.parquet"
    wait_for(lambda: features_key in _bucket_keys(moto.endpoint, prefix), 240, f"{features_key} in the bucket")
    fe_runs = api.runs("churn__feature_engineering")
    assert any(r["run_type"] == "asset_triggered" for r in fe_runs), fe_runs

    t_features = time.monotonic()
    run_id = api.trigger("churn__model_training", {"partition_date": DAY, "note": "production integration"})

    def running_candidate():
        for ti in api.task_instances("churn__model_training", run_id):
            if ti["task_id"] == "train_candidate" and ti["state"] == "running" and ti.get("hostname") in hosts.values():
                return ti
        if api.run("churn__model_training", run_id)["state"] in ("success", "failed"):
            raise AssertionError(api.diagnose("churn__model_training", run_id))
        return None

    victim_ti = wait_for(running_candidate, 420, "a train_candidate task running on a Celery worker", interval=0.5)
    victim = next(c for c, h in hosts.items() if h == victim_ti["hostname"])
    killed = plat.kill_component(victim)
    assert killed, f"nothing was killed for {victim}"
    assert victim not in plat.running()
    t_kill = time.monotonic()
    print(f"killed {victim} ({len(killed)} processes) while it ran train_candidate[{victim_ti['map_index']}]")

    api.wait_task("churn__model_training", run_id, "sme_approval", {"awaiting_input"}, timeout=420)
    pending = api.pending_approvals("churn__model_training", run_id)
    assert len(pending) == 1, pending
    answered = api.answer("churn__model_training", run_id, "sme_approval", "Approve",
                          "Approved in the production rehearsal.", user="sme_alice")
    assert answered.status_code == 200, answered.text
    assert api.wait_run("churn__model_training", run_id, timeout=240) == "success", api.diagnose("churn__model_training", run_id)
    print(f"acquisition+features {t_features - t0:.0f}s, training until the kill {t_kill - t_features:.0f}s, "
          f"kill until the run succeeded {time.monotonic() - t_kill:.0f}s")

    tis = [ti for dag in DAGS for run in api.runs(dag) for ti in api.task_instances(dag, run["dag_run_id"])]
    tries = api.ok("GET", f"/dags/churn__model_training/dagRuns/{run_id}/taskInstances/train_candidate/"
                          f"{victim_ti['map_index']}/tries")["task_instances"]
    return {"api": api, "run_id": run_id, "hosts": hosts, "victim": victim, "victim_ti": victim_ti, "tis": tis,
            "tries": tries, "keys": _bucket_keys(moto.endpoint, prefix), **production}


def test_training_survives_a_killed_worker(scenario):
    """The candidate whose worker died was retried on the other worker and the run still succeeded."""
    hosts, victim = scenario["hosts"], scenario["victim"]
    survivor = next(h for c, h in hosts.items() if c != victim)
    final = next(ti for ti in scenario["tis"] if ti["dag_run_id"] == scenario["run_id"]
                 and ti["task_id"] == "train_candidate" and ti["map_index"] == scenario["victim_ti"]["map_index"])
    assert final["state"] == "success" and final["try_number"] >= 2, final
    assert final["hostname"] == survivor, final
    by_try = {t["try_number"]: t for t in scenario["tries"]}
    assert by_try[1]["hostname"] == hosts[victim] and by_try[1]["state"] != "success", by_try


def test_tasks_ran_on_both_workers(scenario):
    seen = {ti.get("hostname") for ti in scenario["tis"]} | {t.get("hostname") for t in scenario["tries"]}
    assert set(scenario["hosts"].values()) <= seen, seen
    assert not seen - set(scenario["hosts"].values()) - {None, ""}, f"tasks ran outside the Celery workers: {seen}"


def test_every_artifact_is_in_the_bucket_and_none_on_local_disk(scenario):
    keys = scenario["keys"]
    expected_prefixes = (f"raw/{USE_CASE}/date={DAY}/", f"labels/{USE_CASE}/date={DAY}/",
                         f"features/{USE_CASE}/date={DAY}/", f"training/{USE_CASE}/",
                         f"models/{USE_CASE}/versions/", f"models/{USE_CASE}/ledger/",
                         f"models/{USE_CASE}/aliases/champion.json")
    for expected in expected_prefixes:
        assert any(k.startswith(expected) for k in keys), f"nothing under {expected} in s3://{BUCKET}: {keys[:40]}"

    assert _snapshot(scenario["local_root"]) == scenario["before"], "the default local store .artifacts changed"
    home = scenario["platform"].home
    strays = [p for p in home.rglob("*") if p.is_file() and (
        p.suffix in ARTIFACT_SUFFIXES or STORE_DIRS & set(p.relative_to(home).parts[:-1]))
        and "logs" not in p.relative_to(home).parts[:1]]
    assert not strays, f"artifacts written to local disk in the Airflow home: {strays[:20]}"


def test_registry_on_s3_is_consistent(scenario):
    from include.lifecycle.config import load_use_case
    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.store import S3Store

    plat = scenario["platform"]
    store = S3Store(plat.artifact_root, endpoint_url=scenario["moto"].endpoint, region_name="us-east-1",
                    **{k.lower(): v for k, v in MOTO_CREDENTIALS.items()})
    registry = registry_for(store, load_use_case(USE_CASE))
    champion = registry.alias_version("champion")
    assert champion is not None
    manifest = registry.manifest(champion)
    model_bytes = store.read_bytes(manifest["artifacts"]["model.skops"]["key"])
    assert hashlib.sha256(model_bytes).hexdigest() == manifest["model_sha256"]
    ledger = registry.ledger()
    events = [(e["event"], e["version"], e["actor"]) for e in ledger]
    assert ("approved", champion, "sme_alice") in events, events
    assert [e for e in ledger if e["event"] == "promoted"] == [
        e for e in ledger if e["event"] == "promoted" and e["version"] == champion]
    assert sum(1 for e in ledger if e["event"] == "promoted") == 1, events


# -- the metadata DB restarted mid-run --------------------------------------------------------------------
PG_CLUSTER = ("15", "main")  # the machine's own server (Debian's cluster), the one production mode uses
PG_STOP_MODE = "fast"  # `-m fast`: every connection is cut at once
# Held down this long, so that every component reaches for the DB meanwhile: a 3 s restart sometimes slipped
# between the scheduler's queries (nothing exited), a 7 s one made scheduler, DAG processor and triggerer exit.
PG_DOWN_SECONDS = 10


def _pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], timeout=15).returncode == 0


def _answers(fn):
    """``fn()``, or None while the API server cannot answer (it may be restarting with the DB)."""
    import requests

    try:
        return fn()
    except requests.RequestException:
        return None
    except AssertionError as exc:  # AirflowClient.ok on a 5xx
        if "-> 5" in str(exc):
            return None
        raise


def _restart_postgres() -> float:
    """Stop the server, keep it down ``PG_DOWN_SECONDS``, start it; return the seconds until it accepts connections
    again. It is started again whatever happens."""
    t0 = time.monotonic()
    try:
        subprocess.run(["pg_ctlcluster", *PG_CLUSTER, "stop", "-m", PG_STOP_MODE], check=True, timeout=120,
                       capture_output=True, text=True)
        time.sleep(PG_DOWN_SECONDS)
    finally:
        if not _pg_ready():
            subprocess.run(["pg_ctlcluster", *PG_CLUSTER, "start"], timeout=120, capture_output=True)
        wait_for(_pg_ready, 120, "PostgreSQL to accept connections again", interval=0.5)
    return time.monotonic() - t0


def _log_sizes(plat: ProductionPlatform) -> dict[str, int]:
    return {c: (plat.log_dir / f"{c}.log").stat().st_size for c in plat.components}


def _supervisor_restarts(plat: ProductionPlatform, since: dict[str, int]) -> dict[str, int]:
    """component -> restarts its supervisor logged after ``since`` (log sizes)."""
    found = {}
    for component, offset in since.items():
        with open(plat.log_dir / f"{component}.log", "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        count = sum(1 for line in text.splitlines() if "supervise:" in line and "; restart " in line)
        if count:
            found[component] = count
    return found


def test_training_survives_a_postgres_restart(scenario):
    """PostgreSQL restarted while a candidate trains: the run still reaches the gate, is approved and promotes one
    new version, and every component is running again afterwards (restarted by the platform if it exited)."""
    from include.lifecycle.config import load_use_case
    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.store import S3Store

    plat: ProductionPlatform = scenario["platform"]
    api: AirflowClient = scenario["api"]
    store = S3Store(plat.artifact_root, endpoint_url=scenario["moto"].endpoint, region_name="us-east-1",
                    **{k.lower(): v for k, v in MOTO_CREDENTIALS.items()})
    registry = registry_for(store, load_use_case(USE_CASE))
    ledger_before = len(registry.ledger())
    plat.start_components((scenario["victim"],))  # the worker lost in the scenario above comes back first
    wait_for(lambda: set(plat.running()) == set(plat.components), 60, "every component to run")
    pids_before = plat.running()
    run_id = api.trigger("churn__model_training", {"partition_date": DAY, "note": "production: PostgreSQL restart"})

    def training():
        if api.run("churn__model_training", run_id)["state"] in ("success", "failed"):
            raise AssertionError(api.diagnose("churn__model_training", run_id))
        return any(ti["task_id"] == "train_candidate" and ti["state"] == "running"
                   for ti in api.task_instances("churn__model_training", run_id))

    wait_for(training, 420, "a candidate to be training", interval=0.5)
    t_restart, restarted_at, log_sizes = time.monotonic(), datetime.now(UTC), _log_sizes(plat)
    down = _restart_postgres()
    print(f"PostgreSQL stopped (-m {PG_STOP_MODE}) while a candidate trained, accepting connections again after "
          f"{down:.1f}s")

    def heartbeating_again():
        """Scheduler, triggerer and DAG processor healthy, each with a heartbeat from after the restart."""
        resp = _answers(lambda: api.request("GET", "/monitor/health"))
        health = resp.json() if resp is not None and resp.status_code == 200 else {}
        beats = [(health.get(c) or {}).get(f"latest_{c}_heartbeat") for c in ("scheduler", "triggerer", "dag_processor")]
        return all(health.get(c, {}).get("status") == "healthy" for c in health) and all(
            b and datetime.fromisoformat(b) > restarted_at for b in beats)

    wait_for(heartbeating_again, 300, "scheduler, triggerer and DAG processor to heartbeat again", interval=1)
    t_back = time.monotonic()

    def at_gate():
        states = _answers(lambda: api.task_states("churn__model_training", run_id))
        if states and states.get("sme_approval") == "awaiting_input":
            return True
        run = _answers(lambda: api.run("churn__model_training", run_id))
        if run and run["state"] in ("success", "failed"):
            raise AssertionError(api.diagnose("churn__model_training", run_id))
        return False

    # 900 s: a task the scheduler queued just as PostgreSQL went away can lose its Celery message (seen on a loaded
    # CI run); Airflow re-queues it after [scheduler] task_queued_timeout (600 s), and the run still completes.
    wait_for(at_gate, 900, "the run to reach the SME gate after the restart", interval=2)
    t_gate = time.monotonic()
    restarted = _supervisor_restarts(plat, since=log_sizes)
    print(f"after the restart: heartbeats back in {t_back - t_restart:.0f}s, gate reached "
          f"{t_gate - t_restart:.0f}s after the restart; restarted by the platform: {restarted}")
    answered = api.answer("churn__model_training", run_id, "sme_approval", "Approve",
                          "Approved after the DB restart.", user="sme_alice")
    assert answered.status_code == 200, answered.text
    assert api.wait_run("churn__model_training", run_id, timeout=300) == "success", \
        api.diagnose("churn__model_training", run_id)
    print(f"restart until the run succeeded {time.monotonic() - t_restart:.0f}s")

    version = api.xcom("churn__model_training", run_id, "register")["version"]
    new = [(e["event"], e["version"]) for e in registry.ledger()[ledger_before:]]
    assert [e for e in new if e[0] == "registered"] == [("registered", version)], new
    assert [e for e in new if e[0] == "promoted"] == [("promoted", version)], new
    assert registry.alias_version("champion") == version
    assert set(plat.running()) == set(plat.components), plat.running()
    assert plat.running() == pids_before, "a component's supervisor was replaced instead of restarting it"
