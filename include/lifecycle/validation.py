"""Validate one incoming batch against the use case's Great Expectations suite; quarantine what fails.

Two layers, because Great Expectations needs a DataFrame and a broken file is not one:

1. **Parsing** (ours, pandas + :mod:`csv`): gzip or plain bytes, strict UTF-8, strict CSV quoting, one
   header, records counted as they are read. A file that cannot become a table (empty, corrupt gzip,
   not UTF-8, broken quoting) is a *batch-level* failure with a reason, never a traceback. Values that
   do not parse as the configured kind (``tenure = "twelve"``) are *row-level* failures.
2. **Expectations** (GX 1.x, ephemeral context, pandas data source, whole-dataframe batch definition)
   on the typed frame. The suite is a versioned JSON file (``validation.suite``) generated from the
   config by :func:`suite_from_config`; each expectation's ``meta.level`` says whether a failure
   quarantines the failing rows (``row``: range, category, null where not allowed, duplicate id) or the
   whole batch (``batch``: schema, row count, an all-null column, null rate over ``nullable``).

Invariant, checked before anything is written: ``received == accepted + quarantined``, where
``received`` counts the CSV data records (estimated from the raw lines when the file is unreadable).

Outputs per partition (a rerun deletes the partition's old outputs first):
``raw/<uc>/date=<d>/accepted.parquet`` (typed: numeric float64, binary int64, categorical str),
``quarantine/<uc>/date=<d>/rows.parquet`` (the raw strings + ``_line`` + ``_reasons``), ``reasons.json``
and, for unreadable files, ``batch.csv`` (the bytes as received), and
``validation/<uc>/date=<d>/result.json`` + ``report.html``.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import logging
import os
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle.config import PROJECT_ROOT, ConfigError, UseCase, resolve_path
from include.lifecycle.storage import ArtifactStore, json_bytes, sha256_bytes

# GX logs ~200 INFO lines on import; silence it before anything imports it (DESIGN.md section 7).
logging.getLogger("great_expectations").setLevel(logging.WARNING)
# No network at run time: GX would otherwise try to send usage analytics on every context.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)

NA_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
_TRUE = frozenset({"1", "1.0", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "0.0", "false", "no", "n", "f"})
TYPE_LISTS = {"numeric": ["float64"], "binary": ["Int64Dtype", "int64"]}
REPORT_SAMPLE_ROWS = 25


class BatchRejectedError(RuntimeError):
    """A batch was rejected and the policy is ``on_batch_failure: fail`` (raised after quarantining)."""


class CsvUnreadableError(ValueError):
    """Bytes that cannot become a table; ``received`` is the best estimate of the data lines in them."""

    def __init__(self, reason: str, received: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.received = received


# -- parsing -------------------------------------------------------------------------------------------
@dataclass
class ParsedCsv:
    """A CSV read as strings: well-formed records, malformed ones, and what we learned on the way."""

    header: list[str]
    frame: pd.DataFrame  # well-formed records as strings (NaN for NA tokens), RangeIndex
    lines: list[int]  # CSV line number of each frame row
    malformed: list[tuple[int, list[str]]] = field(default_factory=list)  # (line, fields) of wrong width
    truncated_line: int | None = None  # last record cut short and no final line break
    compressed: bool = False

    @property
    def received(self) -> int:
        return len(self.frame) + len(self.malformed)


def _data_lines(raw: bytes) -> int:
    """Best-effort count of data lines in bytes we could not parse: non-blank lines minus the header."""
    return max(0, sum(1 for line in raw.split(b"\n") if line.strip()) - 1)


def _gunzip(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        partial = b""
        try:
            partial = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
        except zlib.error:
            pass
        reason = f"unreadable: gzip stream is truncated or corrupt ({exc})"
        raise CsvUnreadableError(reason, _data_lines(partial)) from exc


def parse_csv_bytes(data: bytes) -> ParsedCsv:
    """Parse CSV bytes (optionally gzip) into strings; raise :class:`CsvUnreadableError` if impossible."""
    if not data:
        raise CsvUnreadableError("empty file: 0 bytes received, no header and no rows", 0)
    compressed = data[:2] == b"\x1f\x8b"
    raw = _gunzip(data) if compressed else data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvUnreadableError(
            f"unreadable: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}); the source must send UTF-8",
            _data_lines(raw),
        ) from exc
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise CsvUnreadableError("unreadable: binary content (NUL bytes), not a CSV file", _data_lines(raw))
    if not text.strip():
        raise CsvUnreadableError("empty file: only whitespace, no header and no rows", 0)

    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            if record:  # [] is a blank line
                records.append((reader.line_num, record))
    except csv.Error as exc:
        raise CsvUnreadableError(
            f"unreadable: malformed CSV near line {reader.line_num} ({exc})", _data_lines(raw)
        ) from exc

    header = [name.strip() for name in records[0][1]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise CsvUnreadableError(f"unreadable: duplicate column names {dupes} in the header", len(records) - 1)
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    malformed: list[tuple[int, list[str]]] = []
    for line, record in records[1:]:
        if len(record) == width:
            rows.append(record)
            lines.append(line)
        else:
            malformed.append((line, record))
    truncated = None
    if malformed and malformed[-1][0] == records[-1][0] and not text.endswith(("\n", "\r")):
        truncated = malformed[-1][0]
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    frame = frame.mask(frame.isin(NA_TOKENS))
    return ParsedCsv(header, frame, lines, malformed, truncated, compressed)


def _strings(series: pd.Series) -> pd.Series:
    """Object column of str with None for missing (what GX and Parquet both read cleanly)."""
    return series.astype(object).where(series.notna(), None).map(lambda v: v if v is None else str(v))


def type_columns(raw: pd.DataFrame, uc: UseCase) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Type the configured columns present in ``raw``; return the frame and per-column 'unparseable' masks.

    Extra columns stay as strings so the schema expectation sees them.
    """
    typed: dict[str, pd.Series] = {}
    bad: dict[str, pd.Series] = {}
    for col in raw.columns:
        kind = uc.columns.get(col, {}).get("kind")
        series = raw[col]
        if kind == "numeric":
            num = pd.to_numeric(series, errors="coerce").astype("float64")
            num = num.where(np.isfinite(num))
            typed[col] = num
            bad[col] = series.notna() & num.isna()
        elif kind == "binary":
            text = series.astype(object).map(lambda v: v if not isinstance(v, str) else v.strip().lower())
            num = pd.to_numeric(text, errors="coerce")
            num = num.mask(text.isin(_TRUE), 1.0).mask(text.isin(_FALSE), 0.0)
            ok = num.notna() & np.isfinite(num) & (num == num.round())
            typed[col] = num.where(ok).astype("Int64")
            bad[col] = series.notna() & ~ok
        else:  # id, categorical, extra columns
            typed[col] = _strings(series)
    return pd.DataFrame(typed, index=raw.index), bad  # built once: a fragmented frame slows GX ~2x


