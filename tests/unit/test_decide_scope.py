"""The decision on one chunk of a larger batch (``validate_bytes(..., scope=Scope(...))``).

A chunk decides its own rows; the verdicts that need the whole batch (row count, null rate, all-null and
wrong-typed columns, header only, every row failed) are left to the caller, which hands back what the batch
decided: its reasons, its wrong-typed columns and the ids duplicated across chunks. Line numbers are the
file's, not the chunk's. Hand-written churn batches as in test_decide_decisions.py; the whole-batch
comparison is in test_validation_chunks.py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from include.lifecycle.data.decide import Scope, validate_bytes
from tests.unit.test_decide_decisions import HEADER, check, csv, row, rows

pytestmark = pytest.mark.usefixtures("vectorised_engine")


@pytest.fixture
def uc():
    from include.lifecycle.config import load_use_case

    return load_use_case("churn")


def test_a_chunk_leaves_the_batch_wide_verdicts_to_its_caller(uc) -> None:
    # 3 rows (the contract wants 20), a nullable column 2/3 null, a column entirely null: each a batch verdict
    data = csv([row(i, total_charges="" if i else 5.0, payment_method="") for i in range(3)])
    whole = check(validate_bytes(uc, data))
    assert whole.status == "rejected" and len(whole.batch_reasons) >= 2, whole.batch_reasons
    chunk = check(validate_bytes(uc, data, scope=Scope()))
    # no batch reason: rejected only because no row of the chunk passes (payment_method may not be null)
    assert chunk.batch_reasons == [] and chunk.status == "rejected" and len(chunk.quarantined) == 3
    assert chunk.row_reasons == {"payment_method: null not allowed": {"count": 3, "examples": ["'null'"]}}
    assert chunk.stats["rows"] == 3 and chunk.stats["clean_rows"] == 0 and chunk.stats["own_reasons"] == []
    assert not any(r.get("all_null") for r in chunk.expectations)


def test_a_header_only_chunk_is_not_a_header_only_batch(uc) -> None:
    chunk = check(validate_bytes(uc, csv([]), scope=Scope()))
    assert chunk.batch_reasons == [] and chunk.stats["rows"] == 0
    assert "header only" in validate_bytes(uc, csv([])).batch_reasons[0]


def test_the_batchs_reasons_reject_every_row_of_the_chunk_in_the_batchs_order(uc) -> None:
    reasons = ("row count 40 outside [20, 100000]", "tenure: null rate 9.0% above the allowed 5.0%")
    chunk = check(validate_bytes(uc, csv(rows()), scope=Scope(batch_reasons=reasons)))
    assert chunk.status == "rejected" and len(chunk.accepted) == 0 and len(chunk.quarantined) == 22
    assert chunk.batch_reasons == list(reasons)
    assert set(chunk.quarantined["_reasons"]) == {"; ".join(reasons)}
    assert chunk.stats["clean_rows"] == 22 and chunk.stats["own_reasons"] == []


def test_a_chunks_own_batch_reason_is_reported_for_the_caller_and_kept_once(uc) -> None:
    truncated = csv([*rows(21), "C999,1,0"], end="")
    first = check(validate_bytes(uc, truncated, scope=Scope(), line_offset=100))
    own = first.stats["own_reasons"]
    assert own == ["truncated file: the last record (line 123) is incomplete and has no line break"]
    again = check(validate_bytes(uc, truncated, scope=Scope(batch_reasons=("row count 5 outside [20, 100000]", *own)),
                                 line_offset=100))
    assert again.batch_reasons == ["row count 5 outside [20, 100000]", *own]
    assert again.stats["own_reasons"] == own


def test_line_numbers_are_the_files(uc) -> None:
    data = csv([*rows(3), "C9,1", row(9)])
    out = check(validate_bytes(uc, data, scope=Scope(), line_offset=1000))
    assert out.quarantined["_line"].tolist() == [1005]
    assert out.row_reasons["malformed record (wrong number of fields)"]["examples"] == ["'line 1005'"]


def test_ids_duplicated_in_another_chunk_are_quarantined_as_duplicates(uc) -> None:
    data = csv(rows())
    twins = pa.array(["C003", "C017", "C999"], pa.large_string())
    out = check(validate_bytes(uc, data, scope=Scope(duplicate_ids=twins)))
    assert out.status == "partial" and sorted(out.quarantined["customer_id"]) == ["C003", "C017"]
    assert set(out.quarantined["_reasons"]) == {"customer_id: duplicate id 'C003'", "customer_id: duplicate id 'C017'"}
    assert out.row_reasons["customer_id: duplicate id"]["count"] == 2
    unique = next(r for r in out.expectations if r["check"] == "unique_id")
    assert unique["success"] is False and unique["result"]["unexpected_count"] == 2
    assert unique["result"]["unexpected_index_list"] == [3, 17]
    assert unique["result"]["partial_unexpected_list"] == ["C003", "C017"]
    none = check(validate_bytes(uc, data, scope=Scope(duplicate_ids=pa.array(["C999"], pa.large_string()))))
    assert none.status == "accepted"
    assert next(r for r in none.expectations if r["check"] == "unique_id")["success"] is True


def test_a_twin_inside_the_chunk_is_counted_once(uc) -> None:
    data = csv(rows(r4={"customer_id": "C002"}))
    out = check(validate_bytes(uc, data, scope=Scope(duplicate_ids=pa.array(["C002"], pa.large_string()))))
    unique = next(r for r in out.expectations if r["check"] == "unique_id")
    assert unique["result"]["unexpected_index_list"] == [2, 4] and unique["result"]["unexpected_count"] == 2


def test_twins_from_other_chunks_join_the_chunks_own_twins(uc) -> None:
    data = csv(rows(r4={"customer_id": "C002"}))
    out = check(validate_bytes(uc, data, scope=Scope(duplicate_ids=pa.array(["C007"], pa.large_string()))))
    unique = next(r for r in out.expectations if r["check"] == "unique_id")
    assert unique["result"]["unexpected_index_list"] == [2, 4, 7] and unique["result"]["unexpected_count"] == 3
    assert sorted(out.quarantined["customer_id"]) == ["C002", "C002", "C007"]


def test_a_null_id_is_never_a_twin(uc) -> None:
    data = csv(rows(r6={"customer_id": ""}))
    out = check(validate_bytes(uc, data, scope=Scope(duplicate_ids=pa.array(["C001"], pa.large_string()))))
    reasons = dict(zip(out.quarantined["_line"], out.quarantined["_reasons"], strict=True))
    assert reasons == {3: "customer_id: duplicate id 'C001'", 8: "customer_id: null not allowed"}


def test_every_id_a_twin_shows_twenty_examples_as_gx_does(uc) -> None:
    data = csv(rows())
    twins = pa.array([f"C{i:03d}" for i in range(22)], pa.large_string())
    out = check(validate_bytes(uc, data, scope=Scope(duplicate_ids=twins)))
    unique = next(r for r in out.expectations if r["check"] == "unique_id")
    assert unique["result"]["unexpected_count"] == 22
    assert unique["result"]["partial_unexpected_list"] == [f"C{i:03d}" for i in range(20)]


def test_a_column_wrong_typed_across_the_batch_is_one_reason_not_one_per_row(uc) -> None:
    data = csv(rows(**{f"r{i}": {"tenure": "abc"} for i in range(22)}))
    alone = check(validate_bytes(uc, data, scope=Scope()))  # the chunk alone: values, not a column
    assert alone.row_reasons["tenure: unparseable value (expected numeric)"]["count"] == 22
    assert alone.batch_reasons == []
    told = check(validate_bytes(uc, data, scope=Scope(wrong_type=frozenset({"tenure"}),
                                                      batch_reasons=("tenure: wrong type",))))
    assert "tenure: unparseable value (expected numeric)" not in told.row_reasons
    assert told.batch_reasons == ["tenure: wrong type"] and told.status == "rejected"


def test_a_chunk_counts_what_the_batch_wide_verdicts_need(uc) -> None:
    data = csv(rows(r1={"tenure": "x"}, r2={"tenure": ""}, r3={"customer_id": ""}, r5={"female": "maybe"}))
    out = check(validate_bytes(uc, data, scope=Scope()))
    stats = out.stats
    assert stats["rows"] == 22 and stats["clean_rows"] == 22 - 4
    assert stats["unparseable"]["tenure"] == {"unparseable": 1, "present": 21, "examples": ["x"]}
    assert stats["unparseable"]["female"] == {"unparseable": 1, "present": 22, "examples": ["maybe"]}
    assert stats["ids"].to_pylist() == [f"C{i:03d}" for i in range(22) if i != 3]
    assert stats["ids"].type == pa.large_string()  # the caller joins every chunk's ids into one array of this type
    assert stats["id_hashes"].dtype == np.uint64 and len(stats["id_hashes"]) == 21
    assert len(set(stats["id_hashes"].tolist())) == 21
    assert validate_bytes(uc, data).stats == {}  # the whole batch: nothing to hand back


def test_a_chunk_shows_at_most_three_unparseable_examples_and_counts_without_an_id_column(uc) -> None:
    values = {f"r{i}": {"tenure": v} for i, v in enumerate(["a", "b", "c", "d"])}
    out = check(validate_bytes(uc, csv(rows(**values)), scope=Scope()))
    assert out.stats["unparseable"]["tenure"]["examples"] == ["a", "b", "c"]
    header = [c for c in HEADER if c != "customer_id"]
    missing = check(validate_bytes(uc, csv(rows(), header=header), scope=Scope()))
    assert missing.stats["rows"] == 22 and len(missing.stats["ids"]) == 0 and len(missing.stats["id_hashes"]) == 0
    assert missing.stats["ids"].type == pa.large_string()
