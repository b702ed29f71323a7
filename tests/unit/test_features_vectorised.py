"""The vectorised features path against the frozen round-2 implementation (tests/unit/features_reference.py).

Two paths changed: ``clean`` builds its frame at once, and ``build_features_partition`` cleans typed
partitions in Arrow (``clean_table``). Both must give exactly what round 2 gave — the same frame (values,
dtypes, per-cell Python types, index) and the same Parquet bytes — on inputs chosen to be awkward.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tests.unit.features_reference as ref
from include.lifecycle.model.features import FeatureError, build_features_partition, clean, clean_table

CATEGORICAL = "contract"


def _hostile(sample: pd.DataFrame, uc) -> pd.DataFrame:
    """Raw rows with every flavour of missing, stray whitespace, mixed case, unknown categories, odd numbers."""
    raw = sample.head(12).copy().astype(object)
    raw.index = [5, 3, 3, 9, 0, 1, 2, 7, 8, 11, 10, 4]  # unsorted, duplicated: clean must renumber by position
    raw["tenure"] = [" 12 ", "3.5", None, np.nan, "-5", "1e12", "inf", "0", "-0.0", 7, 2.5, pd.NA]
    raw["monthly_charges"] = [1e308, -1.0, np.nan, 0.0, -0.0, 29.85, 1, 2, 3, 4, 5, 6]
    raw["partner"] = [" Yes", "NO ", "y", "T", "false", "0", "1.0", None, np.nan, pd.NA, "YES", "f"]
    raw["senior_citizen"] = [1, 0, 1.0, 0.0, True, False, None, np.nan, 1, 0, 1, 0]
    raw[CATEGORICAL] = ["Month-to-month", " two year", "UNKNOWN plan", "", None, np.nan, pd.NA, "One year",
                        "Two year", "month-to-month ", "x", "Two year"]
    raw["internet_service"] = [3, 2.5, None, "Fiber optic", True, "No", "DSL", "dsl", np.nan, "DSL", "No", "DSL"]
    raw[uc.id_column] = ["a", " b ", 3, 4.0, "e", "f", "g", "h", "i", "j", "k", None]
    return raw.assign(batch_note="dropped")


def _same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.index.equals(want.index) and type(got.index) is type(want.index)
    for col in want.columns:  # assert_frame_equal lets np.float64(1.0) pass for 1.0 and "1" for np.str_("1")
        assert got[col].map(type).tolist() == want[col].map(type).tolist(), col


def test_clean_gives_round_2s_frame_on_a_hostile_sample(sample, churn_uc) -> None:
    raw = _hostile(sample, churn_uc)
    _same_frame(clean(raw, churn_uc), ref.clean(raw, churn_uc))
    no_target = raw.drop(columns=[churn_uc.target])
    _same_frame(clean(no_target, churn_uc), ref.clean(no_target, churn_uc))


@pytest.mark.parametrize(("column", "value"), [("tenure", "twelve"), ("partner", "maybe"), ("senior_citizen", 2),
                                                ("senior_citizen", -0.0), ("partner", " ")])
def test_clean_refuses_what_round_2_refused_with_the_same_message(sample, churn_uc, column, value) -> None:
    raw = _hostile(sample, churn_uc)
    raw.iloc[4, raw.columns.get_loc(column)] = value
    with pytest.raises(FeatureError) as want:
        ref.clean(raw, churn_uc)
    with pytest.raises(FeatureError) as got:
        clean(raw, churn_uc)
    assert str(got.value) == str(want.value)


def _typed(sample: pd.DataFrame, uc, rows: int = 40) -> pd.DataFrame:
    """The shape validation writes: numbers as numbers, binaries int64, categoricals strings."""
    typed = ref.clean(sample.head(rows), uc)
    typed[uc.target] = (sample.head(rows)[uc.target] == "Yes").astype("int64")
    return typed


def _with_real_nans(t: pd.DataFrame) -> pa.Table:
    """NaN stored as a value, not as null (pandas' writer never does that; other writers may)."""
    table = pa.Table.from_pandas(t, preserve_index=False)
    values = t["total_charges"].to_numpy().copy()
    values[[0, 3]] = np.nan
    i = table.schema.get_field_index("total_charges")
    return table.set_column(i, "total_charges", pa.array(values, from_pandas=False))


def _accepted_variants(sample: pd.DataFrame, uc) -> dict[str, pd.DataFrame | pa.Table]:
    t = _typed(sample, uc)
    nan_cells = t.copy()
    nan_cells.loc[[1, 5], "total_charges"] = np.nan
    nan_cells.loc[[2, 3], "monthly_charges"] = [-0.0, np.inf]
    nan_cells.loc[[0, 7], CATEGORICAL] = [None, "  Unknown Plan "]
    nan_cells.loc[4, "internet_service"] = ""
    ints = t.assign(tenure=t["tenure"].astype("int64"), female=t["female"].astype("uint8"))
    int_nulls = t.assign(tenure=pd.array([None, *t["tenure"].astype("int64")[1:]], dtype="Int64"),
                         partner=pd.array([None, *t["partner"][1:]], dtype="Int64"))
    bools = t.assign(dependents=t["dependents"].astype(bool), partner=pd.array(
        [None, *t["partner"].astype(bool)[1:]], dtype="boolean"))
    out_of_range = t.assign(tenure=np.linspace(-1e12, 1e15, len(t)), monthly_charges=2.0 ** 60 + np.arange(len(t)))
    return {
        "typed": t, "nan_and_odd_cells": nan_cells, "integer_numbers": ints, "nullable_ints": int_nulls,
        "booleans": bools, "out_of_range": out_of_range,
        "category_dtype": t.assign(**{CATEGORICAL: t[CATEGORICAL].astype("category")}),
        "string_dtype": t.astype({CATEGORICAL: "string", uc.id_column: "string"}),
        "extra_columns": t.assign(batch_note="x", other=1.5),
        "no_target": t.drop(columns=[uc.target]),
        "huge_ints": t.assign(tenure=np.array([2**62 + 1] * len(t), dtype="int64")),
        "nan_values": _with_real_nans(t),
        # the pandas path's cases: Arrow cannot reproduce them exactly (or at all)
        "text_numbers": t.assign(tenure=t["tenure"].map(lambda v: f" {v} ")),
        "yes_no_binaries": t.assign(partner=np.where(t["partner"] == 1, "Yes", "no")),
        "float_binaries": t.assign(partner=t["partner"].astype("float64")),
        "all_missing_category": t.assign(**{CATEGORICAL: None}),
        "all_missing_strings": t.assign(**{CATEGORICAL: pd.array([None] * len(t), dtype="string")}),
        "integer_ids": t.assign(**{uc.id_column: np.arange(len(t))}),
        "stored_index": t.set_index(uc.id_column, drop=False).rename_axis("idx"),
        "no_rows": t.head(0),
    }


ARROW_PATH = {"typed", "nan_and_odd_cells", "integer_numbers", "nullable_ints", "booleans", "out_of_range",
              "category_dtype", "string_dtype", "extra_columns", "no_target", "huge_ints", "nan_values"}


def test_build_writes_round_2s_bytes_for_every_accepted_shape(store, sample, churn_uc) -> None:
    for i, (name, frame) in enumerate(_accepted_variants(sample, churn_uc).items()):
        day = f"2026-02-{i + 1:02d}"
        buf = io.BytesIO()
        if isinstance(frame, pa.Table):
            pq.write_table(frame, buf)
        else:
            frame.to_parquet(buf, index=name == "stored_index" or None)
        raw = buf.getvalue()
        store.write_bytes(f"raw/churn/date={day}/accepted.parquet", raw)
        took_arrow = clean_table(pq.read_table(io.BytesIO(raw)), churn_uc) is not None
        assert took_arrow == (name in ARROW_PATH), name
        built = build_features_partition(store, churn_uc, day)
        want = ref.reference_partition_bytes(raw, churn_uc)
        assert store.read_bytes(built["features_key"]) == want, name
        assert built["rows"] == len(frame)
        _same_frame(store.read_frame(built["features_key"]), pd.read_parquet(io.BytesIO(want)))


def test_arrow_path_refuses_non_binary_values_for_pandas_to_report(store, sample, churn_uc) -> None:
    t = _typed(sample, churn_uc).assign(senior_citizen=2)
    assert clean_table(pa.Table.from_pandas(t, preserve_index=False), churn_uc) is None
    store.write_frame("raw/churn/date=2026-03-01/accepted.parquet", t)
    with pytest.raises(FeatureError, match="not binary"):
        build_features_partition(store, churn_uc, "2026-03-01")


def test_arrow_path_logs_dropped_columns_as_clean_does(sample, churn_uc, caplog) -> None:
    t = _typed(sample, churn_uc).assign(batch_note="x")
    with caplog.at_level(logging.INFO, logger="include.lifecycle.model.features"):
        clean_table(pa.Table.from_pandas(t, preserve_index=False), churn_uc)
    assert "dropping columns not in the churn contract: ['batch_note']" in caplog.text
    assert "'" + churn_uc.target + "'" not in caplog.text  # the target is expected, not extra


def test_training_reads_every_partition_shape_as_clean_makes_it(store, sample, churn_uc) -> None:
    """``clean_partition`` (what training's assemble reads features with) gives ``clean``'s frame cell for cell —
    NaN, not None, for a missing category — on a features partition and on every accepted shape."""
    from include.lifecycle.model.features import clean_partition

    for i, (name, frame) in enumerate(_accepted_variants(sample, churn_uc).items()):
        buf = io.BytesIO()
        if isinstance(frame, pa.Table):
            pq.write_table(frame, buf)
        else:
            frame.to_parquet(buf, index=name == "stored_index" or None)
        day = f"2026-03-{i + 1:02d}"
        store.write_bytes(f"raw/churn/date={day}/accepted.parquet", buf.getvalue())
        built = build_features_partition(store, churn_uc, day)
        for data in (buf.getvalue(), store.read_bytes(built["features_key"])):
            want = clean(pd.read_parquet(io.BytesIO(data)), churn_uc).drop(columns=[churn_uc.target], errors="ignore")
            _same_frame(clean_partition(data, churn_uc), want)
    missing = _accepted_variants(sample, churn_uc)["nan_and_odd_cells"]
    buf = io.BytesIO()
    missing.to_parquet(buf)
    got = clean_partition(buf.getvalue(), churn_uc)[CATEGORICAL]
    assert got.isna().sum() == 1 and isinstance(got.iloc[0], float)  # NaN for the encoder, not None


@pytest.mark.parametrize("variant", ["typed", "nan_and_odd_cells", "nullable_ints", "text_numbers"])
def test_a_partition_of_many_row_groups_is_cleaned_group_by_group_to_the_same_frame(store, sample, churn_uc,
                                                                                     variant) -> None:
    """A day larger than one row group is cleaned and written a row group at a time (bounded memory); the rows,
    values and dtypes are what cleaning the whole partition gives — a binary missing only in a late group makes
    that column float64 throughout, as ``clean`` does on the whole column."""
    frame = _accepted_variants(sample, churn_uc)[variant].copy()
    if variant == "typed":
        frame["partner"] = frame["partner"].astype("float64")
        frame.loc[len(frame) - 2, "partner"] = np.nan  # in the last row group only
        frame = pa.Table.from_pandas(frame, preserve_index=False)
        frame = frame.set_column(frame.schema.get_field_index("partner"), "partner",
                                 pc_cast_int(frame.column("partner")))
    buf = io.BytesIO()
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, buf, row_group_size=7)
    raw = buf.getvalue()
    assert pq.ParquetFile(io.BytesIO(raw)).metadata.num_row_groups > 1
    store.write_bytes("raw/churn/date=2026-04-01/accepted.parquet", raw)
    built = build_features_partition(store, churn_uc, "2026-04-01")
    got = store.read_frame(built["features_key"])
    want = pd.read_parquet(io.BytesIO(ref.reference_partition_bytes(raw, churn_uc)))
    _same_frame(got, want)
    assert built["rows"] == table.num_rows
    groups = pq.ParquetFile(io.BytesIO(store.read_bytes(built["features_key"]))).metadata.num_row_groups
    assert groups == (1 if variant == "text_numbers" else pq.ParquetFile(io.BytesIO(raw)).metadata.num_row_groups)
    if variant == "typed":
        assert got["partner"].dtype == "float64" and got["partner"].isna().sum() == 1


def pc_cast_int(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """A float 0/1 column with one null as Int64 (nullable ints): the Arrow path's binary shape with a gap."""
    import pyarrow.compute as pc

    return pc.cast(arr, pa.int64())
