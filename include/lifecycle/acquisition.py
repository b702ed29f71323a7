"""Acquisition: fetch one interval's batch, and the labels delivered that day, from the configured source.

The batch bytes are copied *untouched* to ``incoming/<uc>/date=<d>/batch.csv``: validation judges
exactly what the source sent, and a rejected file can be replayed or shown to the source's owner
byte for byte. Labels are small and validated here (ids, allowed values) before they reach
``labels/<uc>/date=<d>/labels.parquet``.

Sources (``source.kind`` in the use-case YAML) share one tiny interface, ``fetch_batch`` /
``fetch_labels`` returning bytes or None, so a new source is one class:

* ``local``: ``landing/<uc>/batches/<d>.csv`` and ``labels/<d>.csv`` on the artifact store (the replay);
* ``s3``: the same layout under ``s3://<bucket>/<prefix>/`` through a boto3 client passed in;
* ``sql``: rows of ``source.sql_table`` whose ``batch_date`` is the day (labels: ``sql_labels_table``,
  default ``<sql_table>_labels``, with ``batch_date`` = delivery day), rendered to CSV bytes.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

import pandas as pd

from include.lifecycle.config import ConfigError, UseCase
from include.lifecycle.replay import as_date, batch_key, labels_key, landing_prefix
from include.lifecycle.storage import ArtifactStore, sha256_bytes
from include.lifecycle.validation import CsvUnreadableError, parse_csv_bytes

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s", "named": ":day", "numeric": ":1"}


class BatchMissingError(LookupError):
    """The source has no batch for the interval; the message names the use case, date and location."""


class Source(Protocol):
    def fetch_batch(self, uc: UseCase, day: date) -> bytes | None: ...

    def fetch_labels(self, uc: UseCase, day: date) -> bytes | None: ...

    def describe(self, uc: UseCase, day: date, what: str = "batch") -> str: ...


def incoming_key(uc: UseCase, day: date | str) -> str:
    return f"incoming/{uc.name}/date={as_date(day).isoformat()}/batch.csv"


def labels_partition_key(uc: UseCase, day: date | str) -> str:
    return f"labels/{uc.name}/date={as_date(day).isoformat()}/labels.parquet"


class LocalLandingSource:
    """The replay's landing area on the artifact store itself."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def _key(self, uc: UseCase, day: date, what: str) -> str:
        return batch_key(uc, day) if what == "batch" else labels_key(uc, day)

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
                         paramstyle=cfg.get("sql_paramstyle", "qmark"))  # fmt: skip
    raise ConfigError(f"use case {uc.name!r}: source.kind must be local, s3 or sql, got {kind!r}")


def acquire(store: ArtifactStore, uc: UseCase, day: date | str, source: Source) -> dict[str, Any]:
    """Copy the day's batch, byte for byte, to ``incoming/<uc>/date=<d>/batch.csv`` (overwrites on rerun)."""
    d = as_date(day)
    data = source.fetch_batch(uc, d)
    if data is None:
        raise BatchMissingError(
            f"use case {uc.name!r}: no batch for {d.isoformat()} at {source.describe(uc, d, 'batch')}"
        )
    key = incoming_key(uc, d)
    store.write_bytes(key, data)
    return {
        "use_case": uc.name,
        "date": d.isoformat(),
        "key": key,
        "bytes": len(data),
        "sha256": sha256_bytes(data),
        "source": source.describe(uc, d, "batch"),
    }