# -- the suite -----------------------------------------------------------------------------------------
def _expectation(type_: str, kwargs: dict[str, Any], level: str, check: str) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {"level": level, "check": check}}


def suite_from_config(uc: UseCase) -> dict[str, Any]:
    """The expectation suite the config implies, as a GX-1.x-shaped dict (stored as JSON, diffed in tests)."""
    val = uc.section("validation")
    id_col = uc.id_column
    exp = [
        _expectation(
            "expect_table_columns_to_match_set",
            {"column_set": [id_col, *uc.feature_columns], "exact_match": True},
            "batch",
            "schema",
        ),
        _expectation(
            "expect_table_row_count_to_be_between",
            {"min_value": int(val.get("min_rows", 1)), "max_value": int(val.get("max_rows", 10_000_000))},
            "batch",
            "row_count",
        ),
        _expectation("expect_column_values_to_not_be_null", {"column": id_col}, "row", "null"),
        _expectation("expect_column_values_to_be_unique", {"column": id_col}, "row", "unique_id"),
    ]
    for col, spec in uc.columns.items():
        kind = spec["kind"]
        if kind in TYPE_LISTS:  # categorical values are strings by construction; their set is checked below
            kwargs = {"column": col, "type_list": TYPE_LISTS[kind]}
            exp.append(_expectation("expect_column_values_to_be_in_type_list", kwargs, "batch", "type"))
        # One null expectation per column also yields the all-null verdict (unexpected == element count),
        # which is a batch-level failure whatever the column's nullable share.
        nullable = float(spec.get("nullable", 0) or 0)
        if nullable > 0:
            kwargs = {"column": col, "mostly": round(1.0 - nullable, 6)}
            exp.append(_expectation("expect_column_values_to_not_be_null", kwargs, "batch", "null_rate"))
        else:
            exp.append(_expectation("expect_column_values_to_not_be_null", {"column": col}, "row", "null"))
        if kind == "numeric" and ("min" in spec or "max" in spec):
            kwargs = {"column": col, "min_value": spec.get("min"), "max_value": spec.get("max")}
            exp.append(_expectation("expect_column_values_to_be_between", kwargs, "row", "range"))
        elif kind == "binary":
            kwargs = {"column": col, "value_set": [0, 1]}
            exp.append(_expectation("expect_column_values_to_be_in_set", kwargs, "row", "binary"))
        elif kind == "categorical":
            kwargs = {"column": col, "value_set": list(spec["values"])}
            exp.append(_expectation("expect_column_values_to_be_in_set", kwargs, "row", "category"))
    return {
        "name": f"{uc.name}_incoming_batch",
        "meta": {
            "use_case": uc.name,
            "generated_by": "include.lifecycle.validation.suite_from_config",
            "source": f"include/config/{uc.path.name}",
            "note": "generated from the use-case YAML; regenerate with "
            "`python -m include.lifecycle.validation --write-suites`, do not hand-edit",
        },
        "expectations": exp,
    }


