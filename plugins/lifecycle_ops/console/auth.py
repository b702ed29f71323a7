"""Who may see a use case: Airflow's own user (JWT bearer or the UI's ``_token`` cookie) and its auth manager.

A plugin app is not authenticated by Airflow on its own (upstream PR #72655), so every route depends on
:func:`current_user`; a use case is readable when the auth manager lets the user read each of its DAGs.
``airflow.api_fastapi.core_api.security`` is internal API: tests/unit/test_console_app.py pins what we use.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException, Request, status


async def current_user(request: Request) -> Any:
    """The caller as Airflow's auth manager knows them; 401 without a credential, 403 on a bad token."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    creds = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
    return await get_user(request, None, creds)


def auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def use_case_dags(name: str) -> list[str]:
    """Every DAG the factory generates for a use case (reading a use case means reading all of them)."""
    from lifecycle_ops.factory import STAGES, dag_id

    return [dag_id(name, stage) for stage in STAGES]


def can_read(manager: Any, user: Any, name: str) -> bool:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return all(manager.is_authorized_dag(method="GET", user=user, details=DagDetails(id=dag))
               for dag in use_case_dags(name))


def require_use_case(name: str, user: Any, manager: Any) -> None:
    if not can_read(manager, user, name):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"user {getattr(user, 'get_name', lambda: '?')()!r} may not read the DAGs of {name!r}")


def user_name(user: Any) -> str:
    return str(getattr(user, "get_name", lambda: "")() or "")


UserDep = Depends(current_user)
ManagerDep = Depends(auth_manager)
