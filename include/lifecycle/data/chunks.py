"""A batch larger than :data:`STREAM_ABOVE`, validated in record-aligned chunks with bounded memory.

The store streams the batch (gzip decoded on the way); it is cut at line breaks outside quoted values, and
each chunk (the header line, then its records) is decided by :func:`decide.validate_bytes` with a
:class:`decide.Scope`. Row verdicts are the chunk's own; the verdicts on the whole batch are made here, from
every chunk's counts and results: duplicate ids across chunks, the row count, null rates, all-null and
wrong-typed columns, "every row failed", and any chunk's batch reason (a truncated last record) rejects them
all. When those verdicts change what a chunk decided, the chunks are decided again with them (a second pass,
a third at most): the outcome is the one the whole file, validated at once, would get (tests compare).

Accepted and quarantined rows are spilled to local Parquet files, chunk by chunk, then joined into one file
each; the caller uploads them.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from include.lifecycle.config import UseCase
from include.lifecycle.data.contract import GX_FULL_ROWS
from include.lifecycle.data.csvparse import _data_lines
from include.lifecycle.data.decide import (
    BATCH_WIDE_CHECKS,
    Outcome,
    Scope,
    _batch_reason,
    _empty_accepted,
    all_null_reasons,
    reason_lines,
    validate_bytes,
    wrong_type_reason,
)
from include.lifecycle.store import ArtifactStore

# A 1M-row day (148 MB) is still validated whole (the fastest way, within its memory goal); a larger batch is
# streamed in pieces of 64 MiB (~450k rows), a few hundred MiB each whatever the batch's size (bench 11).
STREAM_ABOVE = 256 << 20
CHUNK_BYTES = 64 << 20
_KEEP = ("element_count", "unexpected_count", "unexpected_percent", "observed_value", "details",
         "partial_unexpected_list", "missing_count")


class _Reader:
    """The stored object's bytes as they are read: counted and hashed (the incoming sha256)."""

    def __init__(self, source: Any) -> None:
        self.source, self.digest, self.bytes, self._head = source, hashlib.sha256(), 0, b""

    def peek2(self) -> bytes:
        self._head = self.source.read(2)
        return self._head

    def read(self, n: int = -1) -> bytes:
        head, self._head = self._head, b""
        block = head + (self.source.read() if n < 0 else self.source.read(n - len(head)) if n > len(head) else b"")
        self.digest.update(block)
        self.bytes += len(block)
        return block

    def drain(self) -> None:
        while self.read(1 << 22):
            pass


def _cut(buf: bytes, last: bool = True) -> int:
    """Just past the last (or first) line break outside quotes (``buf`` starts outside quotes), 0 if none."""
    arr = np.frombuffer(buf, np.uint8)
    breaks = np.flatnonzero(arr == 10)
    quotes = np.flatnonzero(arr == 34)
    outside = breaks[np.searchsorted(quotes, breaks) % 2 == 0] if len(quotes) else breaks
    return int(outside[-1 if last else 0]) + 1 if len(outside) else 0


def _line_breaks(buf: bytes) -> int:
    """Line breaks as the csv module counts them (LF, CRLF and a bare CR each end a line)."""
    return buf.count(b"\n") + buf.count(b"\r") - buf.count(b"\r\n")


def record_chunks(stream: Any, size: int) -> Iterator[tuple[bytes, int]]:
    """``(header line + whole records, line offset)`` pieces of about ``size`` bytes of a CSV stream.

    A file whose quotes never balance again has no cut after its odd quote: the rest is one piece.
    """
    pending, header, header_breaks, breaks_before = b"", b"", 0, 0
    while True:
        block = stream.read(size)
        eof = not block
        if eof and not pending:
            return
        pending += block
        del block  # one copy of the bytes at a time: the piece, then the chunk
        cut = len(pending) if eof else _cut(pending)
        if not cut:
            continue
        piece, pending = pending[:cut], pending[cut:]
        breaks, offset = _line_breaks(piece), breaks_before - header_breaks
        if not header:
            header = piece[: _cut(piece, last=False) or len(piece)]
            header_breaks, offset = _line_breaks(header), 0
        else:
            piece = header + piece
        breaks_before += breaks
        yield piece, offset
        del piece
        if eof:
            return


