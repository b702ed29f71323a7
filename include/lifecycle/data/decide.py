"""The accept / quarantine decision for one batch, before anything is written.

Invariant: ``received == accepted + quarantined``, where ``received`` counts the CSV data records
(estimated from the raw lines when the file is unreadable).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle.config import UseCase
from include.lifecycle.data.contract import (
    EVIDENCE_MAX_FLAGGED,
    GX_FULL_ROWS,
    PARTIAL,
    disagreements,
    evaluate_suite,
    evidence_positions,
    flagged_positions,
)
from include.lifecycle.data.csvparse import CsvUnreadableError, ParsedCsv, _strings, parse_csv_bytes, type_columns
from include.lifecycle.data.suite import load_suite, run_suite


@dataclass
class Outcome:
    """Everything :func:`validate_bytes` decided, before anything is written."""

    status: str
    received: int
    accepted: pd.DataFrame
    quarantined: pd.DataFrame | None  # raw strings + _line + _reasons
    batch_reasons: list[str]
    row_reasons: dict[str, dict[str, Any]]  # summary key -> {"count", "examples"}
    expectations: list[dict[str, Any]]
    parse: dict[str, Any]
    unreadable: bool = False
    stats: dict[str, Any] = field(default_factory=dict)  # a chunk's counts for the batch-wide verdicts

    @property
    def reasons(self) -> list[str]:
        return reason_lines(self.batch_reasons, self.row_reasons)


def reason_lines(batch_reasons: list[str], row_reasons: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        f"{key}: {v['count']} row(s)" + (f" (e.g. {', '.join(v['examples'])})" if v["examples"] else "")
        for key, v in row_reasons.items()
    ]
    return [*batch_reasons, *rows]


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _row_reason(item: dict[str, Any], value: Any) -> tuple[str, str]:
    """(summary key, per-row reason) for one unexpected value of a row-level expectation."""
    col, check, kw = item["column"], item["check"], item["kwargs"]
    if check == "null":
        return f"{col}: null not allowed", f"{col}: null not allowed"
    if check == "unique_id":
        return f"{col}: duplicate id", f"{col}: duplicate id {_fmt(value)}"
    if check == "range":
        bounds = f"[{_fmt(kw.get('min_value'))}, {_fmt(kw.get('max_value'))}]"
        return f"{col}: out of range {bounds}", f"{col}: {_fmt(value)} out of range {bounds}"
    if check == "category":
        return f"{col}: unknown category", f"{col}: unknown category {_fmt(value)}"
    if check == "binary":
        return f"{col}: not 0/1", f"{col}: {_fmt(value)} is not 0/1"
    return f"{col}: failed {item['expectation']}", f"{col}: {_fmt(value)} failed {item['expectation']}"


def _batch_reason(item: dict[str, Any], uc: UseCase, n_rows: int, parsed: ParsedCsv | None = None) -> str | None:
    col, check, res, kw = item["column"], item["check"], item["result"], item["kwargs"]
    if check == "schema" and parsed is not None and parsed.delimiter_hint:
        return (f"schema: the header is one column {parsed.header[0][:80]!r}: the file seems to be separated by "
                f"{parsed.delimiter_hint!r}, not by commas (the contract expects {1 + len(uc.columns)} "
                "comma-separated columns)")
    if check == "schema":
        mismatched = (res.get("details") or {}).get("mismatched") or {}
        parts = []
        if mismatched.get("missing"):
            parts.append(f"missing columns {sorted(mismatched['missing'])}")
        if mismatched.get("unexpected"):
            extra = sorted(mismatched["unexpected"])
            note = f" (the target {uc.target!r} must not be in a batch)" if uc.target in extra else ""
            parts.append(f"unexpected columns {extra}{note}")
        return "schema: " + ("; ".join(parts) or f"columns {res.get('observed_value')} do not match the contract")
    if check == "row_count":
        return f"row count {res.get('observed_value')} outside [{kw.get('min_value')}, {kw.get('max_value')}]"
    if n_rows == 0 and check in ("null_rate", "type"):
        return None  # header only: reported once, not per column
    if check == "null_rate":
        share = float(res.get("unexpected_percent") or 0.0) / 100.0
        return f"{col}: null rate {share:.1%} above the allowed {1.0 - float(kw.get('mostly', 1.0)):.1%}"
    if check == "type":
        return f"{col}: wrong type, dtype {res.get('observed_value')} not in {kw.get('type_list')}"
    return f"{item['expectation']} failed on {col or 'the batch'}"


# Verdicts on the whole batch: a chunk of it cannot make them alone (its null rate or row count is not the batch's).
BATCH_WIDE_CHECKS = frozenset({"row_count", "null_rate"})


@dataclass
class Scope:
    """What the whole batch decided, given to the decision on one record-aligned chunk of it.

    With a scope, :func:`validate_bytes` leaves the batch-wide verdicts (header only, wrong-typed column, row
    count, null rate, all-null column, every row failed) to the caller, which makes them from every chunk's
    ``stats`` and results, and applies the ones given here instead.
    """

    wrong_type: frozenset[str] = frozenset()  # columns none of whose values parse, across the batch
    batch_reasons: tuple[str, ...] = ()  # batch-wide reasons: every row of the chunk is quarantined with them
    duplicate_ids: Any = None  # a pyarrow array of ids that occur more than once in the batch, or None


def _add_duplicates(item: dict[str, Any], typed: pd.DataFrame, duplicate_ids: Any) -> None:
    """Flag, in the chunk's unique-id result, the rows whose id has a twin in another chunk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(typed[item["column"]].to_numpy(), pa.large_string())
    extra = np.flatnonzero(np.asarray(pc.is_in(ids, value_set=duplicate_ids)))  # a null id matches nothing
    res = item["result"]
    known = np.asarray(res["unexpected_index_list"], dtype=np.int64)
    positions = np.union1d(known, extra)
    if len(positions) == len(known):
        return
    res["unexpected_index_list"] = positions.tolist()
    res["unexpected_count"] = len(positions)
    res["partial_unexpected_list"] = typed[item["column"]].to_numpy()[positions[:PARTIAL]].tolist()
    item["success"] = False


