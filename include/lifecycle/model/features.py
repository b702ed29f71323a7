"""Feature cleaning and the preprocessing half of every model pipeline.

Cleaning (:func:`clean`) is stateless and runs per partition: it only fixes types so that the
same row always reaches the model in the same shape. Everything *learned* from data (medians,
scales, one-hot layouts) lives in :func:`build_preprocessor`, which is fitted inside the model
pipeline on the training rows only — so no holdout or scoring row ever leaks into training, and
the packaged model carries its own preprocessing to batch scoring.
"""

from __future__ import annotations

import io
import logging
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from include.lifecycle.config import UseCase
from include.lifecycle.layout import accepted_key, day_str, features_key, features_source_key, partition_root
from include.lifecycle.store import ArtifactStore, sha256_bytes

log = logging.getLogger(__name__)

_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f"}


class FeatureError(ValueError):
    """A partition cannot be cleaned without silently losing or inventing data."""


def _numeric(series: pd.Series, col: str) -> pd.Series:
    if series.dtype.kind in "iuf":  # already numbers: nothing can be lost (bool stays refused below)
        return series.astype("float64")
    out = pd.to_numeric(series, errors="coerce").astype("float64")
    lost = series.notna().to_numpy(bool) & np.isnan(out.to_numpy())
    if lost.any():
        examples = series[lost].astype(str).unique()[:3].tolist()
        raise FeatureError(f"column {col!r}: {int(lost.sum())} non-numeric values, e.g. {examples}")
    return out


def _binary(series: pd.Series, col: str) -> pd.Series:
    """0/1 as int64; as float64 with NaN when values are missing (an int column cannot hold NaN)."""

    def one(value: Any) -> float:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return np.nan
        text = str(value).strip().lower()
        if text in _TRUE:
            return 1.0
        if text in _FALSE:
            return 0.0
        return -1.0

    # numpy, not Series, arithmetic below: a masked Series assignment alone cost more than predict_proba online
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        # what str(v) would say, without it: 1 / 1.0 / True are "1"-like, 0 / 0.0 / False "0"-like
        # (-0.0 prints "-0.0", which is not a binary token), anything else is not binary
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        out = np.where(values == 1, 1.0, np.where((values == 0) & ~np.signbit(values), 0.0, -1.0))
        out[np.isnan(values)] = np.nan
    elif pd.api.types.infer_dtype(series, skipna=True) == "string":
        text = series.str.strip().str.lower()
        out = np.where(text.isin(_TRUE), 1.0, np.where(text.isin(_FALSE), 0.0, -1.0))
        out[series.isna().to_numpy(bool)] = np.nan
    else:
        out = series.map(one).to_numpy(dtype="float64")
    bad = out == -1.0
    if bad.any():
        examples = series[bad].astype(str).unique()[:3].tolist()
        raise FeatureError(f"column {col!r}: {int(bad.sum())} values are not binary, e.g. {examples}")
    missing = np.isnan(out)
    return pd.Series(out if missing.any() else out.astype("int64"), index=series.index)


def _categorical(series: pd.Series) -> pd.Series:
    """Strings, with every flavour of missing (None, pd.NA, NaN) as NaN for the encoder."""
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=False) == "string":
        return series  # strings only, none missing (an online request, mostly): nothing to convert
    if isinstance(series.dtype, pd.StringDtype) or pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        # one Python object per distinct value (factorize), not a lambda per row
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        lookup = np.empty(len(uniques) + 1, dtype=object)
        lookup[: len(uniques)] = [str(v) for v in uniques]
        lookup[-1] = np.nan
        return pd.Series(lookup[codes], index=series.index, dtype=object)
    return series.astype("object").map(lambda v: np.nan if pd.isna(v) else str(v))


