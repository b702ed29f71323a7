"""Monitoring samples row positions before reading a day: the same rows as joining the day first.

The oracle below is the join-then-sample the window used to do; the sample-first path must return the
same frame for aligned files (what scoring writes) and fall back to it when the files do not align.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from include.lifecycle.layout import features_key, predictions_key
from include.lifecycle.model.features import clean
from include.lifecycle.watch import window

DAY = date(2026, 3, 2)
CFG = {"window_days": 1, "min_current_rows": 1, "sample_rows": 300, "seed": 11}


def _oracle(feats: pd.DataFrame, preds: pd.DataFrame, uc) -> pd.DataFrame:
    rng = np.random.default_rng([CFG["seed"], DAY.toordinal()])
    joined = feats[[uc.id_column, *uc.feature_columns]].merge(preds, on=uc.id_column, how="inner")
    if CFG["sample_rows"] < len(joined):
        joined = joined.iloc[np.sort(rng.choice(len(joined), size=CFG["sample_rows"], replace=False))]
    return joined.assign(_date=DAY.isoformat()).reset_index(drop=True)


@pytest.fixture
def day(store, sample, churn_uc):
    feats = clean(sample, churn_uc).drop(columns=[churn_uc.target])
    preds = pd.DataFrame({churn_uc.id_column: feats[churn_uc.id_column],
                          "score": np.linspace(0, 1, len(feats)), "model_version": 3})
    return feats, preds


@pytest.mark.parametrize("row_group", [None, 128])
def test_sample_first_returns_the_rows_the_join_would(store, churn_uc, day, row_group):
    feats, preds = day
    store.write_frame(features_key(churn_uc, DAY), feats)
    path = store.local_path(predictions_key(churn_uc, DAY))
    path.parent.mkdir(parents=True, exist_ok=True)
    preds.to_parquet(path, index=False, row_group_size=row_group)  # scoring writes many row groups
    frame, info = window.current_window(store, churn_uc, DAY, CFG)
    pd.testing.assert_frame_equal(frame, _oracle(feats, preds, churn_uc), check_dtype=False)
    assert info["rows"] == CFG["sample_rows"] and info["rows_total"] == len(feats)


def test_files_out_of_order_fall_back_to_the_join(store, churn_uc, day):
    feats, preds = day
    shuffled = preds.sample(frac=1.0, random_state=1).reset_index(drop=True)
    store.write_frame(features_key(churn_uc, DAY), feats)
    store.write_frame(predictions_key(churn_uc, DAY), shuffled)
    frame, _ = window.current_window(store, churn_uc, DAY, CFG)
    pd.testing.assert_frame_equal(frame, _oracle(feats, shuffled, churn_uc), check_dtype=False)


def test_categoricals_read_as_dictionaries_come_back_as_the_same_strings(store, churn_uc, day):
    feats, preds = day
    feats = feats.copy()
    cats = churn_uc.columns_of_kind("categorical")
    feats.loc[::7, cats[0]] = None  # missing and unknown values, in row groups with different dictionaries
    feats.loc[::11, cats[1]] = " Unknown plan "
    path = store.local_path(features_key(churn_uc, DAY))
    path.parent.mkdir(parents=True, exist_ok=True)
    feats.to_parquet(path, index=False, row_group_size=100)
    store.write_frame(predictions_key(churn_uc, DAY), preds)
    frame, _ = window.current_window(store, churn_uc, DAY, CFG)
    want = _oracle(feats, preds, churn_uc)
    for col in cats:
        assert frame[col].dtype == object, col
        assert frame[col].map(type).tolist() == want[col].map(type).tolist(), col
    pd.testing.assert_frame_equal(frame[cats], want[cats])
