"""Acquisition: copy one interval's batch from its source, untouched; validate and store the labels delivered.

The batch bytes are copied *untouched* to ``incoming/<uc>/date=<d>/batch.csv``: validation judges exactly what
the source sent, and a rejected file can be replayed or shown to the source's owner byte for byte. Labels are
small and validated here (ids, allowed values) before they reach ``labels/<uc>/date=<d>/labels.parquet``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle.config import UseCase
from include.lifecycle.data.csvparse import CsvUnreadableError, parse_csv_bytes
from include.lifecycle.data.decide import internal_column
from include.lifecycle.data.sources import BatchMissingError, Source
from include.lifecycle.layout import (
    as_date,
    incoming_batch_key,
    labels_key,
    labels_quarantine_bytes_key,
    labels_quarantine_prefix,
    labels_quarantine_rows_key,
)
from include.lifecycle.store import ArtifactStore, sha256_bytes

log = logging.getLogger(__name__)


def acquire(store: ArtifactStore, uc: UseCase, day: date | str, source: Source) -> dict[str, Any]:
    """Copy the day's batch, byte for byte, to ``incoming/<uc>/date=<d>/batch.csv`` (overwrites on rerun)."""
    d = as_date(day)
    data = source.fetch_batch(uc, d)
    if data is None:
        raise BatchMissingError(
            f"use case {uc.name!r}: no batch for {d.isoformat()} at {source.describe(uc, d, 'batch')}"
        )
    key = incoming_batch_key(uc, d)
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
    out_key = labels_key(uc, d)
    q_prefix = labels_quarantine_prefix(uc, d)
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
        store.write_bytes(labels_quarantine_bytes_key(uc, d), data)
        log.warning("use case %s, labels of %s unreadable: %s", uc.name, d, exc.reason)
        return {**base, "rows": 0, "received": exc.received, "quarantined": exc.received, "reasons": [exc.reason]}

    raw = parsed.frame
    n = len(raw)
    counts: dict[str, int] = {}
    missing = [c for c in (id_col, target) if c not in raw.columns]
    allowed = {str(label): label for label in uc.labels}
    # Masks, not a loop over rows: each check is (summary key, row mask, per-row text), in the order a row
    # lists its reasons; the summary keys are ordered by the first row that shows them, as a loop would.
    # The per-row text of a check is a string, or a function of the flagged positions (values are quoted only
    # where a row is flagged: a day of a million labels has few).
    checks: list[tuple[str, np.ndarray, Callable[[np.ndarray], list[str]] | str]] = []
    if missing:
        text = f"labels file lacks columns {missing}"
        checks.append((text, np.ones(n, bool), text))
    else:
        ids, values = raw[id_col], raw[target]  # strings (the parser's), NaN where missing
        null_id = ids.isna().to_numpy(bool)
        dup = ~null_id & ids.duplicated(keep=False).to_numpy(bool)
        null_label = values.isna().to_numpy(bool)
        unknown = ~null_label & ~values.isin(list(allowed)).to_numpy(bool)

        def quoted(series: pd.Series, before: str, after: str = "") -> Callable[[np.ndarray], list[str]]:
            return lambda pos: [f"{before}{v!r}{after}" for v in series.iloc[pos].astype(object)]

        checks += [
            (f"{id_col}: null id", null_id, f"{id_col}: null id"),
            (f"{id_col}: duplicate id", dup, quoted(ids, f"{id_col}: duplicate id ")),
            (f"{target}: null label", null_label, f"{target}: null label"),
            (f"{target}: label not in {list(uc.labels)}", unknown,
             quoted(values, f"{target}: ", f" not in {list(uc.labels)}")),
        ]
    firsts = []
    for order, (kind, mask, _) in enumerate(checks):
        if mask.any():
            counts[kind] = int(mask.sum())
            firsts.append((int(np.argmax(mask)), order, kind))
    counts = {kind: counts[kind] for _, _, kind in sorted(firsts)}
    flagged = np.zeros(n, bool)
    for _, mask, _ in checks:
        flagged |= mask
    reasons: dict[int, list[str]] = {int(i): [] for i in np.flatnonzero(flagged)}
    for _, mask, text in checks:
        pos = np.flatnonzero(mask)
        for i, reason in zip(pos, [text] * len(pos) if isinstance(text, str) else text(pos), strict=True):
            reasons[int(i)].append(reason)
    if parsed.malformed:
        counts["malformed record (wrong number of fields)"] = len(parsed.malformed)

    good = np.flatnonzero(~flagged)
    labels = None
    if not missing:
        kept = raw.iloc[good]
        # one lookup per distinct label, not per row; ids are the parser's strings, as Python str objects
        codes, uniques = pd.factorize(kept[target].astype(object))
        mapped = np.array([allowed[str(u)] for u in uniques] + [None], dtype=object)[codes]
        labels = pd.DataFrame({id_col: kept[id_col].to_numpy(dtype=object), target: mapped})
    line_col, reasons_col = internal_column("_line", parsed.header), internal_column("_reasons", parsed.header)
    bad_rows = [
        {line_col: parsed.lines[i], **{c: raw.iat[i, j] for j, c in enumerate(raw.columns)},
         reasons_col: "; ".join(r)}
        for i, r in reasons.items()
    ] + [
        {line_col: line, reasons_col: f"line {line}: {len(rec)} fields, the header has {len(parsed.header)}"}
        for line, rec in parsed.malformed
    ]
    result = {
        **base,
        "received": parsed.received,
        "quarantined": len(bad_rows),
        "reasons": [f"{kind}: {n} row(s)" for kind, n in counts.items()],
    }
    if not parsed.received:  # delivered, yet nothing to learn from: a rejected delivery, not a quiet day
        result["reasons"].append("header only: the labels file has a header but no rows")
    if bad_rows:
        frame = pd.DataFrame(bad_rows)
        frame = frame.astype(object).where(frame.notna(), None)
        for col in frame.columns:
            if col != line_col:
                frame[col] = frame[col].map(lambda v: v if v is None else str(v))
        frame[line_col] = frame[line_col].astype("int64")
        store.write_frame(labels_quarantine_rows_key(uc, d), frame.sort_values(line_col).reset_index(drop=True))
    result["rows"] = 0 if labels is None else len(labels)
    if labels is not None and len(labels):
        result["sha256"] = store.write_frame(out_key, labels)
        result["key"] = out_key
    if result["quarantined"]:
        log.warning("use case %s, labels of %s: %s", uc.name, d, result["reasons"])
    return result


def labels_alert(result: dict[str, Any]) -> dict[str, str] | None:
    """The alert a label delivery deserves (None for a clean one or a day without delivery).

    Quarantined rows alert (critical when every row went); so does a delivered file with no usable row at all
    (empty, header only, unreadable), whose reasons say why even though no row could be counted.
    """
    quarantined, reasons = result.get("quarantined") or 0, "; ".join(result.get("reasons") or [])[:600]
    if quarantined:
        everything = quarantined >= (result.get("received") or 0)
        return {"severity": "critical" if everything else "warning",
                "summary": f"{quarantined} of {result.get('received')} label rows quarantined"
                           f"{' (every label of the day)' if everything else ''}: {reasons}"}
    if reasons:
        return {"severity": "critical", "summary": f"labels file REJECTED, no usable row: {reasons}"}
    return None

