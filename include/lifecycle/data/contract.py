"""The stored expectation suite evaluated column-wise with pandas/numpy: the decision engine for large batches.

Great Expectations costs ~8-15 s per million rows whatever the result format (it copies the frame per
expectation and fingerprints it per batch), so above :data:`GX_FULL_ROWS` rows the same suite is evaluated
here, vectorised, into results of the shape :func:`suite.run_suite` returns (the decision code reads them
unchanged). Great Expectations still validates the *evidence*: every row this pass flagged plus a seeded
sample of the rows it passed (:func:`evidence_positions`), and any disagreement rejects the batch
(:func:`disagreements`), so GX remains the judge of every row that is quarantined.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

GX_FULL_ROWS = 200_000  # at or below: GX validates the whole frame, as it always did
EVIDENCE_SAMPLE = 2_000  # passed rows GX re-checks beside the flagged ones
EVIDENCE_MAX_FLAGGED = 50_000  # flagged rows GX re-checks (a seeded subset beyond that)
PARTIAL = 20  # GX's partial_unexpected_list length


def _type_check(series: pd.Series, type_list: list[str]) -> tuple[bool, str]:
    """GX's pandas rule: the dtype is one of the named numpy dtypes or pandas extension dtypes."""
    allowed: list[Any] = []
    for name in type_list:
        try:
            allowed.append(np.dtype(name))
        except TypeError:
            ext = getattr(pd, name, None)
            if isinstance(ext, type) and issubclass(ext, pd.api.extensions.ExtensionDtype):
                allowed.append(ext())
    return series.dtype in allowed, series.dtype.type.__name__


def _map_result(frame: pd.DataFrame, col: str, unexpected: np.ndarray, nonnull: np.ndarray,
                mostly: float | None, missing_is_unexpected: bool) -> tuple[bool, dict[str, Any]]:
    """success + result for a column-map expectation, counted the way GX counts (nulls aside but for not_null)."""
    n = len(frame)
    positions = np.flatnonzero(unexpected)
    unexpected_count = len(positions)
    considered = n if missing_is_unexpected else int(nonnull.sum())
    share = unexpected_count / considered if considered else 0.0
    success = (1.0 - share) >= mostly if mostly is not None else unexpected_count == 0
    percent = share * 100.0 if considered and n else None  # GX: None when nothing was considered
    values = frame[col].to_numpy(dtype=object)[positions[:PARTIAL]]
    result = {
        "element_count": n,
        "unexpected_count": unexpected_count,
        "unexpected_percent": percent,
        "partial_unexpected_list": [None if pd.isna(v) else v for v in values],
        "missing_count": n - int(nonnull.sum()),
        "unexpected_index_list": positions.tolist(),
    }
    return bool(success), result


def _one(frame: pd.DataFrame, item: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    kind, kw = item["type"], item["kwargs"]
    if kind == "expect_table_columns_to_match_set":  # GX's own shape: sorted names, only non-empty lists
        observed = [str(c) for c in frame.columns]
        expected = [str(c) for c in kw["column_set"]]
        unexpected = sorted(set(observed) - set(expected))
        missing = sorted(set(expected) - set(observed))
        result: dict[str, Any] = {"observed_value": sorted(observed)}
        if not unexpected and not missing:
            return True, result
        result["details"] = {"mismatched": {k: v for k, v in (("unexpected", unexpected), ("missing", missing)) if v}}
        return (not missing if not kw.get("exact_match", True) else False), result
    if kind == "expect_table_row_count_to_be_between":
        n = len(frame)
        lo, hi = kw.get("min_value"), kw.get("max_value")
        return (lo is None or n >= lo) and (hi is None or n <= hi), {"observed_value": n}
    col = kw["column"]
    if col not in frame.columns:
        raise KeyError(f'The column "{col}" in BatchData does not exist.')
    series = frame[col]
    nonnull = series.notna().to_numpy(bool)
    if kind == "expect_column_values_to_be_in_type_list":
        ok, observed = _type_check(series, kw["type_list"])
        return ok, {"observed_value": observed}
    if kind == "expect_column_values_to_not_be_null":
        return _map_result(frame, col, ~nonnull, nonnull, kw.get("mostly"), True)
    if kind == "expect_column_values_to_be_unique":
        dup = series.duplicated(keep=False).to_numpy(bool) & nonnull
        return _map_result(frame, col, dup, nonnull, kw.get("mostly"), False)
    if kind == "expect_column_values_to_be_between":
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.zeros(len(values), bool)
        if kw.get("min_value") is not None:
            bad |= values < kw["min_value"]
        if kw.get("max_value") is not None:
            bad |= values > kw["max_value"]
        return _map_result(frame, col, bad & nonnull, nonnull, kw.get("mostly"), False)
    if kind == "expect_column_values_to_be_in_set":
        bad = ~series.isin(list(kw["value_set"])).to_numpy(bool) & nonnull
        return _map_result(frame, col, bad, nonnull, kw.get("mostly"), False)
    raise NotImplementedError(f"{kind} has no vectorised evaluation; validate this batch with GX in full")


def evaluate_suite(frame: pd.DataFrame, suite: dict[str, Any]) -> list[dict[str, Any]]:
    """Every expectation of ``suite`` on ``frame``, as :func:`suite.run_suite` reports it (index lists included)."""
    out = []
    for item in suite["expectations"]:
        kwargs = dict(item["kwargs"])
        meta = item.get("meta", {})
        try:
            success, result, error = *_one(frame, item), None
        except KeyError as exc:
            success, result, error = False, {}, str(exc.args[0])
        out.append({"expectation": item["type"], "column": kwargs.get("column"), "kwargs": kwargs,
                    "level": meta.get("level", "batch"), "check": meta.get("check", item["type"]),
                    "success": bool(success), "result": result, "error": error})
    return out


def flagged_positions(results: list[dict[str, Any]]) -> np.ndarray:
    """Frame positions any row-level expectation flagged."""
    parts = [np.asarray(r["result"].get("unexpected_index_list", []), dtype=np.int64)
             for r in results if r["level"] == "row" and not r["error"]]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)


