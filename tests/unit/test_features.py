"""features.clean / build_preprocessor / build_features_partition on real rows of the churn snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.lifecycle.model.features import (
    FeatureError,
    build_features_partition,
    build_preprocessor,
    clean,
    stale_partitions,
)


def test_clean_types_every_column_and_keeps_every_row(sample: pd.DataFrame, churn_uc) -> None:
    raw = sample.copy()
    raw.loc[0, "total_charges"] = np.nan
    raw["tenure"] = raw["tenure"].astype(str)  # a CSV read as text must come out numeric
    out = clean(raw, churn_uc)
    assert len(out) == len(raw)
    assert list(out.columns) == [churn_uc.id_column, *churn_uc.feature_columns, churn_uc.target]
    for col in churn_uc.columns_of_kind("numeric"):
        assert out[col].dtype == "float64"
    for col in churn_uc.columns_of_kind("binary"):
        assert out[col].dtype == "int64" and set(out[col].unique()) <= {0, 1}
    for col in churn_uc.columns_of_kind("categorical"):
        assert out[col].map(type).eq(str).all()
    assert np.isnan(out.loc[0, "total_charges"])  # missing stays missing, not 0 or the median
    assert out["tenure"].tolist() == sample["tenure"].astype(float).tolist()


def test_clean_maps_yes_no_binaries_and_keeps_missing_as_nan(sample: pd.DataFrame, churn_uc) -> None:
    raw = sample.head(4).copy()
    raw["partner"] = ["Yes", "No", None, "yes"]
    out = clean(raw, churn_uc)
    assert out["partner"].iloc[[0, 1, 3]].tolist() == [1.0, 0.0, 1.0]
    assert np.isnan(out["partner"].iloc[2])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("tenure", "twelve", "non-numeric"), ("senior_citizen", 2, "not binary")],
)
def test_clean_refuses_values_it_would_have_to_invent(sample: pd.DataFrame, churn_uc, column, value, message) -> None:
    raw = sample.head(5).copy().astype({column: object})
    raw.loc[2, column] = value
    with pytest.raises(FeatureError, match=message):
        clean(raw, churn_uc)


def test_clean_refuses_a_missing_feature_and_drops_only_extra_columns(sample: pd.DataFrame, churn_uc) -> None:
    with pytest.raises(FeatureError, match="contract"):
        clean(sample.drop(columns=["contract"]), churn_uc)
    out = clean(sample.assign(batch_note="x").drop(columns=[churn_uc.target]), churn_uc)
    assert "batch_note" not in out.columns and churn_uc.target not in out.columns


def test_preprocessor_never_uses_the_id_and_has_a_fixed_layout(split, churn_uc) -> None:
    train, holdout = split
    pre = build_preprocessor(churn_uc).fit(train.drop(columns=[churn_uc.target]))
    names = list(pre.get_feature_names_out())
    assert not any(churn_uc.id_column in n for n in names)
    n_categories = sum(len(churn_uc.columns[c]["values"]) for c in churn_uc.columns_of_kind("categorical"))
    expected = len(churn_uc.columns_of_kind("numeric", "binary")) + n_categories
    assert len(names) == expected
    # Layout comes from the config, so a holdout missing a category still gets the same columns.
    assert pre.transform(holdout.head(3)).shape == (3, expected)


def test_preprocessor_handles_unseen_and_missing_categories(split, churn_uc) -> None:
    train, _ = split
    pre = build_preprocessor(churn_uc).fit(train)
    rows = train.head(2).copy()
    rows.loc[0, "contract"] = "Three year"
    rows.loc[1, "contract"] = np.nan
    rows.loc[1, "total_charges"] = np.nan
    out = pd.DataFrame(pre.transform(rows), columns=pre.get_feature_names_out())
    contract_cols = [c for c in out.columns if c.startswith("categorical__contract_")]
    assert (out[contract_cols].to_numpy() == 0).all()
    assert np.isfinite(out.to_numpy()).all()  # the numeric NaN was imputed


def test_build_features_partition_writes_and_overwrites_idempotently(store, sample, churn_uc) -> None:
    day = "2026-01-03"
    store.write_frame(f"raw/churn/date={day}/accepted.parquet", sample.head(50))
    first = build_features_partition(store, churn_uc, day)
    assert first["rows"] == 50 and first["date"] == day
    assert first["features_key"] == f"features/churn/date={day}/features.parquet"
    assert store.sha256(first["features_key"]) == first["sha256"]
    written = store.read_frame(first["features_key"])
    assert churn_uc.target not in written.columns  # labels travel separately
    assert written[churn_uc.id_column].tolist() == sample.head(50)[churn_uc.id_column].tolist()
    again = build_features_partition(store, churn_uc, day)
    assert again == first
    assert store.list("features/churn/") == [first["features_key"], f"features/churn/date={day}/source.json"]


def test_stale_partitions_finds_raw_rows_without_features_built_from_them(store, sample, churn_uc) -> None:
    """Feature engineering does not trust that every asset event arrived: the store says what is missing."""
    days = ["2026-01-03", "2026-01-04"]
    for day, rows in zip(days, (sample.head(40), sample.tail(40)), strict=True):
        sha = store.write_frame(f"raw/churn/date={day}/accepted.parquet", rows)
        store.write_json(f"validation/churn/date={day}/result.json", {"accepted": len(rows), "accepted_sha256": sha})
    store.write_json("validation/churn/date=2026-01-05/result.json", {"accepted": 0, "accepted_sha256": None})
    assert stale_partitions(store, churn_uc) == days  # nothing built; a fully rejected day is not stale
    build_features_partition(store, churn_uc, days[0])
    assert stale_partitions(store, churn_uc) == [days[1]]
    # A re-validated day with other accepted rows makes its features stale again.
    sha = store.write_frame(f"raw/churn/date={days[0]}/accepted.parquet", sample.head(10))
    store.write_json(f"validation/churn/date={days[0]}/result.json", {"accepted": 10, "accepted_sha256": sha})
    assert stale_partitions(store, churn_uc) == days
