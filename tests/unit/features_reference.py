"""The features.clean of round 2 (commit 90bc591), frozen: what the vectorised path must reproduce exactly.

Kept verbatim (only FeatureError comes from the library, so ``pytest.raises`` matches either), so a test can
compare the current implementation with it on hostile inputs instead of with hand-written expectations.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle.config import UseCase
from include.lifecycle.model.features import FeatureError

log = logging.getLogger(__name__)

_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f"}


def _numeric(series: pd.Series, col: str) -> pd.Series:
    out = pd.to_numeric(series, errors="coerce").astype("float64")
    lost = series.notna() & out.isna()
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

    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        # what str(v) would say, without it: 1 / 1.0 / True are "1"-like, 0 / 0.0 / False "0"-like
        # (-0.0 prints "-0.0", which is not a binary token), anything else is not binary
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        out = pd.Series(np.where(values == 1, 1.0, np.where((values == 0) & ~np.signbit(values), 0.0, -1.0)),
                        index=series.index)
        out[np.isnan(values)] = np.nan
    elif pd.api.types.infer_dtype(series, skipna=True) == "string":
        text = series.str.strip().str.lower()
        out = pd.Series(np.where(text.isin(_TRUE), 1.0, np.where(text.isin(_FALSE), 0.0, -1.0)), index=series.index)
        out[series.isna().to_numpy(bool)] = np.nan
    else:
        out = series.map(one).astype("float64")
    bad = out == -1.0
    if bad.any():
        examples = series[bad].astype(str).unique()[:3].tolist()
        raise FeatureError(f"column {col!r}: {int(bad.sum())} values are not binary, e.g. {examples}")
    return out if out.isna().any() else out.astype("int64")


def _categorical(series: pd.Series) -> pd.Series:
    """Strings, with every flavour of missing (None, pd.NA, NaN) as NaN for the encoder."""
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
    out = pd.DataFrame(index=frame.index)
    out[uc.id_column] = frame[uc.id_column].astype(str)
    for col, spec in uc.columns.items():
        kind = spec["kind"]
        if kind == "numeric":
            out[col] = _numeric(frame[col], col)
        elif kind == "binary":
            out[col] = _binary(frame[col], col)
        else:
            out[col] = _categorical(frame[col])
    if uc.target in frame.columns:
        out[uc.target] = frame[uc.target]
    return out.reset_index(drop=True)


def reference_partition_bytes(raw_bytes: bytes, uc: UseCase) -> bytes:
    """The features Parquet bytes ``build_features_partition`` of round 2 wrote for accepted ``raw_bytes``."""
    cleaned = clean(pd.read_parquet(io.BytesIO(raw_bytes)), uc).drop(columns=[uc.target], errors="ignore")
    buf = io.BytesIO()
    cleaned.to_parquet(buf, index=False)
    return buf.getvalue()