def suite_path(uc: UseCase) -> Path | None:
    value = uc.section("validation").get("suite")
    return resolve_path(value) if value else None


def suite_json(uc: UseCase) -> str:
    return json.dumps(suite_from_config(uc), indent=2) + "\n"


def write_suite(uc: UseCase) -> str:
    """Regenerate the stored suite file of ``uc``; returns its path."""
    path = suite_path(uc)
    if path is None:
        raise ConfigError(f"use case {uc.name!r}: validation.suite is not set")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(suite_json(uc), encoding="utf-8")
    return str(path)


def load_suite(uc: UseCase) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored suite (the versioned contract) or, when none is configured/present, the generated one."""
    generated = suite_from_config(uc)
    path = suite_path(uc)
    if path is not None and path.exists():
        text = path.read_text(encoding="utf-8")
        suite = json.loads(text)
        shown = str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)
        info = {"source": shown, "sha256": sha256_bytes(text.encode()), "in_sync_with_config": suite == generated}
        if suite != generated:
            log.warning("use case %s: suite %s differs from the config; regenerate it", uc.name, path)
        return suite, info
    text = json.dumps(generated, indent=2) + "\n"
    return generated, {"source": "generated", "sha256": sha256_bytes(text.encode()), "in_sync_with_config": True}


# -- Great Expectations --------------------------------------------------------------------------------
_GX: dict[str, Any] = {}


def _gx() -> dict[str, Any]:
    """One ephemeral context + pandas batch definition per process (GX import costs ~10 s, do it once)."""
    if not _GX:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("lifecycle").add_dataframe_asset("incoming_batch")
        _GX.update(gx=gx, context=context, batch_definition=asset.add_batch_definition_whole_dataframe("whole"))
    return _GX


def run_suite(frame: pd.DataFrame, suite: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate ``frame`` with GX; one plain dict per expectation (index lists included for row-level ones)."""
    state = _gx()
    cache_key = json.dumps(suite, sort_keys=True)
    gx_suite = state.setdefault("suites", {}).get(cache_key)
    if gx_suite is None:
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        expectations = [
            ExpectationConfiguration(
                type=i["type"], kwargs=dict(i["kwargs"]), meta=dict(i.get("meta", {}))
            ).to_domain_obj()
            for i in suite["expectations"]
        ]  # built in one go: add_expectation() one by one is quadratic (~1 s for 80 expectations)
        gx_suite = state["gx"].ExpectationSuite(name=suite["name"], expectations=expectations)
        state["suites"][cache_key] = gx_suite
    batch = state["batch_definition"].get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(gx_suite, result_format={"result_format": "COMPLETE"})
    out = []
    for res in result.results:
        cfg = res.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
        info = res.exception_info or {}
        infos = [info] if "raised_exception" in info else list(info.values())
        errors = [i.get("exception_message") for i in infos if isinstance(i, dict) and i.get("raised_exception")]
        out.append(
            {
                "expectation": cfg.type,
                "column": kwargs.get("column"),
                "kwargs": kwargs,
                "level": (cfg.meta or {}).get("level", "batch"),
                "check": (cfg.meta or {}).get("check", cfg.type),
                "success": bool(res.success),
                "result": dict(res.result or {}),
                "error": "; ".join(str(e) for e in errors) if errors else None,
            }
        )
    return out


# -- the decision ----------------------------------------------------------------------------------------
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

    @property
    def reasons(self) -> list[str]:
        rows = [
            f"{key}: {v['count']} row(s)" + (f" (e.g. {', '.join(v['examples'])})" if v["examples"] else "")
            for key, v in self.row_reasons.items()
        ]
        return [*self.batch_reasons, *rows]


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