def clean(frame: pd.DataFrame, uc: UseCase) -> pd.DataFrame:
    """Type every configured column; keep id + features (+ target when present), every row.

    A missing feature column or a value that cannot be typed raises :class:`FeatureError`
    rather than turning into a NaN nobody asked for. Extra columns are dropped and logged.
    """
    required = [uc.id_column, *uc.feature_columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise FeatureError(f"use case {uc.name!r}: partition lacks columns {missing}")
    keep = required + ([uc.target] if uc.target in frame.columns else [])
    extra = [c for c in frame.columns if c not in keep]
    if extra:
        log.info("features: dropping columns not in the %s contract: %s", uc.name, extra)
    columns = {uc.id_column: frame[uc.id_column].astype(str)}
    for col, spec in uc.columns.items():
        kind = spec["kind"]
        if kind == "numeric":
            columns[col] = _numeric(frame[col], col)
        elif kind == "binary":
            columns[col] = _binary(frame[col], col)
        else:
            columns[col] = _categorical(frame[col])
    if uc.target in frame.columns:
        columns[uc.target] = frame[uc.target]
    # One consolidation when the frame is built; inserting column by column and then reset_index copied it twice.
    out = pd.DataFrame(columns)
    out.index = pd.RangeIndex(len(out))
    return out


def build_preprocessor(uc: UseCase) -> ColumnTransformer:
    """Column-wise preprocessing selected by name, so the id (and target) are never features.

    Categories come from the config, not from the data: the one-hot layout is identical for
    every training run, and an unseen category at scoring time encodes as all zeros.
    """
    numeric = uc.columns_of_kind("numeric")
    binary = uc.columns_of_kind("binary")
    categorical = uc.columns_of_kind("categorical")
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric)
        )
    if binary:
        transformers.append(("binary", SimpleImputer(strategy="most_frequent"), binary))
    if categorical:
        categories = [list(uc.columns[c]["values"]) for c in categorical]
        transformers.append(
            (
                "categorical",
                OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False),
                categorical,
            )
        )
    return ColumnTransformer(transformers, remainder="drop")


# -- the same cleaning on Arrow columns, for whole partitions ----------------------------------
def _arrow_column(arr: pa.ChunkedArray, kind: str) -> pa.ChunkedArray | None:
    """``clean``'s typing of one column done in Arrow, or None where only the pandas path is exact."""
    t = arr.type
    if kind == "id":
        return arr if pa.types.is_string(t) and arr.null_count == 0 else None
    if kind == "numeric":
        if not (pa.types.is_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t)):
            return None
        out = pc.cast(arr, pa.float64(), safe=False)  # numpy's astype: round to nearest, never an error
        if pa.types.is_floating(t) and pc.any(pc.is_nan(arr)).as_py():
            out = pc.if_else(pc.is_nan(out), pa.scalar(None, pa.float64()), out)  # pandas writes NaN as null
        return out
    if kind == "binary":
        if not (pa.types.is_integer(t) or pa.types.is_boolean(t)):
            return None
        bounds = pc.min_max(arr.cast(pa.int64()) if pa.types.is_boolean(t) else arr)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is not None and (lo < 0 or hi > 1):
            return None  # not binary: the pandas path raises with its examples
        return pc.cast(arr, pa.float64() if arr.null_count else pa.int64())
    if (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type)) or pa.types.is_large_string(t):
        arr = pc.cast(arr, pa.string())
    elif not pa.types.is_string(arr.type):
        return None
    # an all-missing object column becomes Arrow's null type in pandas' writer: leave that to pandas
    return arr if arr.null_count < len(arr) else None


def _pandas_schema(columns: dict[str, pa.ChunkedArray]) -> pa.Schema:
    """The schema ``to_parquet(index=False)`` gives the cleaned frame: its pandas metadata comes from a one-row twin."""
    probe = {name: pd.Series(["x"] if pa.types.is_string(arr.type) else np.zeros(1, arr.type.to_pandas_dtype()))
             for name, arr in columns.items()}
    return pa.Schema.from_pandas(pd.DataFrame(probe), preserve_index=False)


def clean_table(table: pa.Table, uc: UseCase) -> pa.Table | None:
    """:func:`clean` (minus the target) on an Arrow table, shaped as ``to_parquet`` writes the cleaned frame.

    Python objects for a million strings per column were most of a partition's build; here strings stay
    in Arrow. Only the typed shape validation writes takes this path; anything else (text numbers, yes/no
    binaries, stored indexes, empty or all-missing columns) returns None, for :func:`clean` to handle.
    """
    meta = table.schema.pandas_metadata or {}
    names = table.column_names
    required = [uc.id_column, *uc.feature_columns]
    if (table.num_rows == 0 or len(set(names)) != len(names) or any(not isinstance(i, dict) for i in meta.get(
            "index_columns", [])) or any(c not in names for c in required)):
        return None
    columns: dict[str, pa.ChunkedArray] = {}
    for col in required:
        kind = "id" if col == uc.id_column else uc.columns[col]["kind"]
        out = _arrow_column(table.column(col), kind)
        if out is None:
            return None
        columns[col] = out
    extra = [c for c in names if c not in required and c != uc.target]
    if extra:
        log.info("features: dropping columns not in the %s contract: %s", uc.name, extra)
    return pa.Table.from_arrays(list(columns.values()), schema=_pandas_schema(columns))