def ingest_labels(store: ArtifactStore, uc: UseCase, day: date | str, source: Source) -> dict[str, Any]:
    """Validate the labels delivered on ``day`` and write ``labels/<uc>/date=<d>/labels.parquet``.

    Rows with a null or duplicated id, or a target outside ``dataset.labels``, go to
    ``quarantine/<uc>/labels/date=<d>/rows.parquet`` with their reasons; the rest are written. A
    rerun replaces both. No delivery that day returns ``{"rows": 0}``.
    """
    d = as_date(day)
    out_key = labels_partition_key(uc, d)
    q_prefix = f"quarantine/{uc.name}/labels/date={d.isoformat()}"
    store.delete_prefix(out_key.rsplit("/", 1)[0] + "/")
    store.delete_prefix(q_prefix + "/")
    base = {"use_case": uc.name, "date": d.isoformat(), "key": None, "sha256": None}
    data = source.fetch_labels(uc, d)
    if data is None:
        return {**base, "rows": 0, "received": 0, "quarantined": 0, "reasons": []}

    id_col, target = uc.id_column, uc.target
    try:
        parsed = parse_csv_bytes(data)
    except CsvUnreadableError as exc:
        store.write_bytes(f"{q_prefix}/labels.csv", data)
        log.warning("use case %s, labels of %s unreadable: %s", uc.name, d, exc.reason)
        return {**base, "rows": 0, "received": exc.received, "quarantined": exc.received, "reasons": [exc.reason]}

    raw = parsed.frame
    reasons: list[list[str]] = [[] for _ in range(len(raw))]
    counts: dict[str, int] = {}

    def flag(i: int, kind: str, text: str) -> None:
        reasons[i].append(text)
        counts[kind] = counts.get(kind, 0) + 1

    missing = [c for c in (id_col, target) if c not in raw.columns]
    allowed = {str(label): label for label in uc.labels}
    if missing:
        for i in range(len(raw)):
            flag(i, f"labels file lacks columns {missing}", f"labels file lacks columns {missing}")
    else:
        ids = raw[id_col]
        dup = ids.notna() & ids.duplicated(keep=False)
        for i, (ident, value, is_dup) in enumerate(zip(ids, raw[target], dup, strict=True)):
            if pd.isna(ident):
                flag(i, f"{id_col}: null id", f"{id_col}: null id")
            elif is_dup:
                flag(i, f"{id_col}: duplicate id", f"{id_col}: duplicate id {ident!r}")
            if pd.isna(value):
                flag(i, f"{target}: null label", f"{target}: null label")
            elif str(value) not in allowed:
                flag(i, f"{target}: label not in {list(uc.labels)}", f"{target}: {value!r} not in {list(uc.labels)}")
    if parsed.malformed:
        counts["malformed record (wrong number of fields)"] = len(parsed.malformed)

    good = [i for i, r in enumerate(reasons) if not r]
    labels = None
    if not missing:
        labels = raw.iloc[good][[id_col, target]].reset_index(drop=True)
        labels[id_col] = labels[id_col].astype(str)
        labels[target] = labels[target].map(lambda v: allowed[str(v)])
    bad_rows = [
        {"_line": parsed.lines[i], **{c: raw.iat[i, j] for j, c in enumerate(raw.columns)}, "_reasons": "; ".join(r)}
        for i, r in enumerate(reasons)
        if r
    ] + [
        {"_line": line, "_reasons": f"line {line}: {len(rec)} fields, the header has {len(parsed.header)}"}
        for line, rec in parsed.malformed
    ]
    result = {
        **base,
        "received": parsed.received,
        "quarantined": len(bad_rows),
        "reasons": [f"{kind}: {n} row(s)" for kind, n in counts.items()],
    }
    if bad_rows:
        frame = pd.DataFrame(bad_rows)
        frame = frame.astype(object).where(frame.notna(), None)
        for col in frame.columns:
            if col != "_line":
                frame[col] = frame[col].map(lambda v: v if v is None else str(v))
        frame["_line"] = frame["_line"].astype("int64")
        store.write_frame(f"{q_prefix}/rows.parquet", frame.sort_values("_line").reset_index(drop=True))
    result["rows"] = 0 if labels is None else len(labels)
    if labels is not None and len(labels):
        result["sha256"] = store.write_frame(out_key, labels)
        result["key"] = out_key
    if result["quarantined"]:
        log.warning("use case %s, labels of %s: %s", uc.name, d, result["reasons"])
    return result