def _batch_reason(item: dict[str, Any], uc: UseCase, n_rows: int) -> str | None:
    col, check, res, kw = item["column"], item["check"], item["result"], item["kwargs"]
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


def _empty_accepted(uc: UseCase) -> pd.DataFrame:
    cols: dict[str, pd.Series] = {uc.id_column: pd.Series([], dtype=object)}
    for col, spec in uc.columns.items():
        dtype = {"numeric": "float64", "binary": "int64"}.get(spec["kind"], object)
        cols[col] = pd.Series([], dtype=dtype)
    return pd.DataFrame(cols)


def _accepted_frame(typed: pd.DataFrame, uc: UseCase) -> pd.DataFrame:
    """id + features in config order; binary as int64 (float64 if it legitimately holds nulls)."""
    out = typed[[uc.id_column, *uc.feature_columns]].reset_index(drop=True).copy()
    for col in uc.columns_of_kind("binary"):
        out[col] = out[col].astype("float64") if out[col].isna().any() else out[col].astype("int64")
    return out


def validate_bytes(uc: UseCase, data: bytes) -> Outcome:
    """Decide what to accept and what to quarantine, without touching storage (notebook-friendly)."""
    try:
        parsed = parse_csv_bytes(data)
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

    if n == 0 and not parsed.malformed:
        batch_reasons.append("header only: the file has a header but no data rows")
    if parsed.truncated_line is not None:
        batch_reasons.append(
            f"truncated file: the last record (line {parsed.truncated_line}) is incomplete and has no line break"
        )

    wrong_type: set[str] = set()
    for col, mask in unparseable.items():
        if not mask.any():
            continue
        kind = uc.columns[col]["kind"]
        examples = raw.loc[mask, col].astype(str).unique()[:3].tolist()
        if int(mask.sum()) == int(raw[col].notna().sum()) and int(mask.sum()) > 1:
            wrong_type.add(col)
            batch_reasons.append(f"{col}: wrong type, expected {kind} but none of its values parses (e.g. {examples})")
        for pos in np.flatnonzero(mask.to_numpy()):
            value = raw.iat[pos, raw.columns.get_loc(col)]
            row_reasons[pos].append(f"{col}: unparseable value {value!r} (expected {kind})")
            if col not in wrong_type:  # a wrong-typed column is one batch reason, not one per row
                note(f"{col}: unparseable value (expected {kind})", value)

    suite, suite_info = load_suite(uc)
    results = run_suite(typed, suite)
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
        reason = _batch_reason(item, uc, n)
        if reason:
            batch_reasons.append(reason)
    for item in results:  # an entirely null column is a batch problem, whatever its nullable share
        res = item["result"]
        if item["check"] in ("null", "null_rate") and n and not item["error"] and item["column"] in present:
            if res.get("unexpected_count") == res.get("element_count") and item["column"] not in wrong_type:
                item["all_null"] = True
                batch_reasons = [r for r in batch_reasons if not r.startswith(f"{item['column']}: null rate")]
                batch_reasons.append(f"{item['column']}: column is entirely null ({n} rows)")

    for line, record in parsed.malformed:
        if line == parsed.truncated_line:
            reason = f"line {line}: truncated record, {len(record)} of {len(parsed.header)} fields"
        else:
            reason = f"line {line}: {len(record)} fields, the header has {len(parsed.header)}"
        note("malformed record (wrong number of fields)", f"line {line}")
        row_reasons[-line].append(reason)  # negative keys: malformed records, not frame positions

    good = [pos for pos in range(n) if pos not in row_reasons]
    if batch_reasons:
        good = []
    elif not good and parsed.received:
        batch_reasons.append(f"all {parsed.received} rows failed row-level checks")

    accepted = _accepted_frame(typed.iloc[good], uc) if good else _empty_accepted(uc)
    kept = set(good)
    bad_positions = [pos for pos in range(n) if pos not in kept]
    quarantined = _quarantine_rows(parsed, bad_positions, row_reasons, batch_reasons)
    if parsed.received != len(accepted) + len(quarantined):
        raise RuntimeError(f"validation bookkeeping error: {parsed.received} != {len(accepted)} + {len(quarantined)}")
    if batch_reasons or not good:
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
        "suite": suite_info,
    }
    return Outcome(status, parsed.received, accepted, quarantined, batch_reasons, summary, results, parse_info)