@dataclass
class Spilled:
    """A large batch's decision; its accepted and quarantined rows are in local Parquet files."""

    status: str
    received: int
    accepted_rows: int
    accepted_path: Path | None
    quarantined_rows: int
    quarantine_path: Path | None
    quarantine_attrs: dict[str, str]
    batch_reasons: list[str]
    row_reasons: dict[str, dict[str, Any]]
    expectations: list[dict[str, Any]]
    parse: dict[str, Any]
    sha256: str
    workdir: Path
    unreadable: bool = False

    @property
    def reasons(self) -> list[str]:
        return reason_lines(self.batch_reasons, self.row_reasons)

    def quarantine_head(self, rows: int) -> Any:
        import pyarrow.parquet as pq

        if self.quarantine_path is None:
            return None
        head = next(pq.ParquetFile(self.quarantine_path).iter_batches(batch_size=rows), None)
        return head.to_pandas() if head is not None else None

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class _Pass:
    """One pass over the chunks under one scope: what each chunk decided, its rows spilled to ``folder``."""

    folder: Path
    outcomes: list[Outcome] = field(default_factory=list)
    accepted_files: list[Path] = field(default_factory=list)
    quarantine_files: list[Path] = field(default_factory=list)
    unreadable: str | None = None
    unreadable_lines: int = 0
    compressed: bool = False
    sha256: str = ""
    bytes: int = 0


def _slim(outcome: Outcome) -> None:
    """Drop what a chunk's results hold per row (index lists, GX's unexpected lists) once it has decided."""
    for item in outcome.expectations:
        item["result"] = {k: v for k, v in item["result"].items() if k in _KEEP}


def _write_parquet(frame: Any, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None), path)
    return path


def _decoded(pieces: Iterator[tuple[bytes, int]], run: _Pass) -> Iterator[tuple[bytes, int]]:
    """``pieces`` until the gzip stream breaks; then the batch is unreadable, with the reason."""
    while True:
        try:
            piece = next(pieces)
        except StopIteration:
            return
        except (EOFError, OSError, zlib.error) as exc:
            if not run.compressed:
                raise
            run.unreadable = run.unreadable or f"unreadable: gzip stream is truncated or corrupt ({exc})"
            run.unreadable_lines = run.unreadable_lines or sum(o.received for o in run.outcomes)
            return
        yield piece


def _one_pass(store: ArtifactStore, key: str, uc: UseCase, scope: Scope, folder: Path, size: int,
              gx_full_rows: int) -> _Pass:
    folder.mkdir(parents=True)
    run = _Pass(folder)
    with store.open_read(key) as source:
        reader = _Reader(source)
        run.compressed = reader.peek2() == b"\x1f\x8b"
        stream: Any = gzip.GzipFile(fileobj=reader, mode="rb") if run.compressed else reader
        for i, (chunk, offset) in enumerate(_decoded(record_chunks(stream, size), run)):
            if run.unreadable is not None:  # count what is left, for the "received" estimate
                run.unreadable_lines += _data_lines(chunk)
                continue
            outcome = validate_bytes(uc, chunk, gx_full_rows, line_offset=offset, scope=scope)
            if outcome.unreadable:
                run.unreadable = outcome.batch_reasons[0]
                run.unreadable_lines = sum(o.received for o in run.outcomes) + outcome.received
                continue
            _slim(outcome)
            outcome.stats["accepted"] = len(outcome.accepted)
            outcome.stats["quarantined"] = len(outcome.quarantined) if outcome.quarantined is not None else 0
            if len(outcome.accepted):
                run.accepted_files.append(_write_parquet(outcome.accepted, folder / f"accepted-{i}.parquet"))
            if outcome.quarantined is not None and len(outcome.quarantined):
                run.quarantine_files.append(_write_parquet(outcome.quarantined, folder / f"quarantine-{i}.parquet"))
            # copies: an empty slice would keep the chunk's whole columns alive as its base
            outcome.accepted = outcome.accepted.iloc[:0].copy()
            if outcome.quarantined is not None:
                outcome.quarantined = outcome.quarantined.iloc[:0].copy()
            run.outcomes.append(outcome)
        reader.drain()
    run.sha256, run.bytes = reader.digest.hexdigest(), reader.bytes
    return run


