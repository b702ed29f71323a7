"""The accept / quarantine decision on hand-written batches: which rows land where, and what the reasons say.

Each test writes a small churn batch (22 rows: the contract asks for at least 20), breaks it in one way and
checks what a data engineer would see: the status, the counts, the reasons (batch and per row), the
quarantined records and the parse evidence. The suite is the stored churn contract, judged by the
vectorised engine (``vectorised_engine``: the same results as GX, in milliseconds); every fixture is
function-scoped, so a mutation tool sees which test exercises which branch.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from include.lifecycle.config import load_use_case
from include.lifecycle.data import contract, decide
from include.lifecycle.data.contract import GX_FULL_ROWS
from include.lifecycle.data.decide import Outcome, validate_bytes

pytestmark = pytest.mark.usefixtures("vectorised_engine")

N = 22
HEADER = ["customer_id", "female", "senior_citizen", "partner", "dependents", "tenure", "phone_service",
          "multiple_lines", "internet_service", "online_security", "online_backup", "device_protection",
          "tech_support", "streaming_tv", "streaming_movies", "contract", "paperless_billing", "payment_method",
          "monthly_charges", "total_charges"]


@pytest.fixture
def uc():
    return load_use_case("churn")


def row(i: int, **changes) -> dict:
    base = {"customer_id": f"C{i:03d}", "female": 1, "senior_citizen": 0, "partner": 1, "dependents": 0,
            "tenure": 12, "phone_service": 1, "multiple_lines": "No", "internet_service": "DSL",
            "online_security": "No", "online_backup": "Yes", "device_protection": "No", "tech_support": "No",
            "streaming_tv": "No", "streaming_movies": "No", "contract": "One year", "paperless_billing": 1,
            "payment_method": "Mailed check", "monthly_charges": 50.5, "total_charges": 600.0}
    return {**base, **changes}


def rows(n: int = N, **changes_by_index: dict) -> list[dict]:
    return [row(i, **changes_by_index.get(f"r{i}", {})) for i in range(n)]


def csv(records: list[dict] | list[str], header: list[str] = HEADER, end: str = "\n") -> bytes:
    lines = [",".join(header)]
    for r in records:
        lines.append(r if isinstance(r, str) else ",".join(str(r.get(c, "")) for c in header))
    return ("\n".join(lines) + end).encode()


def check(out: Outcome) -> Outcome:
    """The invariant every outcome keeps."""
    assert out.received == len(out.accepted) + (0 if out.quarantined is None else len(out.quarantined))
    return out


# -- statuses ------------------------------------------------------------------------------------------
def test_a_clean_batch_is_accepted_whole_with_its_evidence(uc) -> None:
    data = csv(rows())
    out = check(validate_bytes(uc, data))
    assert out.status == "accepted" and out.received == N and out.unreadable is False
    assert out.accepted[uc.id_column].tolist() == [f"C{i:03d}" for i in range(N)]
    assert list(out.accepted.columns) == [uc.id_column, *uc.feature_columns]
    assert out.accepted["female"].dtype == "int64" and out.accepted["tenure"].dtype == "float64"
    assert len(out.quarantined) == 0 and out.batch_reasons == [] and out.row_reasons == {}
    assert all(r["success"] for r in out.expectations) and not any("all_null" in r for r in out.expectations)
    p = out.parse
    assert p["readable"] is True and p["bytes"] == len(data) and p["compressed"] is False
    assert p["header"] == HEADER and p["malformed_records"] == 0 and p["truncated_line"] is None
    assert p["trimmed_values"] == 0 and p["notes"] == []
    assert p["suite"]["source"] == "include/expectations/churn.json" and p["suite"]["in_sync_with_config"] is True
    assert p["validation_engine"] == {"engine": "great_expectations", "rows": N}


def test_one_bad_row_is_quarantined_and_the_rest_accepted(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(r5={"contract": "Forever"}))))
    assert out.status == "partial" and len(out.accepted) == N - 1
    assert "C005" not in out.accepted[uc.id_column].tolist()
    assert out.accepted.index.tolist() == list(range(N - 1))
    q = out.quarantined
    assert q["customer_id"].tolist() == ["C005"] and q["_line"].tolist() == [7]
    assert q["_reasons"].tolist() == ["contract: unknown category 'Forever'"]
    assert q["contract"].tolist() == ["Forever"] and q["tenure"].tolist() == ["12"]  # as received: strings
    assert out.batch_reasons == []
    assert out.reasons == ["contract: unknown category: 1 row(s) (e.g. 'Forever')"]


def test_every_row_failing_rejects_the_batch_and_says_so(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(**{f"r{i}": {"tenure": -1} for i in range(N)}))))
    assert out.status == "rejected" and len(out.accepted) == 0 and len(out.quarantined) == N
    assert out.batch_reasons == [f"all {N} rows failed row-level checks"]
    assert out.row_reasons == {"tenure: out of range [0, 120]": {"count": N, "examples": ["-1"]}}
    assert out.quarantined["_reasons"].iloc[0] == f"all {N} rows failed row-level checks; tenure: -1 out of range [0, 120]"
    assert list(out.accepted.columns) == [uc.id_column, *uc.feature_columns]


def test_a_batch_problem_quarantines_every_row_with_the_batch_reason_first(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(19, r3={"tenure": 500}))))  # one row short of the 20 a batch needs
    assert out.status == "rejected" and len(out.accepted) == 0 and len(out.quarantined) == 19
    assert out.batch_reasons == ["row count 19 outside [20, 100000]"]
    reasons = out.quarantined["_reasons"].tolist()
    assert reasons[3] == "row count 19 outside [20, 100000]; tenure: 500 out of range [0, 120]"
    assert reasons[0] == "row count 19 outside [20, 100000]"
    assert out.quarantined["_line"].tolist() == list(range(2, 21))


def test_the_minimum_row_count_is_accepted_on_the_boundary(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(20))))
    assert out.status == "accepted" and len(out.accepted) == 20 and out.batch_reasons == []


def test_a_header_only_file_is_rejected_once_not_per_column(uc) -> None:
    out = check(validate_bytes(uc, csv([])))
    assert out.status == "rejected" and out.received == 0 and len(out.quarantined) == 0
    assert out.batch_reasons == ["header only: the file has a header but no data rows",
                                 "row count 0 outside [20, 100000]"]
    assert not any(r.get("all_null") for r in out.expectations)
    assert list(out.accepted.columns) == [uc.id_column, *uc.feature_columns]
    assert out.accepted["female"].dtype == "int64"


def test_an_unreadable_file_is_rejected_with_what_was_received(uc) -> None:
    data = b"customer_id,female\nC1,1\nC2,\xff\xfe\n"
    out = validate_bytes(uc, data)
    assert out.status == "rejected" and out.unreadable is True and out.received == 2
    assert out.quarantined is None and out.row_reasons == {} and out.expectations == []
    assert out.parse == {"readable": False, "bytes": len(data)}
    assert len(out.batch_reasons) == 1 and out.batch_reasons[0].startswith("unreadable")
    assert list(out.accepted.columns) == [uc.id_column, *uc.feature_columns] and len(out.accepted) == 0


def test_a_compressed_batch_says_so_and_is_judged_like_the_plain_one(uc) -> None:
    out = check(validate_bytes(uc, gzip.compress(csv(rows()))))
    assert out.status == "accepted" and out.parse["compressed"] is True and len(out.accepted) == N


# -- row-level reasons -----------------------------------------------------------------------------------
def test_a_null_id_is_counted_as_null_with_the_example_null(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(r2={"customer_id": ""}, r4={"customer_id": "C003"}))))
    assert out.status == "partial" and len(out.quarantined) == 3
    assert out.row_reasons["customer_id: null not allowed"] == {"count": 1, "examples": ["'null'"]}
    assert out.row_reasons["customer_id: duplicate id"] == {"count": 2, "examples": ["'C003'"]}
    by_line = dict(zip(out.quarantined["_line"], out.quarantined["_reasons"], strict=True))
    assert by_line == {4: "customer_id: null not allowed", 5: "customer_id: duplicate id 'C003'",
                       6: "customer_id: duplicate id 'C003'"}


def test_examples_are_the_first_three_distinct_values(uc) -> None:
    bad = {f"r{i}": {"monthly_charges": v} for i, v in enumerate([900, 900, 901, 902, 903])}
    out = check(validate_bytes(uc, csv(rows(**bad))))
    assert out.row_reasons["monthly_charges: out of range [0, 500]"] == {"count": 5, "examples": ["900", "901", "902"]}
    assert out.reasons == ["monthly_charges: out of range [0, 500]: 5 row(s) (e.g. 900, 901, 902)"]


def test_two_problems_on_one_row_are_both_named_and_the_row_counted_once(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(r1={"female": 2, "tenure": 121}))))
    assert len(out.quarantined) == 1 and len(out.accepted) == N - 1
    assert out.quarantined["_reasons"].tolist() == ["female: 2 is not 0/1; tenure: 121 out of range [0, 120]"]


def test_an_unparseable_value_is_named_once_not_also_as_a_null(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(r3={"tenure": "twelve"}, r6={"tenure": "ten"}))))
    assert out.status == "partial" and len(out.quarantined) == 2 and out.batch_reasons == []
    assert out.row_reasons == {"tenure: unparseable value (expected numeric)": {"count": 2,
                                                                                "examples": ["'twelve'", "'ten'"]}}
    assert out.quarantined["_reasons"].tolist() == ["tenure: unparseable value 'twelve' (expected numeric)",
                                                    "tenure: unparseable value 'ten' (expected numeric)"]


def test_a_real_null_beside_an_unparseable_value_is_still_a_null(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(r3={"tenure": "twelve"}, r6={"tenure": ""}))))
    assert out.row_reasons["tenure: null not allowed"] == {"count": 1, "examples": ["'null'"]}
    assert out.quarantined["_reasons"].tolist() == ["tenure: unparseable value 'twelve' (expected numeric)",
                                                    "tenure: null not allowed"]


def test_an_oversized_field_quarantines_its_row(uc) -> None:
    blob = "x" * 10_001
    out = check(validate_bytes(uc, csv(rows(r4={"payment_method": blob}))))
    assert out.status == "partial" and len(out.quarantined) == 1
    key = "oversized field (a runaway cell: unbalanced quote or a blob)"
    assert out.row_reasons[key] == {"count": 1, "examples": ["'payment_method'"]}
    reason = out.quarantined["_reasons"].iloc[0]
    assert reason.startswith("payment_method: field of 10001 characters exceeds the 10000-character limit")
    assert out.quarantined["_line"].tolist() == [6]


def test_malformed_records_are_quarantined_with_their_line_and_width(uc) -> None:
    records = [*rows(), "C900,1,0", "C901"]
    out = check(validate_bytes(uc, csv(records)))
    assert out.status == "partial" and out.received == N + 2 and len(out.accepted) == N
    assert out.row_reasons["malformed record (wrong number of fields)"] == {
        "count": 2, "examples": ["'line 24'", "'line 25'"]}
    q = out.quarantined
    assert q["_line"].tolist() == [24, 25] and q["customer_id"].tolist() == ["C900", "C901"]
    assert q["_reasons"].tolist() == ["line 24: 3 fields, the header has 20", "line 25: 1 fields, the header has 20"]
    assert out.parse["malformed_records"] == 2


def test_a_truncated_last_record_rejects_the_batch_and_names_the_line(uc) -> None:
    out = check(validate_bytes(uc, csv([*rows(), "C900,1,0,1"], end="")))
    assert out.status == "rejected" and len(out.accepted) == 0 and out.parse["truncated_line"] == 24
    assert out.batch_reasons[0] == ("truncated file: the last record (line 24) is incomplete and has no line break")
    last = out.quarantined.iloc[-1]
    assert last["_line"] == 24 and last["_reasons"].endswith("line 24: truncated record, 4 of 20 fields")


def test_stray_whitespace_is_trimmed_and_noted(uc) -> None:
    records = [",".join(f" {row(i)[c]}" if c == "tenure" else str(row(i)[c]) for c in HEADER) for i in range(N)]
    out = check(validate_bytes(uc, csv(records)))
    assert out.status == "accepted" and out.parse["trimmed_values"] == N
    assert out.parse["notes"] == [f"{N} value(s) carried stray whitespace (e.g. a space after each comma): "
                                  "trimmed before validation"]


# -- batch-level reasons ---------------------------------------------------------------------------------
def test_a_column_of_the_wrong_type_is_one_batch_reason(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(**{f"r{i}": {"tenure": f"t{i % 4}"} for i in range(N)}))))
    assert out.status == "rejected" and len(out.quarantined) == N
    assert out.batch_reasons == ["tenure: wrong type, expected numeric but none of its values parses "
                                 "(e.g. ['t0', 't1', 't2'])"]
    assert out.row_reasons == {}  # not one reason per row as well
    assert not any(r.get("all_null") for r in out.expectations)
    assert out.quarantined["_reasons"].iloc[0].endswith("tenure: unparseable value 't0' (expected numeric)")


def test_two_unparseable_values_in_an_otherwise_empty_column_are_a_wrong_type(uc) -> None:
    changes = {f"r{i}": {"total_charges": ""} for i in range(N)}
    changes["r0"], changes["r1"] = {"total_charges": "lots"}, {"total_charges": "more"}
    out = check(validate_bytes(uc, csv(rows(**changes))))
    assert out.batch_reasons == ["total_charges: wrong type, expected numeric but none of its values parses "
                                 "(e.g. ['lots', 'more'])"]


def test_one_unparseable_value_in_an_otherwise_empty_column_is_a_row_problem(uc) -> None:
    changes = {f"r{i}": {"total_charges": ""} for i in range(N)}
    changes["r0"] = {"total_charges": "lots"}
    out = check(validate_bytes(uc, csv(rows(**changes))))
    assert not any("wrong type" in r for r in out.batch_reasons)
    assert out.row_reasons["total_charges: unparseable value (expected numeric)"] == {"count": 1,
                                                                                      "examples": ["'lots'"]}
    assert out.batch_reasons == [f"total_charges: column is entirely null ({N} rows)"]


def test_a_null_rate_above_the_allowance_rejects_the_batch(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(r0={"total_charges": ""}, r1={"total_charges": ""}))))
    assert out.status == "rejected"
    assert out.batch_reasons == ["total_charges: null rate 9.1% above the allowed 5.0%"]


def test_a_null_rate_within_the_allowance_is_accepted(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(r0={"total_charges": ""}))))
    assert out.status == "accepted" and len(out.accepted) == N and out.accepted["total_charges"].isna().sum() == 1


def test_an_entirely_null_column_is_named_instead_of_its_null_rate(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(**{f"r{i}": {"total_charges": ""} for i in range(N)}))))
    assert out.status == "rejected"
    assert out.batch_reasons == [f"total_charges: column is entirely null ({N} rows)"]
    flagged = [r for r in out.expectations if r.get("all_null")]
    assert [(r["column"], r["check"]) for r in flagged] == [("total_charges", "null_rate")]


def test_an_entirely_null_required_column_is_a_batch_reason_too(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(**{f"r{i}": {"contract": ""} for i in range(N)}))))
    assert out.status == "rejected" and len(out.accepted) == 0
    assert out.batch_reasons == [f"contract: column is entirely null ({N} rows)"]
    assert out.row_reasons["contract: null not allowed"]["count"] == N


def test_a_missing_column_is_one_schema_reason_and_its_checks_are_not_evaluated(uc) -> None:
    header = [c for c in HEADER if c != "tenure"]
    out = check(validate_bytes(uc, csv(rows(), header=header)))
    assert out.status == "rejected" and len(out.quarantined) == N
    assert out.batch_reasons == ["schema: missing columns ['tenure']"]
    skipped = [r for r in out.expectations if r.get("note") == "not evaluated: column missing"]
    assert skipped and {r["column"] for r in skipped} == {"tenure"}


def test_a_target_column_in_a_batch_is_named(uc) -> None:
    out = check(validate_bytes(uc, csv(rows(), header=[*HEADER, "churn"])))
    assert out.batch_reasons == ["schema: unexpected columns ['churn'] (the target 'churn' must not be in a batch)"]


def test_an_expectation_that_could_not_run_rejects_the_batch(uc, monkeypatch) -> None:
    def broken(frame, suite):
        results = contract.evaluate_suite(frame, suite)
        for r in results:
            if r["column"] == "tenure" and r["check"] == "range":
                r.update(success=False, error="boom")
        return results

    monkeypatch.setattr(decide, "run_suite", broken)
    out = check(validate_bytes(uc, csv(rows())))
    assert out.status == "rejected" and len(out.accepted) == 0
    assert out.batch_reasons == ["expect_column_values_to_be_between on tenure could not be evaluated: boom"]


# -- the engine on large batches ---------------------------------------------------------------------------
def test_gx_judges_the_whole_batch_up_to_the_limit_and_the_evidence_above(uc) -> None:
    data = csv(rows(r2={"tenure": 999}))
    at = check(validate_bytes(uc, data, gx_full_rows=N))
    assert at.parse["validation_engine"] == {"engine": "great_expectations", "rows": N}
    above = check(validate_bytes(uc, data, gx_full_rows=N - 1))
    engine = above.parse["validation_engine"]
    assert engine["engine"] == ("vectorised (include/lifecycle/data/contract.py); Great Expectations on the "
                                "evidence rows") and engine["rows"] == N
    assert engine["flagged_rows"] == 1 and engine["evidence_rows"] == N and engine["gx_agrees"] is True
    assert "disagreements" not in engine
    ranged = [e for e in engine["gx_evidence"] if e["expectation"] == "expect_column_values_to_be_between"
              and e["column"] == "tenure"]
    assert ranged == [{"expectation": "expect_column_values_to_be_between", "column": "tenure", "success": False,
                       "unexpected_count": 1, "error": None}]
    assert (above.status, len(above.accepted), above.reasons) == (at.status, len(at.accepted), at.reasons)
    assert GX_FULL_ROWS == 200_000


def test_when_gx_disagrees_with_the_vectorised_pass_the_batch_is_rejected(uc, monkeypatch) -> None:
    def lenient(frame, suite):  # a GX that flags nothing
        results = contract.evaluate_suite(frame, suite)
        for r in results:
            r["success"], r["result"] = True, {**r["result"], "unexpected_index_list": [], "unexpected_count": 0}
        return results

    monkeypatch.setattr(decide, "run_suite", lenient)
    out = check(validate_bytes(uc, csv(rows(r2={"tenure": 999})), gx_full_rows=N - 1))
    assert out.status == "rejected" and len(out.accepted) == 0
    assert out.batch_reasons == ["validation engines disagree: expect_column_values_to_be_between on tenure: "
                                 f"GX flags 0 of the {N} evidence rows, vectorised 1"]
    assert out.parse["validation_engine"]["gx_agrees"] is False


def test_past_the_evidence_cap_a_duplicate_that_lost_its_twin_is_no_disagreement(uc, monkeypatch) -> None:
    seen = []
    real = decide.disagreements

    def spy(ours, gx, positions, capped=False):
        seen.append(capped)
        return real(ours, gx, positions, capped=capped)

    monkeypatch.setattr(decide, "disagreements", spy)
    monkeypatch.setattr(decide, "EVIDENCE_MAX_FLAGGED", 1)
    validate_bytes(uc, csv(rows(r2={"tenure": 999})), gx_full_rows=1)  # one flagged row: at the cap
    validate_bytes(uc, csv(rows(r2={"tenure": 999}, r3={"tenure": 998})), gx_full_rows=1)  # two: past it
    assert seen == [False, True]


# -- the wording of an outcome -----------------------------------------------------------------------------
def test_reasons_list_batch_reasons_then_row_summaries() -> None:
    out = Outcome("rejected", 3, pd.DataFrame(), None, ["batch"],
                  {"x: bad": {"count": 2, "examples": ["1", "2"]}, "y: odd": {"count": 1, "examples": []}}, [], {})
    assert out.reasons == ["batch", "x: bad: 2 row(s) (e.g. 1, 2)", "y: odd: 1 row(s)"]


def test_a_semicolon_file_is_named_with_the_first_80_characters_of_its_header(uc) -> None:
    lines = [";".join(HEADER)] + [";".join(str(row(i)[c]) for c in HEADER) for i in range(N)]
    out = check(validate_bytes(uc, ("\n".join(lines) + "\n").encode()))
    assert out.status == "rejected" and len(out.quarantined) == N and out.row_reasons == {}
    shown = ";".join(HEADER)[:80]
    assert shown.endswith(";multip")
    assert out.batch_reasons == [f"schema: the header is one column {shown!r}: the file seems to be separated by ';', "
                                 "not by commas (the contract expects 20 comma-separated columns)"]


# -- the quarantined frame and what comes after a first problem --------------------------------------------
def test_the_quarantine_frame_is_line_first_reasons_last_and_strings_with_none_for_missing(uc) -> None:
    out = check(validate_bytes(uc, csv([*rows(r3={"tenure": 500, "multiple_lines": ""}), "C900,1"])))
    q = out.quarantined
    assert list(q.columns) == ["_line", *HEADER, "_reasons"] and q.index.tolist() == [0, 1]
    assert q["_line"].tolist() == [5, 24]
    assert q.loc[0, "multiple_lines"] is None and q.loc[1, "tenure"] is None  # a missing cell, a short record
    assert q.loc[0, "monthly_charges"] == "50.5" and q.loc[1, "female"] == "1"


def test_an_accepted_batch_has_an_empty_quarantine_of_string_columns(uc) -> None:
    q = validate_bytes(uc, csv(rows())).quarantined
    assert len(q) == 0 and list(q.columns) == ["_line", *HEADER, "_reasons"]
    assert all(q[c].dtype == object for c in HEADER) and q["_line"].dtype == "int64"


def test_a_missing_column_does_not_hide_the_other_rows_problems(uc) -> None:
    header = [c for c in HEADER if c != "tenure"]
    out = check(validate_bytes(uc, csv(rows(r4={"contract": "Forever"}), header=header)))
    assert out.row_reasons["contract: unknown category"] == {"count": 1, "examples": ["'Forever'"]}
    assert out.quarantined["_reasons"].iloc[4] == "schema: missing columns ['tenure']; contract: unknown category 'Forever'"


def test_an_expectation_error_does_not_hide_the_checks_after_it(uc, monkeypatch) -> None:
    def broken(frame, suite):
        results = contract.evaluate_suite(frame, suite)
        for r in results:
            if r["column"] == "tenure" and r["check"] == "range":
                r.update(success=False, error="boom")
        return results

    monkeypatch.setattr(decide, "run_suite", broken)
    out = check(validate_bytes(uc, csv(rows(r4={"contract": "Forever"}))))  # contract comes after tenure
    assert out.row_reasons["contract: unknown category"]["count"] == 1
    assert out.batch_reasons == ["expect_column_values_to_be_between on tenure could not be evaluated: boom"]


def test_a_wrong_typed_column_does_not_hide_the_rows_failing_later_checks(uc) -> None:
    changes = {f"r{i}": {"tenure": f"t{i}"} for i in range(N)}
    changes["r4"] = {"tenure": "t4", "contract": "Forever"}
    out = check(validate_bytes(uc, csv(rows(**changes))))
    assert out.row_reasons == {"contract: unknown category": {"count": 1, "examples": ["'Forever'"]}}


CREDIT = (Path(__file__).resolve().parents[1] / "data" / "credit_clean.csv").read_text()


def test_a_wrong_typed_nullable_column_does_not_hide_the_checks_after_it() -> None:
    credit = load_use_case("credit")
    header, *lines = CREDIT.strip().split("\n")
    names = header.split(",")
    records = [dict(zip(names, line.split(","), strict=True)) for line in lines]
    for i, r in enumerate(records):
        r["Income"] = f"lots{i}"  # Income is nullable: its null-rate check fails, as one wrong-type reason
    records[2]["Debt"] = "-5"  # Debt's range check comes after Income's
    out = check(validate_bytes(credit, csv(records, header=names)))
    assert out.batch_reasons == ["Income: wrong type, expected numeric but none of its values parses "
                                 "(e.g. ['lots0', 'lots1', 'lots2'])"]
    assert out.row_reasons == {"Debt: out of range [0, 500000]": {"count": 1, "examples": ["-5"]}}


def test_a_header_only_file_is_one_reason_even_where_gx_fails_the_column_checks_of_an_empty_frame(
        uc, monkeypatch) -> None:
    def gx_on_nothing(frame, suite):  # GX judges an empty frame's columns as object-typed and null-rated 100%
        results = contract.evaluate_suite(frame, suite)
        for r in results:
            if r["check"] in ("type", "null_rate"):
                r.update(success=False, result={"observed_value": "object", "unexpected_percent": 100.0})
        return results

    monkeypatch.setattr(decide, "run_suite", gx_on_nothing)
    out = check(validate_bytes(uc, csv([])))
    assert out.batch_reasons == ["header only: the file has a header but no data rows",
                                 "row count 0 outside [20, 100000]"]