def _quarantine_rows(
    parsed: ParsedCsv, positions: list[int], row_reasons: dict[int, list[str]], batch_reasons: list[str]
) -> pd.DataFrame:
    header = parsed.header
    frame = parsed.frame.iloc[positions].copy()
    frame.insert(0, "_line", [parsed.lines[p] for p in positions])
    frame["_reasons"] = ["; ".join([*batch_reasons, *row_reasons.get(p, [])]) for p in positions]
    extra = []
    for line, record in parsed.malformed:
        values = (record + [None] * len(header))[: len(header)]
        extra.append({"_line": line, **dict(zip(header, values, strict=True)),
                      "_reasons": "; ".join([*batch_reasons, *row_reasons[-line]])})  # fmt: skip
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True)
    frame = frame.sort_values("_line").reset_index(drop=True)
    for col in header:
        frame[col] = _strings(frame[col]) if len(frame) else frame[col].astype(object)
    frame["_line"] = frame["_line"].astype("int64")
    return frame


# -- the task ------------------------------------------------------------------------------------------
def partition(kind: str, uc: UseCase, day: date | str) -> str:
    from include.lifecycle.replay import as_date

    return f"{kind}/{uc.name}/date={as_date(day).isoformat()}"


def _plain(obj: Any) -> Any:
    """numpy/pandas scalars to JSON-able Python values, recursively."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is pd.NA or (isinstance(obj, float) and np.isnan(obj)):
        return None
    return obj


def _result_entries(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("element_count", "unexpected_count", "unexpected_percent", "observed_value", "details")
    entries = []
    for item in results:
        res = item["result"]
        entries.append(
            {
                "expectation": item["expectation"],
                "column": item["column"],
                "check": item["check"],
                "level": item["level"],
                "kwargs": item["kwargs"],
                "success": item["success"],
                **{k: res[k] for k in keep if k in res},
                "examples": list(res.get("partial_unexpected_list") or [])[:5],
                "error": item["error"],
                **({"note": item["note"]} if "note" in item else {}),
            }
        )
    return _plain(entries)


def validate_batch(
    store: ArtifactStore, uc: UseCase, day: date | str, on_batch_failure: str | None = None
) -> dict[str, Any]:
    """Validate ``incoming/<uc>/date=<d>/batch.csv``; write accepted, quarantine, result and report.

    ``on_batch_failure`` overrides ``validation.on_batch_failure`` (continue | fail). With ``fail`` a
    rejected batch raises :class:`BatchRejectedError` *after* everything is written.
    """
    from include.lifecycle.acquisition import BatchMissingError, incoming_key
    from include.lifecycle.replay import as_date

    d = as_date(day).isoformat()
    policy = on_batch_failure or str(uc.section("validation").get("on_batch_failure", "continue"))
    if policy not in ("continue", "fail"):
        raise ConfigError(f"use case {uc.name!r}: validation.on_batch_failure must be continue|fail, got {policy!r}")
    key = incoming_key(uc, d)
    if not store.exists(key):
        raise BatchMissingError(f"use case {uc.name!r}, {d}: no incoming batch at {store.uri(key)}; run acquisition")
    data = store.read_bytes(key)
    outcome = validate_bytes(uc, data)

    raw_p, q_p, v_p = (partition(k, uc, d) for k in ("raw", "quarantine", "validation"))
    for prefix in (raw_p, q_p, v_p):
        store.delete_prefix(prefix + "/")
    accepted_key = f"{raw_p}/accepted.parquet"
    accepted_sha = store.write_frame(accepted_key, outcome.accepted)
    quarantined = len(outcome.quarantined) if outcome.quarantined is not None else outcome.received
    q_keys: dict[str, str] = {}
    if outcome.unreadable:
        q_keys["raw_bytes"] = f"{q_p}/batch.csv"
        store.write_bytes(q_keys["raw_bytes"], data)
    if outcome.quarantined is not None and len(outcome.quarantined):
        q_keys["rows"] = f"{q_p}/rows.parquet"
        store.write_frame(q_keys["rows"], outcome.quarantined)
    if outcome.status != "accepted":
        q_keys["reasons"] = f"{q_p}/reasons.json"
        store.write_json(
            q_keys["reasons"],
            {"use_case": uc.name, "date": d, "status": outcome.status, "batch_reasons": outcome.batch_reasons,
             "row_reasons": outcome.row_reasons, "quarantined": quarantined},
        )  # fmt: skip

    summary = {
        "use_case": uc.name,
        "date": d,
        "status": outcome.status,
        "received": outcome.received,
        "accepted": len(outcome.accepted),
        "quarantined": quarantined,
        "reasons": outcome.reasons,
        "report_key": f"{v_p}/report.html",
        "accepted_key": accepted_key,
        "accepted_sha256": accepted_sha,
    }
    result = {
        **summary,
        "batch_reasons": outcome.batch_reasons,
        "row_reasons": outcome.row_reasons,
        "incoming_key": key,
        "incoming_sha256": sha256_bytes(data),
        "quarantine_keys": q_keys,
        "parse": outcome.parse,
        "expectations": _result_entries(outcome.expectations),
        "gx_success": all(e["success"] for e in outcome.expectations) if outcome.expectations else False,
        "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.write_bytes(f"{v_p}/result.json", json_bytes(_plain(result)))
    store.write_text(summary["report_key"], render_report(result, outcome.quarantined))
    log.info("validated %s %s: %s (%s received, %s accepted, %s quarantined)", uc.name, d, outcome.status,
             outcome.received, len(outcome.accepted), quarantined)  # fmt: skip
    if outcome.status == "rejected" and policy == "fail":
        raise BatchRejectedError(
            f"use case {uc.name!r}, batch {d} rejected: {'; '.join(outcome.reasons)} "
            f"(quarantined {quarantined} rows under {q_p}/)"
        )
    return summary


# -- the report ----------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:0.9em}th{background:#f3f3f3}
.ok{color:#17692b}.warn{color:#a05a00}.bad{color:#b00020}.status{font-size:1.4em;font-weight:bold}code{background:#f6f6f6}
"""


