"""The monitoring time series: one row per day, upserted with compare-and-swap so parallel days never lose rows."""

from __future__ import annotations

import io
import logging
from typing import Any

import pandas as pd

from include.lifecycle.config import UseCase
from include.lifecycle.layout import timeseries_key
from include.lifecycle.store import ArtifactStore, retry_on_conflict
from include.lifecycle.watch.settings import TIMESERIES_COLUMNS

log = logging.getLogger(__name__)


def upsert_timeseries(store: ArtifactStore, uc: UseCase, row: dict[str, Any], attempts: int = 20) -> pd.DataFrame:
    """Replace the row of ``row['date']`` (or add it) with compare-and-swap, so parallel days never lose rows."""
    key = timeseries_key(uc)

    def attempt() -> pd.DataFrame:
        tag = store.version_tag(key)
        if tag is None:
            table = pd.DataFrame(columns=TIMESERIES_COLUMNS)
        else:
            table = pd.read_csv(io.BytesIO(store.read_bytes(key)), dtype={"date": str})
        records = [r for r in table.to_dict("records") if str(r.get("date")) != row["date"]]
        records.append({c: row.get(c) for c in TIMESERIES_COLUMNS})
        table = pd.DataFrame(sorted(records, key=lambda r: str(r["date"])), columns=TIMESERIES_COLUMNS)
        store.replace(key, table.to_csv(index=False, lineterminator="\n").encode("utf-8"), tag)
        return table

    return retry_on_conflict(attempt, attempts=attempts, what=store.uri(key))


def read_timeseries(store: ArtifactStore, uc: UseCase) -> pd.DataFrame:
    key = timeseries_key(uc)
    if not store.exists(key):
        return pd.DataFrame(columns=TIMESERIES_COLUMNS)
    return pd.read_csv(io.BytesIO(store.read_bytes(key)), dtype={"date": str})
