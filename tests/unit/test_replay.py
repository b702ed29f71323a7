"""The snapshot replay: a deterministic source system with delayed labels and a switchable drift."""

from __future__ import annotations

import copy
import dataclasses
import io
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from include.lifecycle import layout
from include.lifecycle.config import load_use_case
from include.lifecycle.data import replay
from include.lifecycle.store import LocalStore


def uc_with(uc: Any, **sections: dict[str, Any]) -> Any:
    """A copy of ``uc`` with some keys of some sections replaced (the YAML is never touched)."""
    raw = copy.deepcopy(uc.raw)
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values}
    return dataclasses.replace(uc, raw=raw)


@pytest.fixture(scope="module")
def churn():
    return load_use_case("churn")


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def read_csv(store: LocalStore, key: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(store.read_bytes(key)), dtype={"customer_id": str})


def day(uc: Any, k: int) -> date:
    return replay.start_date(uc) + timedelta(days=k)


def test_plan_is_deterministic_and_assigns_every_row_once(churn):
    first, second = replay.plan(churn), replay.plan(churn)
    pd.testing.assert_frame_equal(first, second)
    snapshot = replay.load_snapshot(churn)
    assert first["id"].tolist() == snapshot["customer_id"].tolist()
    assert first["day"].between(-1, churn.raw["replay"]["days"] - 1).all()
    assert (first["day"] == -1).sum() == round(0.4 * len(snapshot))  # history_fraction
    assert set(first.loc[first["day"] >= 0, "day"]) == set(range(churn.raw["replay"]["days"]))
    reseeded = replay.plan(uc_with(churn, replay={"seed": 43}))
    assert (reseeded["day"] != first["day"]).mean() > 0.5


def test_replay_dates_run_from_the_history_day_to_the_last_day(churn):
    dates = replay.replay_dates(churn)
    assert dates[0] == date(2025, 12, 31) and dates[1] == date(2026, 1, 1)
    assert len(dates) == churn.raw["replay"]["days"] + 1
    assert replay.day_index(churn, dates[-1]) == churn.raw["replay"]["days"] - 1


def test_history_day_delivers_its_labels_the_same_day(churn, store):
    info = replay.publish(store, churn, day(churn, -1))
    batch = read_csv(store, info["batch_key"])
    labels = read_csv(store, info["labels_key"])
    assert list(batch.columns) == [churn.id_column, *churn.feature_columns]  # never the target
    assert info["rows"] == len(batch) == info["labels"] == len(labels)
    assert set(labels["customer_id"]) == set(batch["customer_id"])
    assert set(labels["churn"]) == {"No", "Yes"}


def test_labels_of_a_day_arrive_label_delay_days_later(churn, store):
    delay = churn.raw["replay"]["label_delay_days"]
    batch_day = replay.publish(store, churn, day(churn, 3))
    assert batch_day["labels"] == 0 and batch_day["labels_key"] is None  # day 3 - 7 has no batch
    ids = set(read_csv(store, batch_day["batch_key"])["customer_id"])
    later = replay.publish(store, churn, day(churn, 3 + delay))
    assert set(read_csv(store, later["labels_key"])["customer_id"]) == ids
    truth = replay.load_snapshot(churn).set_index("customer_id")["churn"]
    delivered = read_csv(store, later["labels_key"]).set_index("customer_id")["churn"]
    assert (delivered == truth.loc[delivered.index]).all()


def test_labels_keep_arriving_after_the_last_batch(churn, store):
    days = churn.raw["replay"]["days"]
    info = replay.publish(store, churn, day(churn, days + 2))
    assert info["batch_key"] is None and info["rows"] == 0
    assert info["labels"] > 0  # rows of day days-5 get their labels after the window


def test_drift_changes_batches_from_start_day_only(churn, tmp_path):
    start = churn.raw["replay"]["drift"]["start_day"]
    plain, drifted = LocalStore(tmp_path / "plain"), LocalStore(tmp_path / "drift")
    before = day(churn, start - 1)
    a, b = replay.publish(plain, churn, before, drift=False), replay.publish(drifted, churn, before, drift=True)
    assert not b["drift"]
    assert plain.read_bytes(a["batch_key"]) == drifted.read_bytes(b["batch_key"])

    frames = {False: [], True: []}
    for k in range(start, start + 4):
        for flag, st in ((False, plain), (True, drifted)):
            info = replay.publish(st, churn, day(churn, k), drift=flag)
            assert info["drift"] is flag
            frames[flag].append(read_csv(st, info["batch_key"]))
    off, on = pd.concat(frames[False]), pd.concat(frames[True])
    assert (on["customer_id"].to_numpy() == off["customer_id"].to_numpy()).all()
    ratio = on["monthly_charges"].to_numpy() / off["monthly_charges"].to_numpy()
    assert abs(ratio - 1.35).max() < 0.01  # numeric_scale, rounded to cents
    assert (on["tenure"].to_numpy() == off["tenure"].to_numpy()).all()  # unlisted columns untouched
    share_on = (on["contract"] == "Month-to-month").mean()
    share_off = (off["contract"] == "Month-to-month").mean()
    assert share_on > 0.75 and share_off < 0.7  # category_mix 0.85 vs the real ~0.55
    assert set(on["contract"]) <= set(churn.columns["contract"]["values"])


def test_drift_none_follows_the_config_switch_and_leaves_labels_alone(churn, tmp_path):
    start = churn.raw["replay"]["drift"]["start_day"]
    switched = uc_with(churn, replay={"drift": {**churn.raw["replay"]["drift"], "enabled": True}})
    k = start + churn.raw["replay"]["label_delay_days"]
    plain, drifted = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    a = replay.publish(plain, churn, day(churn, k))
    b = replay.publish(drifted, switched, day(churn, k))
    assert (a["drift"], b["drift"]) == (False, True)
    assert plain.read_bytes(a["labels_key"]) == drifted.read_bytes(b["labels_key"])
    assert plain.read_bytes(a["batch_key"]) != drifted.read_bytes(b["batch_key"])


def test_publish_overwrites_and_is_idempotent(churn, store):
    target = day(churn, 5)
    first = replay.publish(store, churn, target)
    original = store.read_bytes(first["batch_key"])
    store.write_bytes(first["batch_key"], b"customer_id\nSTALE\n")
    assert replay.publish(store, churn, target) == first
    assert store.read_bytes(first["batch_key"]) == original
    # a day outside the window removes a stale batch file instead of leaving it for acquisition
    outside = day(churn, -5)
    store.write_bytes(layout.landing_batch_key(churn, outside), b"stale")
    assert replay.publish(store, churn, outside)["batch_key"] is None
    assert not store.exists(layout.landing_batch_key(churn, outside))


def test_checksum_mismatch_is_a_clear_error(churn):
    broken = uc_with(churn, dataset={"sha256": "0" * 64})
    with pytest.raises(replay.SnapshotChecksumError, match="sha256") as err:
        replay.load_snapshot(broken)
    assert "wa_churn.csv.gz" in str(err.value) and churn.raw["dataset"]["sha256"] in str(err.value)