def clean_partition(data: bytes, uc: UseCase) -> pd.DataFrame:
    """:func:`clean` (minus the target) of a Parquet partition's bytes.

    A partition in the typed shape the features step writes is cleaned in Arrow (:func:`clean_table`) and
    becomes a frame once; :func:`clean` would build every column again and consolidate them (most of a 1M-row
    partition's read). Missing categories become NaN, as :func:`clean` makes them, for the encoder.
    """
    table = pq.read_table(io.BytesIO(data))
    cleaned = clean_table(table, uc)
    if cleaned is None:
        return clean(table.to_pandas(), uc).drop(columns=[uc.target], errors="ignore")
    frame = cleaned.to_pandas()
    for col in uc.columns_of_kind("categorical"):
        if cleaned.column(col).null_count:
            values = frame[col].to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = np.nan
            frame[col] = values
    return frame


def _arrow_bytes(raw_bytes: bytes, uc: UseCase) -> tuple[bytes, int] | None:
    """The features Parquet of an accepted partition in the typed shape, cleaned in Arrow, and its rows; None
    where only the pandas path is exact.

    One row group (up to 1,048,576 rows) is one table, written as ``to_parquet`` writes the cleaned frame.
    More are cleaned and written one row group at a time, so a 10M-row day never sits decoded in memory; a
    binary column is then float64 in every row group if a value is missing in any (``clean`` decides per column).
    """
    pf = pq.ParquetFile(io.BytesIO(raw_bytes))
    groups = pf.metadata.num_row_groups
    if groups <= 1:
        cleaned = clean_table(pq.read_table(io.BytesIO(raw_bytes)), uc)
        if cleaned is None:
            return None
        buf = io.BytesIO()
        pq.write_table(cleaned, buf, compression="snappy")  # what DataFrame.to_parquet passes
        return buf.getvalue(), cleaned.num_rows
    names = set(pf.schema_arrow.names)
    nulls = {c: sum(pf.read_row_group(i, columns=[c]).column(0).null_count for i in range(groups))
             for c in uc.columns_of_kind("binary") if c in names}
    buf, writer, rows = io.BytesIO(), None, 0
    try:
        for i in range(groups):
            cleaned = clean_table(pf.read_row_group(i), uc)
            if cleaned is None:
                return None
            columns = {name: cleaned.column(name) for name in cleaned.column_names}
            for col, missing in nulls.items():
                if missing:
                    columns[col] = pc.cast(columns[col], pa.float64())
            cleaned = pa.Table.from_arrays(list(columns.values()), schema=_pandas_schema(columns))
            writer = writer or pq.ParquetWriter(buf, cleaned.schema, compression="snappy")
            writer.write_table(cleaned)
            rows += cleaned.num_rows
    finally:
        if writer is not None:
            writer.close()
    return buf.getvalue(), rows


def build_features_partition(store: ArtifactStore, uc: UseCase, day: date | str) -> dict[str, Any]:
    """Clean one accepted raw partition into its features partition (overwrite: reruns are idempotent).

    A ``source.json`` beside it records the sha256 of the raw rows it was built from, so
    :func:`stale_partitions` can tell which partitions need (re)building without trusting that every
    upstream event was delivered. The bytes are those of ``clean`` + ``to_parquet`` on either path for a
    partition of one row group; a larger one holds the same rows and values, written a row group at a time.
    """
    raw_bytes = store.read_bytes(accepted_key(uc, day))
    built = _arrow_bytes(raw_bytes, uc)
    key = features_key(uc, day)
    if built is not None:
        data, rows = built
        store.write_bytes(key, data)
        digest = sha256_bytes(data)
    else:
        frame = clean(pd.read_parquet(io.BytesIO(raw_bytes)), uc)
        # The target never travels with features: labels arrive later through their own partitions.
        frame = frame.drop(columns=[uc.target], errors="ignore")
        digest, rows = store.write_frame(key, frame), len(frame)
    store.write_json(features_source_key(uc, day), {"raw_key": accepted_key(uc, day), "raw_sha256": sha256_bytes(raw_bytes),
                                                  "features_sha256": digest, "rows": int(rows)})
    return {"date": day_str(day), "rows": int(rows), "features_key": key, "sha256": digest}


def stale_partitions(store: ArtifactStore, uc: UseCase) -> list[str]:
    """Days whose accepted raw rows have no features built from them yet (missing or built from older rows)."""
    stale = []
    for key in store.list(partition_root("validation", uc)):
        if not key.endswith("/result.json") or "date=" not in key:
            continue
        result = store.read_json(key)
        day = key.split("date=", 1)[1].split("/", 1)[0]
        if not result.get("accepted") or not result.get("accepted_sha256"):
            continue
        marker = features_source_key(uc, day)
        built_from = store.read_json(marker).get("raw_sha256") if store.exists(marker) else None
        if built_from != result["accepted_sha256"]:
            stale.append(day)
    return sorted(stale)