def merge_results(per_chunk: list[list[dict[str, Any]]], rows: int) -> list[dict[str, Any]]:
    """The suite's results on the whole batch from its chunks' results (counts summed, shares recomputed)."""
    merged = []
    for items in zip(*per_chunk, strict=True):
        first = items[0]
        item = {**first, "result": dict(first["result"])}
        errors = [i["error"] for i in items if i["error"]]
        if errors:
            item.update(error=errors[0], success=False)
        elif first["check"] == "row_count":
            lo, hi = first["kwargs"].get("min_value"), first["kwargs"].get("max_value")
            item["result"]["observed_value"] = rows
            item["success"] = (lo is None or rows >= lo) and (hi is None or rows <= hi)
        elif "element_count" in first["result"]:
            res = [i["result"] for i in items]
            element, unexpected = sum(r["element_count"] for r in res), sum(r["unexpected_count"] for r in res)
            missing = sum(r.get("missing_count") or 0 for r in res)
            considered = element if first["expectation"] == "expect_column_values_to_not_be_null" else element - missing
            share = unexpected / considered if considered else 0.0
            mostly = first["kwargs"].get("mostly")
            item["success"] = bool((1.0 - share) >= mostly if mostly is not None else unexpected == 0)
            partial = [v for r in res for v in r.get("partial_unexpected_list") or []][:20]
            item["result"].update(element_count=element, unexpected_count=unexpected, missing_count=missing,
                                  unexpected_percent=share * 100.0 if considered and element else None,
                                  partial_unexpected_list=partial)
        else:
            item["success"] = all(i["success"] for i in items)
        merged.append(item)
    return merged


def _duplicates(outcomes: list[Outcome]) -> Any:
    """Ids that occur more than once in the batch, when some twin is in another chunk (else None).

    Candidates are the repeated 64-bit hashes (a sort of 8 bytes a row, not a hash table of every id); their
    ids are then compared exactly, so a hash collision never quarantines a row.
    """
    import pyarrow as pa

    hashes = np.sort(np.concatenate([o.stats["id_hashes"] for o in outcomes]))
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if not len(repeated):
        return None
    candidates = pa.chunked_array(
        [o.stats["ids"].filter(pa.array(np.isin(o.stats["id_hashes"], repeated))) for o in outcomes],
        pa.large_string()).to_pandas()
    counts = candidates.value_counts()
    counts = counts[counts > 1]
    flagged = sum(i["result"].get("unexpected_count") or 0 for o in outcomes for i in o.expectations
                  if i["check"] == "unique_id" and not i["error"])
    return pa.array(counts.index.to_numpy(dtype=object), pa.large_string()) if int(counts.sum()) > flagged else None


def _verdict(run: _Pass, uc: UseCase, scope: Scope) -> Scope:
    """The batch-wide verdicts over every chunk of ``run``, as the scope the chunks must be decided in."""
    outcomes = run.outcomes
    rows = sum(o.stats["rows"] for o in outcomes)
    results = merge_results([o.expectations for o in outcomes], rows)
    header = outcomes[0].parse["header"]
    reasons: list[str] = []
    if rows == 0 and not sum(o.parse["malformed_records"] for o in outcomes):
        reasons.append("header only: the file has a header but no data rows")
    wrong: set[str] = set()
    for col in outcomes[0].stats["unparseable"]:
        stats = [o.stats["unparseable"][col] for o in outcomes]
        bad, present = sum(s["unparseable"] for s in stats), sum(s["present"] for s in stats)
        if bad == present and bad > 1:
            wrong.add(col)
            examples = list(dict.fromkeys(e for s in stats for e in s["examples"]))[:3]
            reasons.append(wrong_type_reason(col, uc.columns[col]["kind"], examples))
    own = [r for o in outcomes for r in o.stats["own_reasons"]]
    reasons += [r for r in dict.fromkeys(own) if r not in reasons]
    for item in results:
        if item["error"] or item["success"] or item["check"] not in BATCH_WIDE_CHECKS:
            continue
        if not (item["column"] in wrong and item["check"] == "null_rate"):
            reasons.append(_batch_reason(item, uc, rows))
    reasons = all_null_reasons(results, rows, set(header), wrong, reasons)
    received = sum(o.received for o in outcomes)
    if not reasons and received and not sum(o.stats["clean_rows"] for o in outcomes):
        reasons.append(f"all {received} rows failed row-level checks")
    dups = scope.duplicate_ids if scope.duplicate_ids is not None else _duplicates(outcomes)
    return Scope(frozenset(wrong), tuple(reasons), dups)