def render_report(result: dict[str, Any], quarantined: pd.DataFrame | None) -> str:
    """A self-contained HTML page a data engineer can read in the Airflow UI or a browser."""
    e = html.escape
    status = result["status"]
    cls = {"accepted": "ok", "partial": "warn"}.get(status, "bad")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Validation {e(result['use_case'])} "
        f"{e(result['date'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Batch validation: {e(result['use_case'])} / {e(result['date'])}</h1>",
        f"<p class='status {cls}'>{e(status.upper())}</p>",
        "<table><tr><th>received</th><th>accepted</th><th>quarantined</th><th>incoming</th><th>sha256</th></tr>",
        f"<tr><td>{result['received']}</td><td>{result['accepted']}</td><td>{result['quarantined']}</td>"
        f"<td><code>{e(result['incoming_key'])}</code></td><td><code>{e(result['incoming_sha256'][:16])}…</code></td>"
        "</tr></table>",
    ]
    if result["reasons"]:
        parts.append("<h2>Reasons</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in result["reasons"]) + "</ul>")
    suite = (result.get("parse") or {}).get("suite") or {}
    parts.append(f"<h2>Expectations</h2><p>suite: <code>{e(str(suite.get('source', '-')))}</code>"
                 f" (in sync with config: {e(str(suite.get('in_sync_with_config', '-')))})</p>")  # fmt: skip
    if result["expectations"]:
        parts.append(
            "<table><tr><th>expectation</th><th>column</th><th>level</th><th>success</th>"
            "<th>unexpected</th><th>observed / examples</th></tr>"
        )
        for item in result["expectations"]:
            ok = "ok" if item["success"] else "bad"
            seen = item.get("error") or item.get("note") or item.get("observed_value", item.get("examples", ""))
            parts.append(
                f"<tr><td>{e(item['expectation'])}</td><td>{e(str(item['column'] or '(table)'))}</td>"
                f"<td>{e(item['level'])}</td><td class='{ok}'>{'yes' if item['success'] else 'NO'}</td>"
                f"<td>{e(str(item.get('unexpected_count', '')))}</td><td>{e(str(seen)[:300])}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>Not run: the file could not be read as a table.</p>")
    if quarantined is not None and len(quarantined):
        sample = quarantined.head(REPORT_SAMPLE_ROWS)
        parts.append(f"<h2>Quarantined rows (first {len(sample)} of {len(quarantined)})</h2>")
        parts.append(sample.to_html(index=False, na_rep="", escape=True, border=0))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m include.lifecycle.validation --write-suites``: regenerate every stored suite."""
    import argparse

    from include.lifecycle.config import list_use_cases, load_use_case

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write-suites", action="store_true", help="rewrite include/expectations/<uc>.json")
    args = parser.parse_args(argv)
    if args.write_suites:
        for name in list_use_cases():
            print(write_suite(load_use_case(name)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
