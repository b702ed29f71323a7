"""A batch validated in record-aligned chunks gets the decision the whole file gets at once.

``chunks.validate_large`` streams the stored batch, cuts it at line breaks outside quotes and decides each
chunk; the batch-wide verdicts (row count, null rates, all-null and wrong-typed columns, duplicate ids in two
chunks, a truncated last record, every row failed) are made over all chunks. Every hostile batch of
test_validation_engines.py, cut into pieces of a few records, must give the same status, counts, reasons,
accepted rows and quarantined rows as ``decide.validate_bytes`` on the whole file.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from include.lifecycle import layout
from include.lifecycle.data import chunks, decide, validation
from include.lifecycle.store import LocalStore, sha256_bytes
from tests.unit.test_validation_engines import BATCHES, HEADER, ROWS, _column, _csv, _edit

pytestmark = pytest.mark.usefixtures("vectorised_engine")  # the decision code is under test, not GX (compared elsewhere)

SIZES = (300, 1000)  # bytes a piece: 2 and 8 records of churn_clean.csv


def _parts(frame: pd.DataFrame, reasons_col: str) -> list[list[str]]:
    """Each quarantined row's reasons as a sorted list: the batch's reasons may come in another order."""
    return [sorted(r.split("; ")) for r in frame[reasons_col]]


def _same_decision(whole: decide.Outcome, big: chunks.Spilled) -> None:
    assert (big.status, big.received, big.unreadable) == (whole.status, whole.received, whole.unreadable)
    assert sorted(big.batch_reasons) == sorted(whole.batch_reasons)
    assert big.row_reasons == whole.row_reasons
    if whole.unreadable:
        return
    pd.testing.assert_frame_equal(pd.read_parquet(big.accepted_path), whole.accepted)
    assert big.accepted_rows == len(whole.accepted) and big.quarantined_rows == len(whole.quarantined)
    if len(whole.quarantined):
        got = pd.read_parquet(big.quarantine_path)
        reasons = whole.quarantined.attrs["reasons_column"]
        assert big.quarantine_attrs == whole.quarantined.attrs
        assert _parts(got, reasons) == _parts(whole.quarantined, reasons)
        pd.testing.assert_frame_equal(got.drop(columns=reasons), whole.quarantined.drop(columns=reasons))
    for mine, theirs in zip(big.expectations, whole.expectations, strict=True):
        label = (mine["expectation"], mine["column"])
        assert (mine["success"], bool(mine["error"])) == (theirs["success"], bool(theirs["error"])), label
        for key in ("element_count", "unexpected_count", "observed_value", "missing_count"):
            assert mine["result"].get(key) == theirs["result"].get(key), (label, key)
        if theirs["result"].get("unexpected_percent") is not None:
            assert mine["result"]["unexpected_percent"] == pytest.approx(theirs["result"]["unexpected_percent"])


def _chunked(tmp_path, churn, data: bytes, size: int) -> chunks.Spilled:
    store = LocalStore(tmp_path / f"store-{size}")
    store.write_bytes("batch.csv", data)
    return chunks.validate_large(store, "batch.csv", churn, size=size)


@pytest.fixture(scope="module")
def churn():
    from include.lifecycle.config import load_use_case

    return load_use_case("churn")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", sorted(BATCHES))
def test_every_hostile_batch_cut_in_chunks_gets_the_whole_files_decision(name, size, churn, tmp_path):
    big = _chunked(tmp_path, churn, BATCHES[name], size)
    try:
        _same_decision(decide.validate_bytes(churn, BATCHES[name]), big)
    finally:
        big.cleanup()


CROSS_CHUNK = {
    # twins far apart: row 1 and row 28 are never in one piece
    "duplicate ids in two chunks": _csv(_edit(28, 0, ROWS[1].split(",")[0])),
    # one null in 30 rows: 3.3%, under the 5% total_charges may hold; 50% of its two-record piece
    "nullable column over its limit only in one chunk": _csv(_edit(1, _column("total_charges"), "")),
    # one piece holds only unparseable tenure values; the batch holds parseable ones too: row reasons, not a
    # wrong-typed column
    "unparseable values filling one chunk": _csv(_edit(0, _column("tenure"), "x", _edit(1, _column("tenure"), "y"))),
    "every row fails": _csv([",".join(f if i != _column("tenure") else "-1" for i, f in enumerate(r.split(",")))
                             for r in ROWS]),
}


@pytest.mark.parametrize("name", sorted(CROSS_CHUNK))
def test_verdicts_that_need_the_whole_batch_are_made_over_every_chunk(name, churn, tmp_path):
    data = CROSS_CHUNK[name]
    whole = decide.validate_bytes(churn, data)
    big = _chunked(tmp_path, churn, data, 300)
    try:
        assert big.parse["chunks"]["count"] >= 10
        _same_decision(whole, big)
    finally:
        big.cleanup()
    if name == "duplicate ids in two chunks":
        assert whole.row_reasons == {"customer_id: duplicate id": {"count": 2, "examples": ["'C00002'"]}}


@pytest.mark.parametrize("name", ["clean", "duplicate ids in two chunks"])
def test_ids_whose_hashes_collide_are_compared_exactly(name, churn, tmp_path, monkeypatch):
    data = {**BATCHES, **CROSS_CHUNK}[name]
    whole = decide.validate_bytes(churn, data)
    monkeypatch.setattr(pd.util, "hash_array", lambda values: np.zeros(len(values), np.uint64))  # every id collides
    big = _chunked(tmp_path, churn, data, 300)
    try:
        _same_decision(whole, big)
    finally:
        big.cleanup()


@pytest.mark.parametrize("name", ["clean", "null and duplicate ids", "truncated", "quoted comma and line break"])
def test_a_gzip_batch_is_decoded_as_it_is_streamed(name, churn, tmp_path):
    data = gzip.compress(BATCHES[name])
    big = _chunked(tmp_path, churn, data, 300)
    try:
        _same_decision(decide.validate_bytes(churn, data), big)
        assert big.parse["compressed"] and big.sha256 == sha256_bytes(data) and big.parse["bytes"] == len(data)
    finally:
        big.cleanup()


def test_a_corrupt_gzip_stream_rejects_the_batch_with_the_reason(churn, tmp_path):
    data = gzip.compress(BATCHES["clean"] * 3)[:-40]
    big = _chunked(tmp_path, churn, data, 300)
    whole = decide.validate_bytes(churn, data)
    assert big.status == whole.status == "rejected" and big.unreadable
    assert big.batch_reasons[0].startswith("unreadable: gzip stream is truncated or corrupt")
    assert big.sha256 == sha256_bytes(data)


def test_record_chunks_cut_only_between_records():
    body = _csv(_edit(3, _column("payment_method"), '"Mailed\ncheck, ""really"""'))
    for size in (1, 7, 64, 300, 10_000):
        pieces = list(chunks.record_chunks(_Stream(body), size))
        header = HEADER.encode() + b"\n"
        assert pieces[0][0].startswith(header) and all(p.startswith(header) for p, _ in pieces[1:])
        assert b"".join([pieces[0][0], *(p[len(header):] for p, _ in pieces[1:])]) == body
        for piece, _ in pieces:  # every piece is whole records: an even number of quotes
            assert piece.count(b'"') % 2 == 0 and piece.endswith(b"\n")
        lines = [offset for _, offset in pieces]
        assert lines == sorted(lines) and lines[0] == 0