def chunk_stats(raw: pd.DataFrame, typed: pd.DataFrame, unparseable: dict[str, pd.Series], uc: UseCase) -> dict:
    """What the batch-wide verdicts need from one chunk: rows, per-column unparseable and present counts, ids."""
    import pyarrow as pa

    bad = {col: {"unparseable": int(mask.sum()), "present": int(raw[col].notna().sum()),
                 "examples": raw.loc[mask, col].astype(str).unique()[:3].tolist()}
           for col, mask in unparseable.items()}
    ids = typed[uc.id_column] if uc.id_column in typed.columns else pd.Series([], dtype=object)
    ids = ids[ids.notna()].to_numpy()
    # the present ids, and their 64-bit hashes: duplicates across chunks are found on the hashes, then confirmed
    return {"rows": len(typed), "unparseable": bad, "ids": pa.array(ids, pa.large_string()),
            "id_hashes": pd.util.hash_array(ids)}


def _empty_accepted(uc: UseCase) -> pd.DataFrame:
    cols: dict[str, pd.Series] = {uc.id_column: pd.Series([], dtype=object)}
    for col, spec in uc.columns.items():
        dtype = {"numeric": "float64", "binary": "int64"}.get(spec["kind"], object)
        cols[col] = pd.Series([], dtype=dtype)
    return pd.DataFrame(cols)


def _accepted_frame(typed: pd.DataFrame, uc: UseCase) -> pd.DataFrame:
    """id + features in config order; binary as int64 (float64 if it legitimately holds nulls)."""
    # a new frame already; the shallow copy only drops pandas' "copy of a slice" flag (a warning per assignment)
    out = typed[[uc.id_column, *uc.feature_columns]].copy(deep=False)
    out.index = pd.RangeIndex(len(out))  # not reset_index(): that copies every column once more
    for col in uc.columns_of_kind("binary"):
        out[col] = out[col].astype("float64") if out[col].isna().any() else out[col].astype("int64")
    return out


def _expectation_results(typed: pd.DataFrame, suite: dict[str, Any], gx_full_rows: int) -> tuple[list, dict]:
    """The suite's results on ``typed``: GX on the whole frame up to ``gx_full_rows`` rows; above, the
    vectorised pass decides and GX re-validates its evidence (flagged rows + a seeded sample)."""
    n = len(typed)
    if n <= gx_full_rows:
        return run_suite(typed, suite), {"engine": "great_expectations", "rows": n}
    results = evaluate_suite(typed, suite)
    flagged = flagged_positions(results)
    positions = evidence_positions(n, flagged)
    gx_results = run_suite(typed.iloc[positions].reset_index(drop=True), suite)
    found = disagreements(results, gx_results, positions, capped=len(flagged) > EVIDENCE_MAX_FLAGGED)
    return results, {
        "engine": "vectorised (include/lifecycle/data/contract.py); Great Expectations on the evidence rows",
        "rows": n, "flagged_rows": len(flagged), "evidence_rows": len(positions), "gx_agrees": not found,
        "gx_evidence": [{"expectation": r["expectation"], "column": r["column"], "success": r["success"],
                         "unexpected_count": r["result"].get("unexpected_count"), "error": r["error"]}
                        for r in gx_results],
        "disagreements": found,
    }


