"""Production mode: PostgreSQL metadata DB, CeleryExecutor on Redis with several workers, artifacts on S3.

    make run MODE=production      # or LIFECYCLE_MODE=production python scripts/lifecycle_platform.py start
    make stop MODE=production

The same :class:`~scripts.platform_core.Platform` machinery as the embedded mode (pid files, process
groups, ``wait_ready``) runs more components: ``celery-worker-1..N`` beside the API server, scheduler, DAG
processor and triggerer. What differs is the environment, built here once so that the local run, the
integration test and ``deploy/docker-compose.yaml`` (checked by ``tests/dags/test_deploy_consistency.py``)
cannot drift apart:

* metadata DB ``postgresql+psycopg2://postgres@127.0.0.1:5432/<db>`` (``LIFECYCLE_PG_URL`` overrides it),
* Celery broker ``redis://127.0.0.1:6379/<n>`` (``LIFECYCLE_REDIS_URL``), results in PostgreSQL,
* ``LIFECYCLE_ARTIFACT_ROOT=s3://<bucket>/<prefix>``; the S3 endpoint reaches the tasks only through the
  ``aws_default`` connection (filled from ``LIFECYCLE_S3_ENDPOINT_URL`` by ``airflow_settings.yaml``).

Each component runs under :mod:`scripts.supervise`, which starts it again when it exits on a failure: Airflow's
scheduler, DAG processor and triggerer exit when PostgreSQL restarts, and expect a supervisor (systemd, k8s,
compose's ``restart: unless-stopped``) to bring them back. ``make stop`` still stops every process.

Without ``LIFECYCLE_S3_ENDPOINT_URL`` a laptop run starts a local S3-compatible server (moto) in its own
process group and stops it with the platform; its objects live in memory until ``make stop``.

This module is imported by task processes (``worker_hostname`` is the configured hostname callable), so
it imports nothing heavy at module level.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import db_settings
from scripts.local_s3 import MOTO_CREDENTIALS, MotoServer, ensure_bucket, s3_client
from scripts.platform_core import (
    EMBEDDED_COMPONENTS,
    VENV_BIN,
    Platform,
    PlatformError,
    live_pids,
    pid_alive,
    port_in_use,
    signal_tree,
)

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_lifecycle"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_BUCKET = "lifecycle-artifacts"
DEFAULT_PREFIX = "lifecycle"
DEFAULT_WORKER_CONCURRENCY = "2"
HOSTNAME_CALLABLE = "scripts.production.worker_hostname"
SUPERVISOR = Path(__file__).resolve().with_name("supervise.py")
# Re-exported for the tests and benchmarks that drive production mode.
__all__ = ["MOTO_CREDENTIALS", "MotoServer", "ProductionPlatform", "create_database", "drop_database", "ensure_bucket",
           "flush_redis", "free_redis_db", "pg_url", "production_platform", "redis_url", "s3_client", "worker_hostname"]


@functools.cache
def _fqdn() -> str:
    return socket.getfqdn()


def worker_hostname() -> str:
    """The host name Airflow records on task instances: the machine name, plus the worker's own name.

    Two Celery workers on one machine would otherwise both report the same FQDN, and nobody could tell
    from the UI (or a test) which worker ran a task. In containers ``LIFECYCLE_WORKER_NAME`` is unset and
    the container hostname is already unique.
    """
    fqdn = _fqdn()
    name = os.environ.get("LIFECYCLE_WORKER_NAME")
    return f"{name}.{fqdn}" if name else fqdn


def worker_components(workers: int) -> tuple[str, ...]:
    return tuple(f"celery-worker-{i}" for i in range(1, workers + 1))


# -- PostgreSQL ----------------------------------------------------------------------------------------
def pg_url(db_name: str | None = None) -> str:
    """The metadata DB URL: ``$LIFECYCLE_PG_URL`` or the loopback default, with ``db_name`` if given."""
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("LIFECYCLE_PG_URL") or DEFAULT_PG_URL)
    if db_name:
        url = url.set(database=db_name)
    return url.render_as_string(hide_password=False)


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _admin_connection(url: str):
    """A psycopg2 connection to the server's maintenance DB (CREATE/DROP DATABASE cannot run in a tx)."""
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = psycopg2.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=parsed.username,
                            password=parsed.password, dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    return conn, parsed.database


def database_exists(url: str) -> bool:
    conn, name = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def create_database(url: str, exist_ok: bool = False) -> bool:
    """Create the URL's database; return True if it was created (False if it existed and exist_ok)."""
    from psycopg2 import sql

    conn, name = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is not None:
                if exist_ok:
                    return False
                raise PlatformError(f"database {name!r} already exists")
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def drop_database(url: str) -> None:
    """Drop the URL's database, disconnecting whoever still holds it (PostgreSQL 13+)."""
    from psycopg2 import sql

    conn, name = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


