"""The accept / quarantine decision's wording and frames: what a data engineer reads about a rejected batch.

The reason builders get result items shaped like ``run_suite``'s; the batch-level tests run the stored
suite on a few hand-written rows, judged by the vectorised engine (``vectorised_engine``: GX's results in
milliseconds; GX itself decides in test_validation.py and test_hostile_batches.py). Every fixture is
function-scoped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.lifecycle.config import load_use_case
from include.lifecycle.data.csvparse import ParsedCsv
from include.lifecycle.data.decide import (
    _accepted_frame,
    _batch_reason,
    _empty_accepted,
    _fmt,
    _quarantine_rows,
    _row_reason,
    internal_column,
    validate_bytes,
)

pytestmark = pytest.mark.usefixtures("vectorised_engine")


@pytest.fixture
def uc():
    return load_use_case("churn")


def item(check: str, column: str | None = "tenure", result: dict | None = None, **kwargs) -> dict:
    return {"column": column, "check": check, "kwargs": kwargs, "result": result or {},
            "expectation": f"expect_{check}"}


def test_values_are_shown_as_a_person_writes_them() -> None:
    assert _fmt(3.0) == "3" and _fmt(2.5) == "2.5" and _fmt("C001") == "'C001'" and _fmt(7) == "7"
    assert _fmt(None) == "None"


@pytest.mark.parametrize(("check", "value", "kwargs", "key", "reason"), [
    ("null", None, {}, "tenure: null not allowed", "tenure: null not allowed"),
    ("unique_id", "C1", {}, "tenure: duplicate id", "tenure: duplicate id 'C1'"),
    ("range", 999.0, {"min_value": 0.0, "max_value": 120}, "tenure: out of range [0, 120]",
     "tenure: 999 out of range [0, 120]"),
    ("category", "Three year", {}, "tenure: unknown category", "tenure: unknown category 'Three year'"),
    ("binary", 2.0, {}, "tenure: not 0/1", "tenure: 2 is not 0/1"),
    ("regex", "x", {}, "tenure: failed expect_regex", "tenure: 'x' failed expect_regex"),
])
def test_row_reasons_name_the_column_the_check_and_the_value(check, value, kwargs, key, reason) -> None:
    assert _row_reason(item(check, **kwargs), value) == (key, reason)


def test_schema_reasons(uc) -> None:
    missing = item("schema", None, {"details": {"mismatched": {"missing": ["b", "a"]}}})
    assert _batch_reason(missing, uc, 5) == "schema: missing columns ['a', 'b']"
    extra = item("schema", None, {"details": {"mismatched": {"unexpected": ["z", "churn"]}}})
    assert _batch_reason(extra, uc, 5) == \
        "schema: unexpected columns ['churn', 'z'] (the target 'churn' must not be in a batch)"
    both = item("schema", None, {"details": {"mismatched": {"missing": ["a"], "unexpected": ["z"]}}})
    assert _batch_reason(both, uc, 5) == "schema: missing columns ['a']; unexpected columns ['z']"
    other = item("schema", None, {"observed_value": ["x", "y"]})
    assert _batch_reason(other, uc, 5) == "schema: columns ['x', 'y'] do not match the contract"


def test_a_wrong_delimiter_is_named_in_the_schema_reason(uc) -> None:
    parsed = ParsedCsv(header=["customer_id;female;tenure"], frame=pd.DataFrame(), lines=[], delimiter_hint=";")
    reason = _batch_reason(item("schema", None, {}), uc, 3, parsed)
    assert reason == ("schema: the header is one column 'customer_id;female;tenure': the file seems to be separated "
                      f"by ';', not by commas (the contract expects {1 + len(uc.columns)} comma-separated columns)")
    no_hint = ParsedCsv(header=["a"], frame=pd.DataFrame(), lines=[])
    assert _batch_reason(item("schema", None, {"observed_value": ["a"]}), uc, 3, no_hint).startswith(
        "schema: columns ['a']")


def test_batch_reasons_for_counts_nulls_and_types(uc) -> None:
    rows = item("row_count", None, {"observed_value": 0}, min_value=1, max_value=100000)
    assert _batch_reason(rows, uc, 0) == "row count 0 outside [1, 100000]"
    nulls = item("null_rate", "total_charges", {"unexpected_percent": 53.3333}, mostly=0.65)
    assert _batch_reason(nulls, uc, 30) == "total_charges: null rate 53.3% above the allowed 35.0%"
    strict = item("null_rate", "total_charges", {}, mostly=1.0)
    assert _batch_reason(strict, uc, 30) == "total_charges: null rate 0.0% above the allowed 0.0%"
    assert _batch_reason(item("null_rate", "x", {}), uc, 30) == "x: null rate 0.0% above the allowed 0.0%"
    typed = item("type", "tenure", {"observed_value": "object"}, type_list=["float64"])
    assert _batch_reason(typed, uc, 30) == "tenure: wrong type, dtype object not in ['float64']"
    assert _batch_reason(item("other", None), uc, 3) == "expect_other failed on the batch"
    assert _batch_reason(item("other", "tenure"), uc, 3) == "expect_other failed on tenure"


def test_a_header_only_file_reports_no_per_column_null_or_type_reason(uc) -> None:
    assert _batch_reason(item("null_rate", "total_charges", {}), uc, 0) is None
    assert _batch_reason(item("type", "tenure", {}), uc, 0) is None
    assert _batch_reason(item("row_count", None, {"observed_value": 0}, min_value=1, max_value=9), uc, 0) == \
        "row count 0 outside [1, 9]"


def test_an_empty_accepted_frame_has_the_contract_dtypes(uc) -> None:
    empty = _empty_accepted(uc)
    assert list(empty.columns) == [uc.id_column, *uc.feature_columns] and len(empty) == 0
    assert empty[uc.id_column].dtype == object and empty["tenure"].dtype == "float64"
    assert empty["female"].dtype == "int64" and empty["contract"].dtype == object


def test_binary_columns_are_integers_unless_they_hold_nulls(uc) -> None:
    typed = pd.DataFrame({uc.id_column: ["a", "b"], **{c: [1.0, 0.0] for c in uc.feature_columns}, "extra": [1, 2]})
    typed.loc[1, "partner"] = np.nan
    out = _accepted_frame(typed.iloc[::-1], uc)
    assert list(out.columns) == [uc.id_column, *uc.feature_columns]  # config order, no extra column
    assert list(out.index) == [0, 1] and out[uc.id_column].tolist() == ["b", "a"]
    assert out["female"].dtype == "int64" and out["partner"].dtype == "float64"
    assert out["tenure"].dtype == "float64"


def test_bookkeeping_columns_never_collide(uc) -> None:
    assert internal_column("_line", ["a", "b"]) == "_line"
    assert internal_column("_line", ["_line", "__line"]) == "___line"


def test_quarantined_rows_keep_raw_text_lines_and_reasons_in_line_order() -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "x": ["1", None, "3"]})
    parsed = ParsedCsv(header=["id", "x"], frame=frame, lines=[2, 3, 5], malformed=[(4, ["d"])])
    out = _quarantine_rows(parsed, [2, 1], {1: ["x: null"], 2: ["x: too big"], -4: ["line 4: 1 fields"]},
                           ["batch problem"])
    assert out["_line"].tolist() == [3, 4, 5] and out["_line"].dtype == "int64"
    assert out["id"].tolist() == ["b", "d", "c"]
    assert out["_reasons"].tolist() == ["batch problem; x: null", "batch problem; line 4: 1 fields",
                                        "batch problem; x: too big"]
    assert out.loc[1, "x"] is None or pd.isna(out.loc[1, "x"])
    assert out.attrs == {"line_column": "_line", "reasons_column": "_reasons"}


N = 22  # the churn contract asks for at least 20 rows a batch


def _csv(uc, rows: list[dict]) -> bytes:
    header = [uc.id_column, *uc.feature_columns]
    lines = [",".join(header)] + [",".join(str(r.get(c, "")) for c in header) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def good_row(i: int) -> dict:
    return {"customer_id": f"C{i:03d}", "female": 1, "senior_citizen": 0, "partner": 1, "dependents": 0,
            "tenure": 12, "phone_service": 1, "multiple_lines": "No", "internet_service": "DSL",
            "online_security": "No", "online_backup": "Yes", "device_protection": "No", "tech_support": "No",
            "streaming_tv": "No", "streaming_movies": "No", "contract": "One year", "paperless_billing": 1,
            "payment_method": "Mailed check", "monthly_charges": 50.5, "total_charges": 600.0}


def test_a_clean_batch_is_accepted_and_a_bad_row_makes_it_partial(uc) -> None:
    clean = validate_bytes(uc, _csv(uc, [good_row(i) for i in range(N)]))
    assert clean.status == "accepted" and clean.received == N and len(clean.accepted) == N
    assert len(clean.quarantined) == 0 and clean.reasons == [] and clean.batch_reasons == []
    rows = [good_row(i) for i in range(N)]
    rows[2]["tenure"] = 999
    partial = validate_bytes(uc, _csv(uc, rows))
    assert partial.status == "partial" and len(partial.accepted) == N - 1 and len(partial.quarantined) == 1
    assert partial.reasons == ["tenure: out of range [0, 120]: 1 row(s) (e.g. 999)"]
    assert partial.quarantined["_reasons"].tolist() == ["tenure: 999 out of range [0, 120]"]
    assert partial.quarantined["_line"].tolist() == [4]
    assert "C002" not in partial.accepted[uc.id_column].tolist()


def test_every_row_failing_rejects_the_batch(uc) -> None:
    rows = [good_row(i) for i in range(N)]
    for r in rows:
        r["contract"] = "Forever"
    out = validate_bytes(uc, _csv(uc, rows))
    assert out.status == "rejected" and len(out.accepted) == 0 and len(out.quarantined) == N
    assert out.batch_reasons == [f"all {N} rows failed row-level checks"]
    assert out.row_reasons["contract: unknown category"] == {"count": N, "examples": ["'Forever'"]}


def test_examples_are_at_most_three_and_distinct(uc) -> None:
    rows = [good_row(i) for i in range(N)]
    for i, r in enumerate(rows[:6]):
        r["tenure"] = 200 + (i % 4)
    out = validate_bytes(uc, _csv(uc, rows))
    entry = out.row_reasons["tenure: out of range [0, 120]"]
    assert entry == {"count": 6, "examples": ["200", "201", "202"]}
    assert out.status == "partial" and len(out.accepted) == N - 6


def test_an_unreadable_file_is_rejected_with_nothing_accepted(uc) -> None:
    out = validate_bytes(uc, b"")
    assert out.status == "rejected" and out.unreadable is True and out.received == 0
    assert out.quarantined is None and out.expectations == [] and out.parse == {"readable": False, "bytes": 0}
    assert list(out.accepted.columns) == [uc.id_column, *uc.feature_columns]
    assert out.reasons == ["empty file: 0 bytes received, no header and no rows"]