def _join(files: list[Path], target: Path) -> Path | None:
    """One Parquet file from the chunks' files, in order; a column's type is the widest any chunk gave it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        return None
    schemas = [pq.read_schema(f) for f in files]
    fields = []
    for i, name in enumerate(schemas[0].names):
        types = [s.field(i).type for s in schemas if not pa.types.is_null(s.field(i).type)]
        kind = pa.float64() if pa.float64() in types else (types[0] if types else pa.string())
        fields.append(pa.field(name, kind))
    schema = pa.schema(fields)
    with pq.ParquetWriter(target, schema) as writer:
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1 << 20):
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
            f.unlink()
    return target


def validate_large(store: ArtifactStore, key: str, uc: UseCase, size: int | None = None,
                   gx_full_rows: int = GX_FULL_ROWS) -> Spilled:
    """Validate the stored batch at ``key`` in chunks of ``size`` bytes (default :data:`CHUNK_BYTES`)."""
    size = size or CHUNK_BYTES
    workdir = Path(tempfile.mkdtemp(prefix="lifecycle-validate-"))
    try:
        scope, run = Scope(), None
        for attempt in range(3):
            if run is not None:
                shutil.rmtree(run.folder)
            run = _one_pass(store, key, uc, scope, workdir / f"pass-{attempt}", size, gx_full_rows)
            if run.unreadable is not None:
                return _unreadable(run, uc, workdir)
            verdict = _verdict(run, uc, scope)
            if verdict.batch_reasons == scope.batch_reasons and verdict.wrong_type == scope.wrong_type and (
                    (verdict.duplicate_ids is None) == (scope.duplicate_ids is None)):
                break
            scope = verdict
        return _spilled(run, uc, scope, workdir, size)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _unreadable(run: _Pass, uc: UseCase, workdir: Path) -> Spilled:
    """Nothing accepted (an empty accepted file, as for a small batch), every received line quarantined as bytes."""
    empty = _write_parquet(_empty_accepted(uc), workdir / "accepted.parquet")
    return Spilled("rejected", run.unreadable_lines, 0, empty, run.unreadable_lines, None, {}, [run.unreadable], {},
                   [], {"readable": False, "bytes": run.bytes}, run.sha256, workdir, unreadable=True)


def _spilled(run: _Pass, uc: UseCase, scope: Scope, workdir: Path, size: int) -> Spilled:
    outcomes = run.outcomes
    rows = sum(o.stats["rows"] for o in outcomes)
    accepted_path = _join(run.accepted_files, workdir / "accepted.parquet")
    if accepted_path is None:
        accepted_path = _write_parquet(_empty_accepted(uc), workdir / "accepted.parquet")
    quarantine_path = _join(run.quarantine_files, workdir / "quarantine.parquet")
    accepted = sum(o.stats["accepted"] for o in outcomes)
    quarantined = sum(o.stats["quarantined"] for o in outcomes)
    summary: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        for k, v in o.row_reasons.items():
            entry = summary.setdefault(k, {"count": 0, "examples": []})
            entry["count"] += v["count"]
            entry["examples"] = list(dict.fromkeys([*entry["examples"], *v["examples"]]))[:3]
    batch_reasons = list(scope.batch_reasons)
    status = "rejected" if batch_reasons or not accepted else ("partial" if quarantined else "accepted")
    first = outcomes[0].parse
    engines = [o.parse["validation_engine"] for o in outcomes]
    trimmed = sum(o.parse["trimmed_values"] for o in outcomes)
    parse = {
        **first, "bytes": run.bytes, "compressed": run.compressed,
        "malformed_records": sum(o.parse["malformed_records"] for o in outcomes),
        "truncated_line": next((o.parse["truncated_line"] for o in outcomes if o.parse["truncated_line"]), None),
        "trimmed_values": trimmed, "chunks": {"count": len(outcomes), "bytes_each": size},
        "validation_engine": {
            "engine": f"in {len(outcomes)} record-aligned chunks: " + engines[0]["engine"], "rows": rows,
            "flagged_rows": sum(e.get("flagged_rows", 0) for e in engines),
            "evidence_rows": sum(e.get("evidence_rows", e["rows"]) for e in engines),
            "gx_agrees": all(e.get("gx_agrees", True) for e in engines)},
        "notes": ([f"{trimmed} value(s) carried stray whitespace (e.g. a space after each comma): "
                   "trimmed before validation"] if trimmed else []),
    }  # fmt: skip
    attrs = next((o.quarantined.attrs for o in outcomes if o.quarantined is not None), {})
    return Spilled(status, sum(o.received for o in outcomes), accepted, accepted_path, quarantined,
                   quarantine_path, dict(attrs), batch_reasons, summary,
                   merge_results([o.expectations for o in outcomes], rows), parse, run.sha256, workdir)
