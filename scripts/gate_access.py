"""The SME gate's read-only login to the Airflow REST API, given to tasks as a connection from the environment.

A gate retry must find an answer an earlier try received but never applied (Airflow 3.3 can kill a task resumed
within seconds of parking, see ``lifecycle_ops.approval.earlier_answer``). Older tries' answers live only in the
metadata DB, readable over ``GET .../hitlDetails/tries/{n}``; tasks have no DB access, so the platform gives them
this viewer account as the ``lifecycle_airflow_api`` connection.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

GATE_USER = "lifecycle_gate"
GATE_ROLE = "viewer"  # reads DAG runs and HITL details; cannot answer, trigger or change anything
CONN_ID = "lifecycle_airflow_api"


def connection_env(base_url: str, password: str) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` as a URI (``lifecycle_platform.py env`` masks the password in a URI)."""
    parts = urlsplit(base_url)
    uri = f"http://{GATE_USER}:{quote(password, safe='')}@{parts.hostname}:{parts.port or 80}"
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": uri}
