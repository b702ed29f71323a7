"""Where a use case's daily batches and labels come from: one small interface, three kinds of source.

``fetch_batch`` / ``fetch_labels`` return the bytes the source holds for a day, or None, so a new source is
one class. :func:`source_from_config` is the one factory (the DAGs hand it their live S3 client or DB-API
connection from Airflow hooks):

* ``local``: ``<source.landing>/batches/<d>.csv`` and ``labels/<d>.csv`` on the artifact store (the replay);
* ``s3``: the same layout under ``s3://<source.bucket>/<source.landing>/`` through a boto3 client;
* ``sql``: rows of ``source.sql_table`` whose ``batch_date`` is the day (labels: ``sql_labels_table``,
  default ``<sql_table>_labels``), rendered to CSV bytes, with the driver's ``sql_paramstyle``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

from include.lifecycle.config import ConfigError, UseCase
from include.lifecycle.layout import as_date, landing_batch_key, landing_labels_key, landing_prefix
from include.lifecycle.store import ArtifactStore

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s", "named": ":day", "numeric": ":1"}


class BatchMissingError(LookupError):
    """The source has no batch for the interval; the message names the use case, date and location."""


class Source(Protocol):
    def fetch_batch(self, uc: UseCase, day: date) -> bytes | None: ...

    def fetch_labels(self, uc: UseCase, day: date) -> bytes | None: ...

    def describe(self, uc: UseCase, day: date, what: str = "batch") -> str: ...


class LocalLandingSource:
    """The replay's landing area on the artifact store itself."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def _key(self, uc: UseCase, day: date, what: str) -> str:
        return landing_batch_key(uc, day) if what == "batch" else landing_labels_key(uc, day)

    def _get(self, key: str) -> bytes | None:
        return self.store.read_bytes(key) if self.store.exists(key) else None

    def fetch_batch(self, uc: UseCase, day: date) -> bytes | None:
        return self._get(self._key(uc, day, "batch"))

    def fetch_labels(self, uc: UseCase, day: date) -> bytes | None:
        return self._get(self._key(uc, day, "labels"))

    def describe(self, uc: UseCase, day: date, what: str = "batch") -> str:
        return self.store.uri(self._key(uc, day, what))


class S3Source:
    """``s3://<bucket>/<prefix>/batches/<d>.csv`` and ``.../labels/<d>.csv`` (prefix default: source.landing)."""

    def __init__(self, client: Any, bucket: str, prefix: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, uc: UseCase, day: date, what: str) -> str:
        prefix = (self.prefix if self.prefix is not None else landing_prefix(uc)).strip("/")
        folder = "batches" if what == "batch" else "labels"
        return f"{prefix}/{folder}/{as_date(day).isoformat()}.csv".lstrip("/")

    def _get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def fetch_batch(self, uc: UseCase, day: date) -> bytes | None:
        return self._get(self._key(uc, day, "batch"))

    def fetch_labels(self, uc: UseCase, day: date) -> bytes | None:
        return self._get(self._key(uc, day, "labels"))

    def describe(self, uc: UseCase, day: date, what: str = "batch") -> str:
        return f"s3://{self.bucket}/{self._key(uc, day, what)}"


class SqlSource:
    """Rows of a table whose ``date_column`` equals the day, rendered to CSV (without that column).

    ``connect`` returns a fresh DB-API connection (closed after each fetch); ``paramstyle`` is the
    driver's (sqlite3: qmark, psycopg2: pyformat).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        table: str,
        labels_table: str | None = None,
        date_column: str = "batch_date",
        paramstyle: str = "qmark",
    ) -> None:
        for name in (table, labels_table or table, date_column):
            if not _IDENTIFIER.match(name):
                raise ConfigError(f"not a plain SQL identifier: {name!r}")
        if paramstyle not in _PLACEHOLDER:
            raise ConfigError(f"unknown DB-API paramstyle {paramstyle!r}")
        self.connect = connect
        self.table = table
        self.labels_table = labels_table or f"{table}_labels"
        self.date_column = date_column
        self.paramstyle = paramstyle

    def _query(self, table: str, day: date) -> bytes | None:
        placeholder = _PLACEHOLDER[self.paramstyle]
        params: Any = {"day": day.isoformat()} if self.paramstyle in ("named", "pyformat") else (day.isoformat(),)
        if self.paramstyle == "pyformat":
            placeholder = "%(day)s"
        sql = f"SELECT * FROM {table} WHERE {self.date_column} = {placeholder}"  # identifiers checked above
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            conn.close()
        if not rows:
            return None
        keep = [i for i, n in enumerate(names) if n != self.date_column]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([names[i] for i in keep])
        for row in rows:
            writer.writerow(["" if row[i] is None else repr(row[i]) if isinstance(row[i], float) else row[i]
                             for i in keep])  # fmt: skip
        return buf.getvalue().encode("utf-8")

    def fetch_batch(self, uc: UseCase, day: date) -> bytes | None:
        return self._query(self.table, as_date(day))

    def fetch_labels(self, uc: UseCase, day: date) -> bytes | None:
        return self._query(self.labels_table, as_date(day))

    def describe(self, uc: UseCase, day: date, what: str = "batch") -> str:
        table = self.table if what == "batch" else self.labels_table
        return f"sql table {table} where {self.date_column} = '{as_date(day).isoformat()}'"


def source_from_config(
    store: ArtifactStore, uc: UseCase, *, s3_client: Any = None, connect: Callable[[], Any] | None = None
) -> Source:
    """The source ``source.kind`` names; the caller supplies the live client/connection (the DAG's hooks)."""
    cfg = uc.section("source")
    kind = cfg.get("kind", "local")
    if kind == "local":
        return LocalLandingSource(store)
    if kind == "s3":
        if s3_client is None or not cfg.get("bucket"):
            raise ConfigError(f"use case {uc.name!r}: source.kind s3 needs source.bucket and an S3 client")
        return S3Source(s3_client, cfg["bucket"], cfg.get("landing"))
    if kind == "sql":
        if connect is None or not cfg.get("sql_table"):
            raise ConfigError(f"use case {uc.name!r}: source.kind sql needs source.sql_table and a connection")
        return SqlSource(connect, cfg["sql_table"], cfg.get("sql_labels_table"),
                         date_column=cfg.get("date_column", "batch_date"),
                         paramstyle=cfg.get("sql_paramstyle", "qmark"))
    raise ConfigError(f"use case {uc.name!r}: source.kind must be local, s3 or sql, got {kind!r}")
