"""Airflow-side glue: turn a task's context and Airflow connections into library arguments.

Task bodies call these helpers; nothing here runs at parse time, and the heavy libraries are only imported by
the ``include.lifecycle`` modules a task calls.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

AWS_CONN_ID = os.environ.get("LIFECYCLE_AWS_CONN_ID", "aws_default")


def config_dir() -> Path | None:
    """The deployment's use-case folder (``$LIFECYCLE_CONFIG_DIR``), None for the bundled ``include/config``."""
    value = os.environ.get("LIFECYCLE_CONFIG_DIR")
    return Path(value) if value else None


def s3_client_kwargs(conn_id: str = AWS_CONN_ID) -> dict[str, Any]:
    """boto3 client arguments from the Airflow ``aws`` connection (endpoint_url for MinIO/moto/...)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    kwargs: dict[str, Any] = {
        "endpoint_url": extra.get("endpoint_url") or None,
        "region_name": extra.get("region_name") or None,
        "aws_access_key_id": conn.login or None,
        "aws_secret_access_key": conn.password or None,
    }
    return {k: v for k, v in kwargs.items() if v}


def artifact_store(root: str | None = None):  # -> ArtifactStore
    """The artifact store for this deployment: ``$LIFECYCLE_ARTIFACT_ROOT`` (local dir or s3://)."""
    from include.lifecycle.store import default_root, open_store

    root = root or default_root()
    if root.startswith("s3://"):
        return open_store(root, **s3_client_kwargs())
    return open_store(root)


_USE_CASES: dict[tuple[str, str, int], Any] = {}


def use_case(name: str):  # -> UseCase
    """The use case a generated DAG was built for, validated again in the task (the YAML may have changed).

    Cached per process by the file's mtime: a task calls this from several steps, and a changed YAML still
    reloads.
    """
    from include.lifecycle.config import default_config_dir, load_use_case

    path = (config_dir() or default_config_dir()) / f"{name}.yaml"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return load_use_case(name, config_dir())  # raises the loader's own clear error
    key = (name, str(path), stamp)
    if key not in _USE_CASES:
        _USE_CASES.clear()
        _USE_CASES[key] = load_use_case(name, config_dir())
    return _USE_CASES[key]


def partition_date(context: dict[str, Any]) -> date:
    """The day a run works on: its partition key, else the ``partition_date`` param, else the run's day.

    Partitioned runs (acquisition's cron, the asset-partitioned consumers, a manual run given a partition key)
    carry ``YYYY-MM-DD`` keys. A manual run without a key uses the param or its ``run_after`` day, so a rerun of
    the same run always lands on the same partition.
    """
    dag_run = context.get("dag_run")
    key = context.get("partition_key") or getattr(dag_run, "partition_key", None)
    if key:
        return date.fromisoformat(str(key)[:10])
    explicit = (context.get("params") or {}).get("partition_date")
    if explicit:
        return date.fromisoformat(str(explicit)[:10])
    for name in ("data_interval_start", "logical_date"):
        value = context.get(name)
        if value:
            return value.date() if isinstance(value, datetime) else date.fromisoformat(str(value)[:10])
    run_after = getattr(dag_run, "run_after", None)
    return run_after.date() if run_after else datetime.now(UTC).date()


def run_id(context: dict[str, Any]) -> str:
    """A filesystem/S3-safe form of the Airflow run id."""
    from include.lifecycle.layout import safe

    return safe(context["run_id"])


def source_for(uc, store):  # -> Source
    """The use case's batch source, with its live client or connection from Airflow (the library's one factory)."""
    from include.lifecycle.data.sources import source_from_config

    cfg = uc.source
    kind = cfg.get("kind", "local")
    if kind == "s3":
        import boto3

        client = boto3.client("s3", **s3_client_kwargs(cfg.get("conn_id") or AWS_CONN_ID))
        return source_from_config(store, uc, s3_client=client)
    if kind == "sql":
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(cfg.get("conn_id") or "lifecycle_source_db").get_hook()
        return source_from_config(store, uc, connect=hook.get_conn)
    return source_from_config(store, uc)