def validate_bytes(uc: UseCase, data: bytes, gx_full_rows: int = GX_FULL_ROWS, *, line_offset: int = 0,
                   scope: Scope | None = None) -> Outcome:
    """Decide what to accept and what to quarantine, without touching storage (notebook-friendly).

    Batches over ``gx_full_rows`` rows are decided by the vectorised pass and GX checks its evidence
    (see :mod:`include.lifecycle.data.contract`); the decision is the same either way (tests compare).
    ``scope``: the bytes are one chunk of a larger batch (``line_offset`` lines in): see :class:`Scope`.
    """
    try:
        parsed = parse_csv_bytes(data, line_offset)
    except CsvUnreadableError as exc:
        return Outcome(
            "rejected", exc.received, _empty_accepted(uc), None, [exc.reason], {}, [],
            {"readable": False, "bytes": len(data)}, unreadable=True,
        )  # fmt: skip

    raw = parsed.frame
    n = len(raw)
    typed, unparseable = type_columns(raw, uc)
    batch_reasons: list[str] = []
    row_reasons: dict[int, list[str]] = defaultdict(list)
    summary: dict[str, dict[str, Any]] = {}

    def note(key: str, example: Any) -> None:
        entry = summary.setdefault(key, {"count": 0, "examples": []})
        entry["count"] += 1
        text = _fmt(example)
        if len(entry["examples"]) < 3 and text not in entry["examples"]:
            entry["examples"].append(text)

    if n == 0 and not parsed.malformed and scope is None:
        batch_reasons.append("header only: the file has a header but no data rows")
    for pos, reason in parsed.oversized.items():
        row_reasons[pos].append(reason)
        note("oversized field (a runaway cell: unbalanced quote or a blob)", reason.split(":", 1)[0])
    if parsed.truncated_line is not None:
        batch_reasons.append(
            f"truncated file: the last record (line {parsed.truncated_line}) is incomplete and has no line break"
        )

    wrong_type: set[str] = set()
    for col, mask in unparseable.items():
        if not mask.any():
            continue
        kind = uc.columns[col]["kind"]
        if scope is not None:
            if col in scope.wrong_type:
                wrong_type.add(col)
        elif int(mask.sum()) == int(raw[col].notna().sum()) and int(mask.sum()) > 1:
            wrong_type.add(col)
            batch_reasons.append(wrong_type_reason(col, kind, raw.loc[mask, col].astype(str).unique()[:3].tolist()))
        for pos in np.flatnonzero(mask.to_numpy()):
            value = raw.iat[pos, raw.columns.get_loc(col)]
            row_reasons[pos].append(f"{col}: unparseable value {value!r} (expected {kind})")
            if col not in wrong_type:  # a wrong-typed column is one batch reason, not one per row
                note(f"{col}: unparseable value (expected {kind})", value)

    suite, suite_info = load_suite(uc)
    results, engine = _expectation_results(typed, suite, gx_full_rows)
    if scope is not None and scope.duplicate_ids is not None:
        for item in results:
            if item["check"] == "unique_id" and not item["error"]:
                _add_duplicates(item, typed, scope.duplicate_ids)
    batch_reasons += [f"validation engines disagree: {d}" for d in engine.pop("disagreements", [])]
    present = set(typed.columns)
    for item in results:
        col = item["column"]
        if item["error"]:
            if col is not None and col not in present:
                item["note"] = "not evaluated: column missing"
                continue
            batch_reasons.append(f"{item['expectation']} on {col} could not be evaluated: {item['error']}")
            continue
        if item["success"]:
            continue
        if item["level"] == "row" and "unexpected_index_list" in item["result"]:
            if col in wrong_type:
                continue
            for pos in item["result"]["unexpected_index_list"]:
                pos = int(pos)
                if item["check"] == "null" and col in unparseable and bool(unparseable[col].iat[pos]):
                    continue  # already "unparseable value"
                value = typed.iat[pos, typed.columns.get_loc(col)]
                key, reason = _row_reason(item, None if pd.isna(value) else value)
                row_reasons[pos].append(reason)
                note(key, value if not pd.isna(value) else "null")
            continue
        if col in wrong_type and item["check"] in ("null_rate", "type"):
            continue
        if scope is not None and item["check"] in BATCH_WIDE_CHECKS:
            continue
        reason = _batch_reason(item, uc, n, parsed)
        if reason:
            batch_reasons.append(reason)
    if scope is None:
        batch_reasons = all_null_reasons(results, n, present, wrong_type, batch_reasons)

    for line, record in parsed.malformed:
        if line == parsed.truncated_line:
            reason = f"line {line}: truncated record, {len(record)} of {len(parsed.header)} fields"
        else:
            reason = f"line {line}: {len(record)} fields, the header has {len(parsed.header)}"
        note("malformed record (wrong number of fields)", f"line {line}")
        row_reasons[-line].append(reason)  # negative keys: malformed records, not frame positions

    flagged = np.zeros(n, bool)  # masks, not per-row lists and sets: a 1M-row day has 1M positions
    flagged[[pos for pos in row_reasons if pos >= 0]] = True
    good = np.flatnonzero(~flagged)
    clean_rows, own_reasons = len(good), list(batch_reasons)
    if scope is not None and scope.batch_reasons:  # the batch's order, this chunk's own reasons among them
        batch_reasons = [*scope.batch_reasons, *(r for r in batch_reasons if r not in scope.batch_reasons)]
    if batch_reasons:
        good = good[:0]
    elif not len(good) and parsed.received and scope is None:
        batch_reasons.append(f"all {parsed.received} rows failed row-level checks")

    whole = len(good) == n
    bad_positions = [] if whole else np.flatnonzero(~np.isin(np.arange(n), good)).tolist()
    quarantined = _quarantine_rows(parsed, bad_positions, row_reasons, batch_reasons)
    received = parsed.received
    stats = ({**chunk_stats(raw, typed, unparseable, uc), "clean_rows": clean_rows, "own_reasons": own_reasons}
             if scope is not None else {})
    del raw
    parsed.frame = parsed.frame.iloc[:0]  # the raw strings are quarantined: free them before the accepted copy
    accepted = _accepted_frame(typed if whole else typed.iloc[good], uc) if len(good) else _empty_accepted(uc)
    if received != len(accepted) + len(quarantined):
        raise RuntimeError(f"validation bookkeeping error: {received} != {len(accepted)} + {len(quarantined)}")
    if batch_reasons or not len(good):
        status = "rejected"
    else:
        status = "partial" if len(quarantined) else "accepted"
    parse_info = {
        "readable": True,
        "bytes": len(data),
        "compressed": parsed.compressed,
        "header": parsed.header,
        "malformed_records": len(parsed.malformed),
        "truncated_line": parsed.truncated_line,
        "trimmed_values": parsed.trimmed,
        "suite": suite_info,
        "validation_engine": engine,
        "notes": ([f"{parsed.trimmed} value(s) carried stray whitespace (e.g. a space after each comma): "
                   "trimmed before validation"] if parsed.trimmed else []),
    }
    return Outcome(status, received, accepted, quarantined, batch_reasons, summary, results, parse_info, stats=stats)


