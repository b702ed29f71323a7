"""Request dependencies of the console: the store, a known use case, the predictor, a run's partition.

Each is a FastAPI dependency so the unit tests swap in a local store and a fake auth manager
(``app.dependency_overrides``) while the code under test stays the code that runs in the API server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request, status

from lifecycle_ops.console.auth import auth_manager, can_read, current_user, require_use_case

_PREDICTORS: dict[str, Any] = {}


def get_store() -> Any:
    from lifecycle_ops.runtime import artifact_store

    return artifact_store()


def known_use_cases() -> list[str]:
    from include.lifecycle.config import list_use_cases
    from lifecycle_ops.runtime import config_dir

    return list_use_cases(config_dir())


def load_use_case(name: str) -> Any:
    from lifecycle_ops.runtime import use_case

    return use_case(name)


def use_case_dep(uc: str, user: Any = Depends(current_user), manager: Any = Depends(auth_manager)) -> Any:
    """The path's use case: 404 when no YAML names it (before any store key is built), 403 when unreadable."""
    if uc not in known_use_cases():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no use case {uc!r}")
    require_use_case(uc, user, manager)
    return load_use_case(uc)


def readable_use_cases(user: Any = Depends(current_user), manager: Any = Depends(auth_manager)) -> list[str]:
    return [name for name in known_use_cases() if can_read(manager, user, name)]


def get_predictor(store: Any = Depends(get_store)) -> Any:
    """One predictor (and so one model cache) per store root, for the life of the API server."""
    from include.lifecycle.serve.predict import Predictor

    root = str(getattr(store, "root", id(store)))
    if root not in _PREDICTORS:
        _PREDICTORS[root] = Predictor(store)
    return _PREDICTORS[root]


def inbox_folder() -> Path:
    """The embedded default's local alert inbox (``$AIRFLOW_HOME/alerts/inbox``)."""
    from include.lifecycle.inbox import inbox_folder as folder

    return folder(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow")))


def run_partition(dag_id: str, run_id: str) -> str | None:
    """The day a DAG run worked on (its partition key, else its partition_date param, else its logical day)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one_or_none()
        if run is None:
            return None
        key = getattr(run, "partition_key", None) or (run.conf or {}).get("partition_date")
        if key:
            return str(key)[:10]
        moment = run.logical_date or run.run_after
        return moment.date().isoformat() if moment else None


def base_path(request: Request) -> str:
    """Where the app is mounted (``/lifecycle`` in the API server), for links inside pages."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _latest_runs(dag_ids: list[str]) -> dict[str, dict[str, Any]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func

    out: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        newest = (session.query(DagRun.dag_id, func.max(DagRun.run_after).label("at"))
                  .filter(DagRun.dag_id.in_(dag_ids)).group_by(DagRun.dag_id).subquery())
        rows = session.query(DagRun).join(newest, (DagRun.dag_id == newest.c.dag_id) & (DagRun.run_after == newest.c.at))
        for run in rows:
            out[run.dag_id] = {"run_id": run.run_id, "state": str(run.state), "when": run.run_after.isoformat()}
    return out


def latest_runs() -> Any:
    """A function dag ids -> their newest run (a dependency, so tests need no metadata DB)."""
    return _latest_runs


def partition_of_run() -> Any:
    return run_partition
