"""Batch validation: one test per malformed file in tests/data, the clean paths, the policy and reruns.

Every case asserts what a data engineer would look at: the status, reasons that name the problem,
the bookkeeping ``received == accepted + quarantined``, and what landed where.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.lifecycle import layout
from include.lifecycle.config import load_use_case
from include.lifecycle.data import acquisition, csvparse, replay, sources, suite, validation
from include.lifecycle.store import LocalStore, sha256_bytes

DATA = Path(__file__).resolve().parents[1] / "data"
DAY = "2026-01-15"


@pytest.fixture(scope="module")
def ucs():
    return {name: load_use_case(name) for name in ("churn", "credit")}


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def uc_with(uc: Any, **sections: dict[str, Any]) -> Any:
    raw = copy.deepcopy(uc.raw)
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values}
    return dataclasses.replace(uc, raw=raw)


def run(store: LocalStore, uc: Any, data: bytes, day: str = DAY, **kwargs: Any) -> dict[str, Any]:
    store.write_bytes(layout.incoming_batch_key(uc, day), data)
    return validation.validate_batch(store, uc, day, **kwargs)


def partition(kind: str, uc: Any, day: str = DAY) -> str:
    return f"{kind}/{uc.name}/date={day}"


# -- the suite files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["churn", "credit"])
def test_stored_suite_equals_the_generated_one(ucs, name):
    uc = ucs[name]
    path = suite.suite_path(uc)
    assert path is not None and path.name == f"{name}.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored == suite.suite_from_config(uc), (
        f"{path} is out of sync with include/config/{name}.yaml: "
        "run `python -m include.lifecycle.data.validation --write-suites` (do not hand-edit the suite)"
    )
    checks = {(e["meta"]["check"], e["kwargs"].get("column")) for e in stored["expectations"]}
    assert ("schema", None) in checks and ("row_count", None) in checks and ("unique_id", uc.id_column) in checks
    for col, spec in uc.columns.items():
        assert ("null_rate" if spec.get("nullable") else "null", col) in checks


def test_a_hand_edited_suite_is_used_but_flagged(ucs, tmp_path):
    edited = suite.suite_from_config(ucs["churn"])
    edited["expectations"][1]["kwargs"]["min_value"] = 5
    path = tmp_path / "churn.json"
    path.write_text(json.dumps(edited))
    loaded, info = suite.load_suite(uc_with(ucs["churn"], validation={"suite": str(path)}))
    assert loaded == edited and info["in_sync_with_config"] is False


# -- malformed files: one per defect ----------------------------------------------------------------------
CASES = [
    # file, use case, status, (received, accepted, quarantined), words every reason list must contain
    ("churn_missing_column.csv", "churn", "rejected", (30, 0, 30), ["schema", "missing columns ['contract']"]),
    ("churn_extra_column.csv", "churn", "rejected", (30, 0, 30), ["unexpected columns ['churn']", "target"]),
    ("churn_wrong_type.csv", "churn", "rejected", (30, 0, 30), ["monthly_charges: wrong type", "$29.85"]),
    ("churn_unparseable_values.csv", "churn", "partial", (30, 28, 2), ["tenure: unparseable", "twelve"]),
    ("churn_empty.csv", "churn", "rejected", (0, 0, 0), ["empty file"]),
    ("churn_header_only.csv", "churn", "rejected", (0, 0, 0), ["header only", "row count 0"]),
    ("churn_duplicate_ids.csv", "churn", "partial", (30, 26, 4), ["customer_id: duplicate id", "C00001"]),
    ("churn_all_null_column.csv", "churn", "rejected", (30, 0, 30), ["total_charges: column is entirely null"]),
    ("churn_out_of_range.csv", "churn", "partial", (30, 27, 3), ["tenure: out of range [0, 120]", "999", "1200"]),
    ("churn_unknown_category.csv", "churn", "partial", (30, 28, 2), ["contract: unknown category", "Three year"]),
    ("churn_null_not_allowed.csv", "churn", "partial", (30, 28, 2), ["internet_service: null not allowed"]),
    ("churn_short_row.csv", "churn", "partial", (30, 29, 1), ["wrong number of fields"]),
    ("churn_truncated.csv", "churn", "rejected", (30, 0, 30), ["truncated file", "line 31"]),
    ("churn_corrupt.csv.gz", "churn", "rejected", (8, 0, 8), ["unreadable", "gzip", "truncated or corrupt"]),
    ("churn_non_utf8.csv", "churn", "rejected", (30, 0, 30), ["not valid UTF-8", "0xe8", "line 7"]),
    ("credit_null_rate.csv", "credit", "rejected", (30, 0, 30), ["Income: null rate 53.3%", "35.0%"]),
]


@pytest.mark.parametrize(("name", "uc_name", "status", "counts", "words"), CASES, ids=[c[0] for c in CASES])
def test_malformed_file(ucs, store, name, uc_name, status, counts, words):
    uc = ucs[uc_name]
    data = (DATA / name).read_bytes()
    result = run(store, uc, data)

    assert result["status"] == status
    assert (result["received"], result["accepted"], result["quarantined"]) == counts
    assert result["received"] == result["accepted"] + result["quarantined"]
    joined = " | ".join(result["reasons"])
    for word in words:
        assert word in joined, f"{word!r} not in reasons: {result['reasons']}"

    accepted = store.read_frame(result["accepted_key"])
    assert len(accepted) == result["accepted"]
    assert list(accepted.columns) == [uc.id_column, *uc.feature_columns]
    stored = store.read_json(f"{partition('validation', uc)}/result.json")
    assert stored["status"] == status and stored["reasons"] == result["reasons"]
    reasons_file = store.read_json(f"{partition('quarantine', uc)}/reasons.json")
    assert reasons_file["quarantined"] == result["quarantined"]
    q_rows = f"{partition('quarantine', uc)}/rows.parquet"
    if result["quarantined"] and stored["parse"]["readable"]:
        rows = store.read_frame(q_rows)
        assert len(rows) == result["quarantined"] and rows["_reasons"].str.len().gt(0).all()
    if not stored["parse"]["readable"]:  # unparseable: the bytes themselves are kept for the source's owner
        assert store.read_bytes(f"{partition('quarantine', uc)}/batch.csv") == data
        assert not store.exists(q_rows) and stored["expectations"] == []
    assert result["status"].upper() in store.read_text(result["report_key"])


def test_row_level_reasons_point_at_the_offending_rows(ucs, store):
    result = run(store, ucs["churn"], (DATA / "churn_out_of_range.csv").read_bytes())
    rows = store.read_frame(f"{partition('quarantine', ucs['churn'])}/rows.parquet").set_index("customer_id")
    assert rows.loc["C00005", "_reasons"] == "tenure: -3 out of range [0, 120]"
    assert rows.loc["C00010", "_reasons"] == "tenure: 999 out of range [0, 120]"
    assert rows.loc["C00016", "_reasons"] == "monthly_charges: 1200 out of range [0, 500]"
    assert rows.loc["C00016", "monthly_charges"] == "1200.0"  # quarantine keeps the raw text
    accepted = store.read_frame(result["accepted_key"])
    assert not accepted["customer_id"].isin(rows.index).any()
    assert accepted["tenure"].between(0, 120).all()
    gx = {(e["check"], e["column"]): e for e in store.read_json(f"{partition('validation', ucs['churn'])}/result.json")[
        "expectations"
    ]}
    assert gx[("range", "tenure")]["success"] is False and gx[("range", "tenure")]["unexpected_count"] == 2
    assert gx[("category", "contract")]["success"] is True


def test_report_is_a_readable_page(ucs, store):
    result = run(store, ucs["churn"], (DATA / "churn_duplicate_ids.csv").read_bytes())
    page = store.read_text(result["report_key"])
    assert page.startswith("<!doctype html>") and "PARTIAL" in page
    assert "expect_column_values_to_be_unique" in page and "customer_id: duplicate id 'C00001'" in page
    assert "Quarantined rows (first 4 of 4)" in page


# -- clean batches --------------------------------------------------------------------------------------
def test_clean_replay_batch_passes_fully_and_is_typed(ucs, store):
    uc = ucs["churn"]
    d = replay.start_date(uc) + timedelta(days=4)
    info = replay.publish(store, uc, d)
    acquisition.acquire(store, uc, d, sources.LocalLandingSource(store))
    result = validation.validate_batch(store, uc, d)
    assert result["status"] == "accepted" and result["reasons"] == []
    assert result["received"] == result["accepted"] == info["rows"] and result["quarantined"] == 0
    assert result["accepted_sha256"] == sha256_bytes(store.read_bytes(result["accepted_key"]))
    accepted = store.read_frame(result["accepted_key"])
    assert accepted["tenure"].dtype == "float64" and accepted["senior_citizen"].dtype == "int64"
    assert accepted["contract"].map(type).eq(str).all()
    stored = store.read_json(f"validation/churn/date={d.isoformat()}/result.json")
    assert stored["gx_success"] is True and stored["parse"]["suite"]["in_sync_with_config"] is True
    assert not store.list(f"quarantine/churn/date={d.isoformat()}/")


def test_credit_batch_with_real_missing_values_validates(ucs, store):
    uc = ucs["credit"]
    d = replay.start_date(uc) + timedelta(days=2)
    replay.publish(store, uc, d)
    acquisition.acquire(store, uc, d, sources.LocalLandingSource(store))
    result = validation.validate_batch(store, uc, d)
    assert result["status"] == "accepted" and result["quarantined"] == 0
    accepted = store.read_frame(result["accepted_key"])
    assert accepted["Income"].isna().any()  # real NaNs within the nullable bound are kept
    assert set(accepted["Records"]) <= {"no", "yes"}


def test_credit_fixture_slice_validates(ucs, store):
    result = run(store, ucs["credit"], (DATA / "credit_clean.csv").read_bytes())
    assert (result["status"], result["received"], result["accepted"]) == ("accepted", 30, 30)


# -- policy and reruns ----------------------------------------------------------------------------------
def test_fail_policy_raises_after_writing_quarantine(ucs, store):
    strict = uc_with(ucs["churn"], validation={"on_batch_failure": "fail"})
    data = (DATA / "churn_non_utf8.csv").read_bytes()
    with pytest.raises(validation.BatchRejectedError) as err:
        run(store, strict, data)
    message = str(err.value)
    assert "'churn'" in message and DAY in message and "not valid UTF-8" in message
    assert store.read_bytes(f"{partition('quarantine', strict)}/batch.csv") == data
    assert store.read_json(f"{partition('validation', strict)}/result.json")["status"] == "rejected"


def test_fail_policy_lets_a_partial_batch_through(ucs, store):
    result = run(store, ucs["churn"], (DATA / "churn_unknown_category.csv").read_bytes(), on_batch_failure="fail")
    assert result["status"] == "partial" and result["accepted"] == 28


def test_rerun_overwrites_the_partition(ucs, store):
    uc = ucs["churn"]
    first = run(store, uc, (DATA / "churn_truncated.csv").read_bytes())
    assert first["status"] == "rejected" and store.list(f"{partition('quarantine', uc)}/")
    second = run(store, uc, (DATA / "churn_clean.csv").read_bytes())  # the source re-delivered the full file
    assert (second["status"], second["accepted"], second["quarantined"]) == ("accepted", 30, 0)
    assert store.list(f"{partition('quarantine', uc)}/") == []
    assert len(store.read_frame(second["accepted_key"])) == 30


def test_missing_incoming_batch_is_a_clear_error(ucs, store):
    with pytest.raises(sources.BatchMissingError, match=r"'churn', 2026-02-01: no incoming batch"):
        validation.validate_batch(store, ucs["churn"], date(2026, 2, 1))


def test_parser_never_raises_a_bare_error_on_garbage():
    for data in (b"\x00\x01\x02", b"\x1f\x8b\x08garbage", b'a,b\n1,"unterminated\n', b"   \n\n"):
        with pytest.raises(csvparse.CsvUnreadableError) as err:
            csvparse.parse_csv_bytes(data)
        assert err.value.reason.startswith(("unreadable", "empty file"))
    parsed = csvparse.parse_csv_bytes(b"a,b\n1,2\n\n3,4\n")
    assert parsed.received == 2 and parsed.lines == [2, 4]  # blank lines are not records
    assert parsed.frame.to_dict("list") == {"a": ["1", "3"], "b": ["2", "4"]}