def wrong_type_reason(col: str, kind: str, examples: list[str]) -> str:
    return f"{col}: wrong type, expected {kind} but none of its values parses (e.g. {examples})"


def all_null_reasons(results: list[dict[str, Any]], n: int, present: set[str], wrong_type: set[str],
                     batch_reasons: list[str]) -> list[str]:
    """An entirely null column is a batch problem, whatever its nullable share (it replaces its null-rate reason)."""
    for item in results:
        res = item["result"]
        if item["check"] in ("null", "null_rate") and n and not item["error"] and item["column"] in present:
            if res.get("unexpected_count") == res.get("element_count") and item["column"] not in wrong_type:
                item["all_null"] = True
                batch_reasons = [r for r in batch_reasons if not r.startswith(f"{item['column']}: null rate")]
                batch_reasons.append(f"{item['column']}: column is entirely null ({n} rows)")
    return batch_reasons


def internal_column(base: str, header: list[str]) -> str:
    """A quarantine bookkeeping column (``_line``, ``_reasons``) that no source column can collide with."""
    name = base
    while name in header:
        name = "_" + name
    return name


def _quarantine_rows(
    parsed: ParsedCsv, positions: list[int], row_reasons: dict[int, list[str]], batch_reasons: list[str]
) -> pd.DataFrame:
    """The quarantined records as received (strings), plus their CSV line and reasons.

    The two bookkeeping columns are named so that they never collide with a source column (a batch may carry
    its own ``_line``); the names are in the frame's ``attrs`` and in ``reasons.json``.
    """
    header = parsed.header
    line_col, reasons_col = internal_column("_line", header), internal_column("_reasons", header)
    frame = parsed.frame.iloc[positions].copy()
    frame.insert(0, line_col, [parsed.lines[p] for p in positions])
    frame[reasons_col] = ["; ".join([*batch_reasons, *row_reasons.get(p, [])]) for p in positions]
    extra = []
    for line, record in parsed.malformed:
        values = (record + [None] * len(header))[: len(header)]
        extra.append({line_col: line, **dict(zip(header, values, strict=True)),
                      reasons_col: "; ".join([*batch_reasons, *row_reasons[-line]])})  # fmt: skip
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True)
    frame = frame.sort_values(line_col).reset_index(drop=True)
    for col in header:
        frame[col] = _strings(frame[col]) if len(frame) else frame[col].astype(object)
    frame[line_col] = frame[line_col].astype("int64")
    frame.attrs = {"line_column": line_col, "reasons_column": reasons_col}
    return frame