def evidence_positions(n: int, flagged: np.ndarray, seed: int = 0) -> np.ndarray:
    """Sorted positions GX re-validates: the flagged rows (a seeded subset past the cap) + a seeded sample."""
    rng = np.random.default_rng(seed)
    if len(flagged) > EVIDENCE_MAX_FLAGGED:
        flagged = rng.choice(flagged, EVIDENCE_MAX_FLAGGED, replace=False)
    passed = np.setdiff1d(np.arange(n), flagged, assume_unique=True) if n <= 5 * EVIDENCE_SAMPLE else None
    if passed is None:  # draw without materialising every passed position of a huge batch
        draw = rng.choice(n, min(n, 2 * EVIDENCE_SAMPLE + len(flagged)), replace=False)
        passed = np.setdiff1d(draw, flagged)
    sample = passed if len(passed) <= EVIDENCE_SAMPLE else rng.choice(passed, EVIDENCE_SAMPLE, replace=False)
    return np.unique(np.concatenate([flagged, sample]).astype(np.int64))


def disagreements(ours: list[dict[str, Any]], gx: list[dict[str, Any]], positions: np.ndarray,
                  capped: bool = False) -> list[str]:
    """Where GX, on the evidence rows, does not say what the vectorised pass said about those rows.

    ``capped``: only a subset of the flagged rows is evidence, so a duplicate may have lost its twin: GX's
    duplicates must then be among ours, not equal to them.
    """
    if any(r["error"] for r in ours) or not len(positions):
        return []  # a column is missing: the batch is rejected on its schema, and GX's results are then
        # misaligned with their expectations (GX 1.x reports a missing column's error on other entries); no rows:
        # nothing to accept, and GX's column checks on an empty frame say nothing about rows
    where = {int(p): i for i, p in enumerate(positions)}
    out = []
    for mine, theirs in zip(ours, gx, strict=True):
        label = f"{mine['expectation']} on {mine['column'] or 'the batch'}"
        if bool(mine["error"]) != bool(theirs["error"]):
            out.append(f"{label}: GX error {theirs['error']!r}, vectorised {mine['error']!r}")
            continue
        if mine["error"]:
            continue
        if mine["level"] == "row":
            expected = sorted(where[p] for p in mine["result"]["unexpected_index_list"] if p in where)
            got = sorted(int(p) for p in theirs["result"].get("unexpected_index_list", []))
            if expected != got and not (capped and mine["check"] == "unique_id" and set(got) <= set(expected)):
                out.append(f"{label}: GX flags {len(got)} of the {len(positions)} evidence rows, vectorised {len(expected)}")
        elif mine["check"] in ("schema", "type") and mine["success"] != theirs["success"]:
            out.append(f"{label}: GX success={theirs['success']}, vectorised success={mine['success']}")
    return out
