"""The online predict library on its own: the column contract, and what happens without a model."""

from __future__ import annotations

import pandas as pd
import pytest

from include.lifecycle.serve.predict import NoModelError, PredictError, Predictor, check_rows


@pytest.fixture(scope="module")
def row(churn_uc) -> dict:
    frame = pd.read_csv(churn_uc.data_file, dtype={churn_uc.id_column: str}).head(1)
    [record] = frame[[churn_uc.id_column, *churn_uc.columns]].to_dict("records")
    return record


def problems(uc, rows) -> dict[tuple, str]:
    with pytest.raises(PredictError) as info:
        check_rows(uc, rows)
    return {tuple(p["loc"][1:]): p["msg"] for p in info.value.problems}


def test_a_row_straight_from_the_source_file_passes(churn_uc, row) -> None:
    assert check_rows(churn_uc, [row]) == [row]


def test_every_bad_field_is_named_with_what_is_wrong(churn_uc, row) -> None:
    bad = {**row, "tenure": -3, "monthly_charges": "cheap", "senior_citizen": "maybe", "contract": 2,
           "payment_method": "Bitcoin", "partner": None, "unknown": 1}
    del bad["dependents"]
    found = problems(churn_uc, [row, bad])
    assert found == {
        (1, "tenure"): "must be >= 0.0",
        (1, "monthly_charges"): "must be a number, got str",
        (1, "senior_citizen"): "must be binary (0/1, true/false, yes/no), got 'maybe'",
        (1, "contract"): "must be a string, got int",
        (1, "payment_method"): found[(1, "payment_method")],
        (1, "partner"): "may not be null",
        (1, "unknown"): "not a column of the contract",
        (1, "dependents"): "field required",
    }
    assert found[(1, "payment_method")].startswith("must be one of ['Electronic check'")


def test_nullable_columns_accept_null_and_booleans_are_not_numbers(churn_uc, row) -> None:
    assert check_rows(churn_uc, [{**row, "total_charges": None}])
    assert problems(churn_uc, [{**row, "tenure": True}]) == {(0, "tenure"): "must be a number, got bool"}
    assert problems(churn_uc, [{**row, churn_uc.id_column: None}]) == {(0, churn_uc.id_column): "the id is required"}


def test_the_request_shape_is_checked_first(churn_uc, row) -> None:
    assert problems(churn_uc, []) == {(): "a non-empty list"}
    assert problems(churn_uc, ["not a row"]) == {(0,): "each row must be an object"}
    assert set(problems(churn_uc, [row] * 10_001)) == {()}


def test_no_champion_and_unknown_versions_are_lookup_errors(churn_uc, row, store) -> None:
    predictor = Predictor(store)
    with pytest.raises(NoModelError, match="no champion"):
        predictor.predict(churn_uc, [row])
    with pytest.raises(NoModelError, match="no version 3"):
        predictor.predict(churn_uc, [row], version=3)
    assert predictor.loads == 0
