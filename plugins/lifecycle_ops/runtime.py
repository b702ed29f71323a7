"""Airflow-side glue: turn a task's context and Airflow connections into library arguments.

DAG files stay thin by calling these helpers inside their task bodies. Nothing here runs at parse
time, and the heavy libraries are only imported by the ``include.lifecycle`` modules a task calls.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from typing import Any

DEFAULT_USE_CASE = "churn"
AWS_CONN_ID = os.environ.get("LIFECYCLE_AWS_CONN_ID", "aws_default")


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


def use_case(context: dict[str, Any] | None = None, name: str | None = None):  # -> UseCase
    from include.lifecycle.config import load_use_case

    if name is None and context is not None:
        name = (context.get("params") or {}).get("use_case")
    return load_use_case(name or DEFAULT_USE_CASE)


def partition_date(context: dict[str, Any]) -> date:
    """The partition a run works on: the ``partition_date`` param, else the data interval start.

    Manual runs triggered without a logical date have no data interval; they use the run's
    ``run_after`` day, so a rerun of the same run always lands on the same partition.
    """
    params = context.get("params") or {}
    explicit = params.get("partition_date")
    if explicit:
        return date.fromisoformat(str(explicit)[:10])
    for key in ("data_interval_start", "logical_date"):
        value = context.get(key)
        if value:
            return value.date() if isinstance(value, datetime) else date.fromisoformat(str(value)[:10])
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if run_after:
        return run_after.date()
    return datetime.utcnow().date()


def run_id(context: dict[str, Any]) -> str:
    """A filesystem/S3-safe form of the Airflow run id."""
    raw = context["run_id"]
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in raw)


def source_for(uc, store):  # -> acquisition source
    """The configured batch source of a use case, with its Airflow connection."""
    from include.lifecycle.data import acquisition

    src = uc.section("source")
    kind = src.get("kind", "local")
    if kind == "local":
        return acquisition.LocalLandingSource(store)
    if kind == "s3":
        import boto3

        client = boto3.client("s3", **s3_client_kwargs(src.get("conn_id", AWS_CONN_ID)))
        return acquisition.S3Source(client, src["bucket"], src.get("prefix", f"landing/{uc.name}"))
    if kind == "sql":
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(src.get("conn_id", "lifecycle_source_db")).get_hook()
        return acquisition.SqlSource(hook.get_conn, src.get("sql_table", f"{uc.name}_batches"))
    raise ValueError(f"use case {uc.name!r}: unknown source.kind {kind!r} (local, s3 or sql)")
