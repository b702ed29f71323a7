"""One write request at a time inside the API server when the metadata DB is SQLite (the embedded default).

Measured (RELIABILITY.md): 20 concurrent ``POST .../dagRuns`` on a fresh ``make run`` gave 13 to 20 failures.
Each request holds SQLite's single write lock from its first flush until its session commits, and that commit
needs a free worker thread; concurrent writers waiting for the lock hold those threads, so with a short lock
timeout they fail ("Database error" after 5 s) and with a long one the whole API server stalls. Queued here,
asynchronously and before any thread or connection is taken, writers never wait on each other inside the
server; reads are untouched (WAL). PostgreSQL deployments are not affected (the middleware passes through).
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.plugins_manager import AirflowPlugin

READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sqlite() -> bool:
    from airflow.configuration import conf

    return conf.get("database", "sql_alchemy_conn", fallback="").startswith("sqlite")


class SerializedSQLiteWrites:
    """ASGI middleware: requests that may write wait their turn on an asyncio lock (no thread is held)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.enabled = _sqlite()
        self._lock: asyncio.Lock | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not self.enabled or scope.get("type") != "http" or scope.get("method") in READS:
            await self.app(scope, receive, send)
            return
        if self._lock is None:  # created on the server's own event loop
            self._lock = asyncio.Lock()
        async with self._lock:
            await self.app(scope, receive, send)


class SQLiteWritesPlugin(AirflowPlugin):
    name = "lifecycle_sqlite_writes"
    fastapi_root_middlewares = [{"middleware": SerializedSQLiteWrites, "name": "one SQLite writer at a time"}]
