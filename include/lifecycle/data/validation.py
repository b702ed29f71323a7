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

A batch larger than :data:`chunks.STREAM_ABOVE` is streamed from the store and decided in record-aligned
chunks (:mod:`include.lifecycle.data.chunks`): the same decision, in bounded memory.

Invariant, checked before anything is written: ``received == accepted + quarantined``, where
``received`` counts the CSV data records (estimated from the raw lines when the file is unreadable).

Outputs per partition (a rerun deletes the partition's old outputs first):
``raw/<uc>/date=<d>/accepted.parquet`` (typed: numeric float64, binary int64, categorical str),
``quarantine/<uc>/date=<d>/rows.parquet`` (the raw strings + ``_line`` + ``_reasons``), ``reasons.json``
and, for a rejected batch, ``batch.csv`` (the bytes as received, verbatim), and
``validation/<uc>/date=<d>/result.json`` + ``report.html``.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle import layout
from include.lifecycle.config import ConfigError, UseCase
from include.lifecycle.data import chunks
from include.lifecycle.data.decide import validate_bytes
from include.lifecycle.data.report import REPORT_SAMPLE_ROWS, render_report
from include.lifecycle.data.sources import BatchMissingError
from include.lifecycle.layout import day_str
from include.lifecycle.store import ArtifactStore, json_bytes, sha256_bytes

log = logging.getLogger(__name__)


class BatchRejectedError(RuntimeError):
    """A batch was rejected and the policy is ``on_batch_failure: fail`` (raised after quarantining)."""



# -- the task ------------------------------------------------------------------------------------------
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
    d = day_str(day)
    policy = on_batch_failure or str(uc.section("validation").get("on_batch_failure", "continue"))
    if policy not in ("continue", "fail"):
        raise ConfigError(f"use case {uc.name!r}: validation.on_batch_failure must be continue|fail, got {policy!r}")
    key = layout.incoming_batch_key(uc, d)
    if not store.exists(key):
        raise BatchMissingError(f"use case {uc.name!r}, {d}: no incoming batch at {store.uri(key)}; run acquisition")
    if store.size(key) > chunks.STREAM_ABOVE:  # streamed in chunks: memory bounded whatever the batch's size
        spilled = chunks.validate_large(store, key, uc)
        try:
            return _write_outcome(store, uc, d, key, policy, spilled, None)
        finally:
            spilled.cleanup()
    data = store.read_bytes(key)
    return _write_outcome(store, uc, d, key, policy, validate_bytes(uc, data), data)


def _write_outcome(store: ArtifactStore, uc: UseCase, d: str, key: str, policy: str, outcome: Any,
                   data: bytes | None) -> dict[str, Any]:
    """Write what was decided; ``data`` is None when ``outcome`` is a :class:`chunks.Spilled` (rows on disk)."""
    spilled = data is None
    q_p = layout.quarantine_prefix(uc, d)
    for prefix in (layout.raw_prefix(uc, d), q_p, layout.validation_prefix(uc, d)):
        store.delete_prefix(prefix + "/")
    accepted_key = layout.accepted_key(uc, d)
    if spilled:
        accepted_sha = store.write_file(accepted_key, outcome.accepted_path)
        accepted_rows, quarantined, attrs = outcome.accepted_rows, outcome.quarantined_rows, outcome.quarantine_attrs
        quarantine_sample = outcome.quarantine_head(REPORT_SAMPLE_ROWS)
    else:
        accepted_sha = store.write_frame(accepted_key, outcome.accepted)
        accepted_rows = len(outcome.accepted)
        quarantined = len(outcome.quarantined) if outcome.quarantined is not None else outcome.received
        attrs = outcome.quarantined.attrs if outcome.quarantined is not None else {}
        quarantine_sample = outcome.quarantined
    q_keys: dict[str, str] = {}
    if outcome.status == "rejected":  # verbatim: incoming/ is overwritten by the next delivery of the day
        q_keys["raw_bytes"] = layout.quarantine_bytes_key(uc, d)
        if spilled:
            store.copy(key, q_keys["raw_bytes"])
        else:
            store.write_bytes(q_keys["raw_bytes"], data)
    if not outcome.unreadable and quarantined:
        q_keys["rows"] = layout.quarantine_rows_key(uc, d)
        if spilled:
            store.write_file(q_keys["rows"], outcome.quarantine_path)
        else:
            store.write_frame(q_keys["rows"], outcome.quarantined)
    if outcome.status != "accepted":
        q_keys["reasons"] = layout.quarantine_reasons_key(uc, d)
        store.write_json(
            q_keys["reasons"],
            {"use_case": uc.name, "date": d, "status": outcome.status, "batch_reasons": outcome.batch_reasons,
             "row_reasons": outcome.row_reasons, "quarantined": quarantined, **attrs},
        )  # fmt: skip

    summary = {
        "use_case": uc.name,
        "date": d,
        "status": outcome.status,
        "received": outcome.received,
        "accepted": accepted_rows,
        "quarantined": quarantined,
        "reasons": outcome.reasons,
        "report_key": layout.validation_report_key(uc, d),
        "accepted_key": accepted_key,
        "accepted_sha256": accepted_sha,
    }
    result = {
        **summary,
        "batch_reasons": outcome.batch_reasons,
        "row_reasons": outcome.row_reasons,
        "incoming_key": key,
        "incoming_sha256": outcome.sha256 if spilled else sha256_bytes(data),
        "quarantine_keys": q_keys,
        "parse": outcome.parse,
        "expectations": _result_entries(outcome.expectations),
        "gx_success": all(e["success"] for e in outcome.expectations) if outcome.expectations else False,
        "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.write_bytes(layout.validation_result_key(uc, d), json_bytes(_plain(result)))
    store.write_text(summary["report_key"], render_report(result, quarantine_sample))
    log.info("validated %s %s: %s (%s received, %s accepted, %s quarantined)", uc.name, d, outcome.status,
             outcome.received, accepted_rows, quarantined)  # fmt: skip
    if outcome.status == "rejected" and policy == "fail":
        raise BatchRejectedError(
            f"use case {uc.name!r}, batch {d} rejected: {'; '.join(outcome.reasons)} "
            f"(quarantined {quarantined} rows under {q_p}/)"
        )
    return summary



