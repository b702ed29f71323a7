"""The column-wise request check and typing of online predict against the value-by-value reference.

``check_columns`` lets plainly valid values through in one comprehension per column and asks
``_check_value`` only about the rest; ``request_frame`` types the checked columns. Both must say and build
exactly what checking every value and ``features.clean`` on ``DataFrame.from_records`` did: random hostile
requests, every problem in row order, and every accepted request typed to the same frame.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import pandas as pd
import pytest

from include.lifecycle.model.features import FeatureError, clean
from include.lifecycle.serve.predict import PredictError, _check_value, check_columns, check_rows, request_frame

ODD = [None, math.nan, math.inf, -math.inf, True, False, 0, 1, -1, 2, 0.0, -0.0, 1.0, 0.5, 10**6, -3, "",
       " Yes ", "yes", "TRUE", "t", "1", "1.0", "-0.0", "nan", "maybe", "No", "DSL", [1], {"a": 1}]


def _value(rng: random.Random, spec: Mapping, good: float) -> object:
    if rng.random() < good:  # mostly what a caller sends, so whole rows pass too
        if spec["kind"] == "numeric":
            low, high = spec.get("min", -100), spec.get("max", 100)
            return rng.choice([int(low), float(high), rng.uniform(low, high)])
        if spec["kind"] == "binary":
            return rng.choice([0, 1, True, False, "yes", "no", "1", "0", "true", 1.0])
        return rng.choice(list(spec["values"]))
    return rng.choice(ODD)


def _request(uc, rng: random.Random, good: float) -> list:
    rows: list = []
    for _ in range(rng.randint(1, 12)):
        if rng.random() < 0.03:
            rows.append(rng.choice(["not a row", 7, None, ["a", "list"]]))
            continue
        row = {uc.id_column: rng.choice([f"c{rng.randint(0, 99)}", 12, None, math.nan]) if rng.random() < 0.1
               else f"c{rng.randint(0, 999)}"}
        row.update({col: _value(rng, spec, good) for col, spec in uc.columns.items()})
        for col in list(row):
            if rng.random() < 0.01:
                del row[col]
        if rng.random() < 0.03:
            row[rng.choice(["unknown", "zzz", "aaa"])] = 1
        rows.append(row)
    return rows


def _reference(uc, rows: list) -> list[dict]:
    """What the value-by-value check said, in its order: each row's id, its extra fields, then its columns."""
    problems: list[dict] = []
    allowed = {uc.id_column, *uc.columns}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append({"loc": ["rows", i], "msg": "each row must be an object"})
            continue
        value = row.get(uc.id_column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            problems.append({"loc": ["rows", i, uc.id_column], "msg": "the id is required"})
        problems += [{"loc": ["rows", i, extra], "msg": "not a column of the contract"}
                     for extra in sorted(set(row) - allowed)]
        for col, spec in uc.columns.items():
            problem = _check_value(row.get(col, ...), spec)
            if problem:
                problems.append({"loc": ["rows", i, col], "msg": problem})
    return problems


@pytest.mark.parametrize("good", [0.5, 0.97])
def test_the_column_wise_check_names_exactly_the_problems_the_value_by_value_check_named(churn_uc, good):
    rng = random.Random(int(good * 100))
    passed = failed = 0
    for _ in range(250):
        rows = _request(churn_uc, rng, good)
        expected = _reference(churn_uc, rows)
        if expected:
            with pytest.raises(PredictError) as info:
                check_rows(churn_uc, rows)
            assert info.value.problems == expected, rows
            failed += 1
        else:
            assert check_rows(churn_uc, rows) is rows
            passed += 1
    assert failed >= 20 and (good < 0.9 or passed >= 20), (passed, failed)  # both outcomes really exercised


def test_an_accepted_request_is_typed_as_clean_typed_the_records(churn_uc):
    """The frame ``predict_proba`` sees, for every way a checked value can be written (1/True/"yes"/1.0 binaries,
    int and float numbers, a null where the contract allows one, numeric ids)."""
    rng = random.Random(5)
    for _ in range(120):
        style = rng.choice([lambda n: f"c{n}", lambda n: 1234 + n, lambda n: 12.5 + n])
        rows = [{churn_uc.id_column: style(n),
                 **{col: _value(rng, spec, 1.0) for col, spec in churn_uc.columns.items()}}
                for n in range(rng.randint(1, 12))]
        for row in rows:
            if rng.random() < 0.2:
                row["total_charges"] = rng.choice([None, math.nan])
        expected = clean(pd.DataFrame.from_records(rows, columns=[churn_uc.id_column, *churn_uc.columns]), churn_uc)
        pd.testing.assert_frame_equal(request_frame(churn_uc, check_columns(churn_uc, rows)), expected)
    # ids of mixed types come back as sent (from_records made one float column of them: 1234 became "1234.0")
    rows = [{churn_uc.id_column: ident, **{c: _value(rng, s, 1.0) for c, s in churn_uc.columns.items()}}
            for ident in (1234, 13.5, "c7")]
    assert request_frame(churn_uc, check_columns(churn_uc, rows))[churn_uc.id_column].tolist() == ["1234", "13.5", "c7"]


def test_a_value_clean_refuses_is_a_predict_error_naming_the_column(churn_uc):
    """A contract that allows what clean cannot type (a numeric column given a free-text binary) still answers
    with the column, not a traceback."""
    columns = {churn_uc.id_column: ["c1"], **{c: [None] for c in churn_uc.columns}}
    columns["partner"] = ["perhaps"]
    with pytest.raises(PredictError, match="'partner'") as info:
        request_frame(churn_uc, columns)
    assert isinstance(info.value.__cause__, FeatureError)