class _Stream:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, n: int) -> bytes:
        block = self.data[self.at : self.at + n]
        self.at += len(block)
        return block


def _outputs(store, churn, day: str) -> dict:
    out = {"result": store.read_json(layout.validation_result_key(churn, day)),
           "accepted": store.read_frame(layout.accepted_key(churn, day))}
    if store.exists(layout.quarantine_rows_key(churn, day)):
        out["rows"] = store.read_frame(layout.quarantine_rows_key(churn, day))
    if store.exists(layout.quarantine_bytes_key(churn, day)):
        out["raw"] = store.read_bytes(layout.quarantine_bytes_key(churn, day))
    return out


@pytest.mark.parametrize("name", ["clean", "null and duplicate ids", "truncated", "too few rows",
                                  "quote after a quoted value"])
def test_validate_batch_writes_the_same_artifacts_for_a_batch_over_the_chunk_size(name, churn, tmp_path,
                                                                                  monkeypatch):
    day = "2026-01-05"
    stores = {k: LocalStore(tmp_path / k) for k in ("whole", "chunked")}
    for store in stores.values():
        store.write_bytes(layout.incoming_batch_key(churn, day), BATCHES[name])
    validation.validate_batch(stores["whole"], churn, day)
    monkeypatch.setattr(chunks, "STREAM_ABOVE", 300)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 300)
    validation.validate_batch(stores["chunked"], churn, day)
    whole, big = (_outputs(stores[k], churn, day) for k in ("whole", "chunked"))
    if whole["result"]["parse"]["readable"]:
        assert big["result"]["parse"]["chunks"]["count"] > 1
    else:  # the first piece already holds the bad record: the batch is refused with the whole file's reason
        assert big["result"]["reasons"] == whole["result"]["reasons"]
    for key in ("status", "received", "accepted", "quarantined", "incoming_sha256", "gx_success"):
        assert big["result"][key] == whole["result"][key], key
    assert sorted(big["result"]["reasons"]) == sorted(whole["result"]["reasons"])
    assert sorted(big["result"]["quarantine_keys"]) == sorted(whole["result"]["quarantine_keys"])
    pd.testing.assert_frame_equal(big["accepted"], whole["accepted"])
    assert big.get("raw") == whole.get("raw")
    if "rows" in whole:
        reasons = "_reasons"
        assert _parts(big["rows"], reasons) == _parts(whole["rows"], reasons)
        pd.testing.assert_frame_equal(big["rows"].drop(columns=reasons), whole["rows"].drop(columns=reasons))
    report = stores["chunked"].read_text(layout.validation_report_key(churn, day))
    assert big["result"]["status"].upper() in report
    assert not list((tmp_path / "chunked").rglob("*.tmp")), "a staged file was left behind"


def test_a_batch_on_s3_is_streamed_copied_and_uploaded(churn, s3_store, monkeypatch):
    day = "2026-01-06"
    data = BATCHES["truncated"]  # rejected: the bytes are copied verbatim, every row is quarantined
    s3_store.write_bytes(layout.incoming_batch_key(churn, day), data)
    monkeypatch.setattr(chunks, "STREAM_ABOVE", 300)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 300)
    summary = validation.validate_batch(s3_store, churn, day)
    whole = decide.validate_bytes(churn, data)
    assert (summary["status"], summary["quarantined"]) == ("rejected", len(whole.quarantined))
    assert s3_store.read_bytes(layout.quarantine_bytes_key(churn, day)) == data
    rows = s3_store.read_frame(layout.quarantine_rows_key(churn, day))
    assert rows["_line"].tolist() == whole.quarantined["_line"].tolist()
    assert np.all(rows["_reasons"].str.contains("truncated file"))
    assert s3_store.read_json(layout.validation_result_key(churn, day))["incoming_sha256"] == sha256_bytes(data)
