"""Hostile and sloppy batches: refused with a reason that names the likely cause, and nothing is lost.

Every case keeps the invariant received == accepted + quarantined and never raises past validation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from include.lifecycle import layout
from include.lifecycle.config import load_use_case
from include.lifecycle.data import validation
from include.lifecycle.store import LocalStore

CLEAN = (Path(__file__).resolve().parents[1] / "data" / "churn_clean.csv").read_text()
DAY = "2026-01-15"


@pytest.fixture(scope="module")
def churn():
    return load_use_case("churn")


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def run(store, uc, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    store.write_bytes(layout.incoming_batch_key(uc, DAY), data)
    result = validation.validate_batch(store, uc, DAY)
    assert result["received"] == result["accepted"] + result["quarantined"], result
    return result


def _with_extra_column(name: str) -> str:
    lines = CLEAN.strip().split("\n")
    return "\n".join([lines[0] + f",{name}"] + [f"{line},x{i}" for i, line in enumerate(lines[1:])]) + "\n"


@pytest.mark.parametrize("column", ["_line", "_reasons", "__line"])
def test_a_source_column_named_like_a_bookkeeping_column_is_kept_verbatim(churn, store, column):
    result = run(store, churn, _with_extra_column(column))
    assert result["status"] == "rejected" and "unexpected columns" in "; ".join(result["reasons"])
    rows = store.read_frame(layout.quarantine_rows_key(churn, DAY))
    reasons = store.read_json(layout.quarantine_reasons_key(churn, DAY))
    line_col, reasons_col = reasons["line_column"], reasons["reasons_column"]
    assert column not in (line_col, reasons_col)
    assert rows[column].tolist() == [f"x{i}" for i in range(len(rows))], "the source's own values survive"
    assert rows[line_col].tolist() == list(range(2, 2 + len(rows)))
    assert rows[reasons_col].str.contains("unexpected columns").all()


def test_a_space_after_each_comma_loses_no_row(churn, store):
    spaced = "\n".join(", ".join(line.split(",")) for line in CLEAN.strip().split("\n")) + "\n"
    result = run(store, churn, spaced)
    clean = run(store, churn, CLEAN)
    assert result["status"] == clean["status"] == "accepted"
    assert result["accepted"] == clean["accepted"]
    full = store.read_json(layout.validation_result_key(churn, DAY))
    assert full["parse"]["trimmed_values"] == 0  # the clean run overwrote the partition
    run(store, churn, spaced)
    full = store.read_json(layout.validation_result_key(churn, DAY))
    assert full["parse"]["trimmed_values"] > 0 and "stray whitespace" in full["parse"]["notes"][0]
    assert "stray whitespace" in store.read_text(layout.validation_report_key(churn, DAY))


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_wrong_delimiter_is_named(churn, store, sep):
    text = "\n".join(sep.join(line.split(",")) for line in CLEAN.strip().split("\n")) + "\n"
    result = run(store, churn, text)
    assert result["status"] == "rejected"
    joined = "; ".join(result["reasons"])
    assert f"separated by {sep!r}" in joined and "missing columns" not in joined


def test_one_oversized_cell_quarantines_its_row_only(churn, store):
    lines = CLEAN.strip().split("\n")
    fields = lines[3].split(",")
    fields[8] = '"' + "A" * 200_000 + '"'  # internet_service: a runaway value, bigger than csv's default limit
    lines[3] = ",".join(fields)
    result = run(store, churn, "\n".join(lines) + "\n")
    assert result["status"] == "partial" and result["quarantined"] == 1
    assert result["accepted"] == len(lines) - 2
    rows = store.read_frame(layout.quarantine_rows_key(churn, DAY))
    assert "200000 characters exceeds" in rows["_reasons"].iat[0]


def test_latin1_is_named_as_the_likely_encoding(churn, store):
    text = CLEAN.replace("Mailed check", "Chèque postal", 1).encode("cp1252")
    result = run(store, churn, text)
    assert result["status"] == "rejected"
    assert "Windows-1252" in "; ".join(result["reasons"])


@pytest.mark.parametrize("text", ["", "customer_id,tenure\n", CLEAN.split("\n")[0] + "\n"])
def test_a_rejected_batch_keeps_its_bytes_verbatim_in_quarantine(churn, store, text):
    result = run(store, churn, text)
    assert result["status"] == "rejected"
    assert store.read_bytes(layout.quarantine_bytes_key(churn, DAY)) == text.encode()
    # a redelivery overwrites incoming/, the quarantined copy of what was rejected stays until revalidated
    store.write_bytes(layout.incoming_batch_key(churn, DAY), b"something else")
    assert store.read_bytes(layout.quarantine_bytes_key(churn, DAY)) == text.encode()
