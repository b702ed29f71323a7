"""SQLite connection settings for the embedded platform, imported by every Airflow component by dotted path.

Airflow reads ``[database] sql_alchemy_connect_args`` (and ``..._async``) as ``module.attribute``. SQLite lets one
writer in at a time and Python's driver gives up after a 5 s lock wait: on a busy machine a burst of REST
triggers then failed with 500 "Database error" (measured in RELIABILITY.md). Waiting longer turns those into
slower answers instead of lost requests; WAL (Airflow sets it) keeps readers out of the writers' way.
"""

from __future__ import annotations

# Seconds a connection waits for SQLite's write lock before "database is locked". Long enough to outlast a busy
# scheduler loop plus a task burst on 2 cores; a request still fails, with the lock error, if it is ever reached.
SQLITE_LOCK_TIMEOUT_S = 60

SQLITE_CONNECT_ARGS = {"timeout": SQLITE_LOCK_TIMEOUT_S}
SQLITE_CONNECT_ARGS_ASYNC = {"timeout": SQLITE_LOCK_TIMEOUT_S}  # aiosqlite passes it on to sqlite3.connect

CONNECT_ARGS_PATH = f"{__name__}.SQLITE_CONNECT_ARGS"
CONNECT_ARGS_ASYNC_PATH = f"{__name__}.SQLITE_CONNECT_ARGS_ASYNC"


def sqlite_env() -> dict[str, str]:
    """The settings that point Airflow at the dicts above (only meaningful with a sqlite:// metadata DB)."""
    return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": CONNECT_ARGS_PATH,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": CONNECT_ARGS_ASYNC_PATH}