# -- Redis -----------------------------------------------------------------------------------------------
def release(db_name: str, redis_db: int) -> list[str]:
    """Drop a platform's own database and flush its Redis DB; the problems met, as text (tear-down goes on)."""
    problems = []
    for cleanup in (lambda: drop_database(pg_url(db_name)), lambda: flush_redis(redis_url(redis_db))):
        try:
            cleanup()
        except Exception as exc:  # noqa: BLE001 - report, keep tearing down
            problems.append(repr(exc))
    return problems


def redis_url(db: int | None = None) -> str:
    """The broker URL: ``$LIFECYCLE_REDIS_URL`` or the loopback default, with DB number ``db`` if given."""
    base = os.environ.get("LIFECYCLE_REDIS_URL") or DEFAULT_REDIS_URL
    if db is None:
        return base
    scheme, _, rest = base.partition("://")
    hostpart = rest.split("/", 1)[0]
    return f"{scheme}://{hostpart}/{int(db)}"


def flush_redis(url: str) -> None:
    """Empty one Redis DB number (the broker's queues and unacked messages), nothing else."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def free_redis_db(candidates: range = range(15, 0, -1)) -> int:
    """An empty Redis DB number, picked at random (tests use their own so they never eat another run's queue)."""
    import random

    import redis

    order = list(candidates)
    random.shuffle(order)
    for db in order:
        client = redis.Redis.from_url(redis_url(db), socket_connect_timeout=5)
        try:
            if client.dbsize() == 0:
                return db
        finally:
            client.close()
    raise PlatformError("no empty Redis DB number left; flush one or use another Redis")


# -- the platform ---------------------------------------------------------------------------------------------
@dataclass
class ProductionPlatform(Platform):
    """A :class:`Platform` on PostgreSQL + Celery/Redis + S3; may also own a local moto S3 server."""

    mode: str = "production"
    sql_alchemy_conn: str = DEFAULT_PG_URL
    broker_url: str = DEFAULT_REDIS_URL
    artifact_root: str = f"s3://{DEFAULT_BUCKET}/{DEFAULT_PREFIX}"
    s3_endpoint: str | None = None
    manage_s3: bool = False
    worker_concurrency: str = DEFAULT_WORKER_CONCURRENCY

    def __post_init__(self) -> None:
        super().__post_init__()
        self.moto = MotoServer(self.run_dir) if self.manage_s3 else None

    @property
    def bucket(self) -> str:
        return self.artifact_root.removeprefix("s3://").split("/", 1)[0]

    @property
    def workers(self) -> tuple[str, ...]:
        return tuple(c for c in self.components if c.startswith("celery-worker-"))

    def endpoint(self) -> str | None:
        if self.moto is not None:
            return self.moto.endpoint if self.moto.port else None
        return self.s3_endpoint

    def production_env(self) -> dict[str, str]:
        """The keys that make this deployment "production"; deploy/docker-compose.yaml sets the same ones."""
        env = {
            "LIFECYCLE_MODE": "production",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.sql_alchemy_conn}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": self.worker_concurrency,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
            "LIFECYCLE_ARTIFACT_ROOT": self.artifact_root,
            # Only airflow_settings.yaml reads this, to fill the aws_default connection's endpoint_url;
            # tasks get the endpoint from that connection (lifecycle_ops.runtime.s3_client_kwargs).
            "LIFECYCLE_S3_ENDPOINT_URL": self.endpoint() or "",
        }
        if self.moto is not None:
            env.update(MOTO_CREDENTIALS)
        return env

    def env(self) -> dict[str, str]:
        env = super().env()
        for key in db_settings.sqlite_env():  # SQLite's lock timeout means nothing to (and breaks) psycopg2
            env.pop(key, None)
        env.update(self.production_env())
        env.update(self.extra_env)  # a caller's overrides still win, as in Platform.env()
        return env

    def preflight(self) -> None:
        """Fail early, with a reason, when the installed Celery stack cannot run (before any process starts)."""
        code = "import airflow.providers.celery.executors.celery_executor"
        proc = subprocess.run([str(VENV_BIN / "python"), "-c", code], env=self.env(), capture_output=True,
                              text=True, timeout=120)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise PlatformError(
                f"the CeleryExecutor cannot be imported here ({last}). The installed celery does not fit "
                f"apache-airflow-providers-celery; pin a celery release the provider supports in "
                f"requirements.txt and re-lock (`make lock`, then `make setup`).")

    def start(self, wait: bool = True, timeout: float = 300) -> None:
        alive = self.running()
        if alive and set(alive) == set(self.components):
            super().start(wait=wait, timeout=timeout)  # prints "already running"
            return
        if port_in_use(self.port) and not alive:
            super().start(wait=wait, timeout=timeout)  # raises the "port in use" error, starts nothing
            return
        self.preflight()
        created = create_database(self.sql_alchemy_conn, exist_ok=True)
        db = self.sql_alchemy_conn.rsplit("/", 1)[-1]
        print(f"metadata DB: PostgreSQL database {db!r} {'created' if created else 'exists'}; "
              f"Celery broker {self.broker_url}; {len(self.workers)} workers")
        started_moto = False
        if self.moto is not None:
            started_moto = self.moto.pid() is None
            self.moto.start()
            print(f"S3: LIFECYCLE_S3_ENDPOINT_URL is not set, so a local moto S3 server runs at "
                  f"{self.moto.endpoint} (in memory: artifacts are gone after `make stop MODE=production`; "
                  f"set LIFECYCLE_S3_ENDPOINT_URL and AWS_* to use a real store)")
        else:
            print(f"S3: using the store at {self.s3_endpoint or 'AWS default endpoint'} for {self.artifact_root}")
        env = self.env()
        try:
            made = ensure_bucket(self.endpoint(), self.bucket, aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", ""),
                                 aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", ""))
            if made:
                print(f"S3: created bucket {self.bucket}")
            super().start(wait=wait, timeout=timeout)
        except BaseException:
            if started_moto and self.moto is not None:
                self.moto.stop()
            raise

    def stop(self, deadline: float = 20) -> list[str]:
        stopped = super().stop(deadline=deadline)
        moto = self.moto or MotoServer(self.run_dir)
        if moto.stop():
            stopped.append("s3 (moto)")
        return stopped

    def launch_command(self, component: str) -> list[str]:
        """The component under :mod:`scripts.supervise`: restarted when it exits on a failure (a lost metadata
        DB, for one), as systemd's ``Restart=on-failure`` or compose's ``restart: unless-stopped`` would."""
        return [str(VENV_BIN / "python"), str(SUPERVISOR), "--name", component, "--",
                *self.component_command(component)]

    def worker_hostnames(self) -> dict[str, str]:
        """component -> the hostname its task instances report (see :func:`worker_hostname`)."""
        fqdn = _fqdn()
        return {c: f"{c}.{fqdn}" for c in self.workers}

    def kill_component(self, component: str, sig: int = signal.SIGKILL) -> set[int]:
        """Lose a component the hard way, as a crashed machine would: signal its process group (pid from
        its pid file) and every descendant, task processes in their own groups included. Returns the pids."""
        try:
            pid = int(self._pid_file(component).read_text().strip())
        except (OSError, ValueError) as exc:
            raise PlatformError(f"{component} has no pid file in {self.run_dir}") from exc
        targets = signal_tree({pid}, sig)
        end = time.monotonic() + 10
        while time.monotonic() < end and live_pids(targets):
            time.sleep(0.1)
        pid_alive(pid)  # reaps it if it is our child
        return targets

    def describe(self) -> str:
        lines = [super().describe().replace("`make stop`", "`make stop MODE=production`"),
                 f"Metadata DB: {_masked(self.sql_alchemy_conn)}",
                 f"Celery: broker {self.broker_url}, workers {', '.join(self.workers)} "
                 f"(concurrency {self.worker_concurrency} each)",
                 f"Artifacts: {self.artifact_root} via the aws_default connection (endpoint {self.endpoint()})"]
        return "\n".join(lines)


def production_platform(home: Path | str, port: int, db_name: str | None = None, redis_db: int | None = None,
                        s3_endpoint: str | None = None, bucket: str | None = None, workers: int = 2,
                        **kwargs: Any) -> ProductionPlatform:
    """The production-mode platform for ``home``/``port`` (``make run MODE=production``, the tests).

    ``db_name``/``redis_db`` pick a database and a broker DB number on the loopback servers (or on
    ``$LIFECYCLE_PG_URL`` / ``$LIFECYCLE_REDIS_URL``); ``s3_endpoint`` (else ``$LIFECYCLE_S3_ENDPOINT_URL``)
    is an S3-compatible store to use as is; with neither, the platform runs its own moto server.
    """
    if workers < 1:
        raise PlatformError("production mode needs at least one Celery worker")
    conn = pg_url(db_name)
    endpoint = s3_endpoint or os.environ.get("LIFECYCLE_S3_ENDPOINT_URL") or None
    env_root = os.environ.get("LIFECYCLE_ARTIFACT_ROOT", "")
    if bucket:
        root = f"s3://{bucket}/{DEFAULT_PREFIX}"
    elif env_root.startswith("s3://"):
        root = env_root.rstrip("/")
    else:
        root = f"s3://{os.environ.get('LIFECYCLE_S3_BUCKET', DEFAULT_BUCKET)}/{DEFAULT_PREFIX}"
    return ProductionPlatform(
        home=Path(home), port=port, components=EMBEDDED_COMPONENTS + worker_components(workers),
        sql_alchemy_conn=conn, broker_url=redis_url(redis_db), artifact_root=root, s3_endpoint=endpoint,
        manage_s3=endpoint is None,
        worker_concurrency=os.environ.get("LIFECYCLE_WORKER_CONCURRENCY", DEFAULT_WORKER_CONCURRENCY), **kwargs)

