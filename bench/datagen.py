"""Rows from the real distribution, at any size: bootstrap the bundled snapshot, add noise, fresh ids.

Why bootstrap + noise rather than a fitted generator: every marginal and every joint category mix stays
the real one (what validation, features and drift see), the numeric columns stop being exact copies
(so a model cannot memorise rows and Parquet cannot dedupe them), and it costs about a second per
million rows. Chunks are built as Arrow tables (categories as dictionary indices, ids as fixed-width
bytes) and written one by one, so 10M rows never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from include.lifecycle.config import UseCase
from include.lifecycle.data.replay import load_snapshot

DEFAULT_CHUNK_ROWS = 1_000_000
ID_DIGITS = 10


def _ids(prefix: str, start: int, n: int) -> pa.Array:
    """``<prefix>0000000042``-style ids, built digit by digit in numpy (a Python format per row is 10x slower)."""
    numbers = np.arange(start, start + n, dtype="int64")
    powers = 10 ** np.arange(ID_DIGITS - 1, -1, -1, dtype="int64")
    digits = ((numbers[:, None] // powers) % 10 + ord("0")).astype("uint8")
    head = np.frombuffer(prefix.encode(), dtype="uint8")
    raw = np.hstack([np.broadcast_to(head, (n, len(head))), digits])
    width = raw.shape[1]
    return pa.array(np.ascontiguousarray(raw).view(f"S{width}").ravel(), type=pa.binary(width)).cast(pa.string())


def generate(uc: UseCase, rows: int, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS,
             id_prefix: str = "G") -> Iterator[pa.Table]:
    """Yield Arrow tables (id, target, features in config order) totalling ``rows``.

    Numeric columns keep their source type (tenure stays an integer, as the source system sends it),
    binary columns are int64 0/1, categorical columns strings; ``total_charges`` keeps its real nulls.
    """
    snap = load_snapshot(uc)
    rng = np.random.default_rng(seed)
    numeric = set(uc.columns_of_kind("numeric"))
    coded = {}
    for col in [uc.target, *uc.columns_of_kind("categorical")]:
        codes, uniques = pd.factorize(snap[col], use_na_sentinel=True)
        coded[col] = (codes.astype("int32"), pa.array(list(uniques), type=pa.string()))
    made = 0
    while made < rows:
        n = min(chunk_rows, rows - made)
        pick = rng.integers(0, len(snap), size=n)
        arrays: dict[str, pa.Array] = {uc.id_column: _ids(id_prefix, made, n)}
        for col in [uc.target, *uc.feature_columns]:
            if col in coded:
                codes, dictionary = coded[col]
                arrays[col] = pa.DictionaryArray.from_arrays(pa.array(codes[pick]), dictionary).cast(pa.string())
                continue
            values = snap[col].to_numpy()[pick]
            if col in numeric:
                spec = uc.columns[col]
                integral = pd.api.types.is_integer_dtype(snap[col].dtype)
                values = values.astype("float64")
                if integral:  # tenure: +-2 months
                    values = values + rng.integers(-2, 3, size=n)
                else:  # charges: 3% multiplicative noise, in cents
                    values = np.round(values * (1.0 + rng.normal(0.0, 0.03, size=n)), 2)
                lo, hi = spec.get("min"), spec.get("max")
                values = np.clip(values, -np.inf if lo is None else lo, np.inf if hi is None else hi)
                arrays[col] = pa.array(values.astype("int64") if integral else values, from_pandas=True)
            else:  # binary 0/1
                arrays[col] = pa.array(values.astype("int64"))
        made += n
        yield pa.table(arrays)


def as_features(table: pa.Table, uc: UseCase, with_target: bool = False) -> pa.Table:
    """The typed shape ``features.clean`` gives a partition: numeric float64, binary int64, categorical str."""
    cols = [uc.id_column, *uc.feature_columns, *([uc.target] if with_target else [])]
    out = table.select(cols)
    for col in uc.columns_of_kind("numeric"):
        i = out.schema.get_field_index(col)
        out = out.set_column(i, col, out.column(col).cast(pa.float64()))
    return out


def write_features_parquet(uc: UseCase, path: Path, rows: int, seed: int = 0, with_target: bool = False,
                           chunk_rows: int = DEFAULT_CHUNK_ROWS, id_prefix: str = "G") -> dict[str, Any]:
    """A features partition file (id + features[, target]), one row group per chunk (as pandas writes ~1M)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for table in generate(uc, rows, seed, chunk_rows, id_prefix):
            table = as_features(table, uc, with_target)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return {"path": str(path), "rows": rows, "bytes": path.stat().st_size}


def write_source_csv(uc: UseCase, batch_path: Path, labels_path: Path, rows: int, seed: int = 0,
                     chunk_rows: int = DEFAULT_CHUNK_ROWS, id_prefix: str = "G") -> dict[str, Any]:
    """The source system's files for one day: the batch CSV (id + features, no target) and its labels CSV."""
    batch_path.parent.mkdir(parents=True, exist_ok=True)
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    opts = {"quoting_style": "needed"}
    with open(batch_path, "wb") as fb, open(labels_path, "wb") as fl:
        first = True
        for table in generate(uc, rows, seed, chunk_rows, id_prefix):
            batch = table.select([uc.id_column, *uc.feature_columns])
            labels = table.select([uc.id_column, uc.target])
            pacsv.write_csv(batch, fb, pacsv.WriteOptions(include_header=first, **opts))
            pacsv.write_csv(labels, fl, pacsv.WriteOptions(include_header=first, **opts))
            first = False
    return {"rows": rows, "batch_bytes": batch_path.stat().st_size, "labels_bytes": labels_path.stat().st_size}
