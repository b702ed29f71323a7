"""The retraining policy on its boundaries, with registered versions that need no training (bytes stand in).

Every fixture here is function-scoped, so a mutation tool sees which test exercises which check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from include.lifecycle.layout import labels_key, retrain_decisions_prefix
from include.lifecycle.model.registry import parse_time, registry_for
from include.lifecycle.store import LocalStore
from include.lifecycle.watch.retraining import (
    DEFAULT_COOLDOWN_HOURS,
    DEFAULT_MIN_NEW_LABELLED_ROWS,
    decide_retrain,
    decision_history,
    last_training_at,
    new_labelled_rows,
)

BREACH = {"date": "2026-01-12", "breaches": ["data_drift", "prediction_drift"], "result_key": "monitoring/r.json",
          "breach_details": [{"kind": "data_drift", "detail": "4 of 19 columns drifted."},
                             {"kind": "prediction_drift", "detail": "PSI 0.18 >= 0.1."}]}


@pytest.fixture
def uc(churn_uc, override):
    return override(churn_uc, **{"retraining.cooldown_hours": 10, "retraining.min_new_labelled_rows": 50})


def register(store, uc, as_of: str | None) -> int:
    manifest = registry_for(store, uc).register(
        b"model bytes " + str(as_of).encode(), evaluation={}, comparison={"blessed": True}, qa={"passed": True},
        lineage={"as_of": as_of} if as_of else {})
    return manifest["version"]


def labels(store, uc, day: str, rows: int) -> None:
    store.write_frame(labels_key(uc, day), pd.DataFrame({uc.id_column: [f"c{i}" for i in range(rows)],
                                                         uc.target: ["Yes"] * rows}))


def decide(store, uc, now, result=BREACH, pending=False, **kwargs):
    return decide_retrain(store, uc, now, result, training_pending=pending, **kwargs)


def test_no_training_yet_passes_the_cooldown(store, uc) -> None:
    labels(store, uc, "2026-01-05", 60)
    out = decide(store, uc, "2026-01-12T08:00:00Z")
    cooldown = out["checks"]["cooldown"]
    assert cooldown == {"passed": True, "hours_since_last_training": None, "last_training_at": None,
                        "cooldown_hours": 10.0, "next_allowed_at": None}
    assert "Cooldown passed: no training recorded yet." in out["reasons"]
    assert out["version"] is None and out["retrain"] is True
    assert out["checks"]["new_labels"]["after"] is None  # no version: every delivered label counts
    assert "Enough new labelled rows: 60 delivered in total >= 50." in out["reasons"]


def test_cooldown_ends_exactly_at_last_training_plus_cooldown(store, uc) -> None:
    register(store, uc, "2026-01-02")
    labels(store, uc, "2026-01-05", 60)
    last = last_training_at(registry_for(store, uc))
    at_end = decide(store, uc, last + timedelta(hours=10))
    assert at_end["retrain"] is True and at_end["checks"]["cooldown"]["passed"] is True
    assert at_end["checks"]["cooldown"]["hours_since_last_training"] == 10.0
    assert "Cooldown passed: last training 10.0 h ago >= 10 h." in at_end["reasons"]
    later = decide(store, uc, last + timedelta(hours=10, minutes=30))
    assert later["checks"]["cooldown"]["hours_since_last_training"] == 10.5
    just_before = decide(store, uc, last + timedelta(hours=10) - timedelta(seconds=1))
    assert just_before["retrain"] is False and just_before["blocked_by"] == ["cooldown"]
    cooldown = just_before["checks"]["cooldown"]
    assert cooldown["next_allowed_at"] == (last + timedelta(hours=10)).isoformat()
    assert cooldown["last_training_at"] == last.isoformat()
    assert cooldown["hours_since_last_training"] == round(10 - 1 / 3600, 3)
    assert (f"Cooldown not passed: last training 10.0 h ago < 10 h (next allowed at "
            f"{(last + timedelta(hours=10)).isoformat()}).") in just_before["reasons"]


def test_minimum_new_labels_is_reached_exactly_at_the_minimum(store, uc) -> None:
    register(store, uc, "2026-01-02")
    labels(store, uc, "2026-01-04", 30)
    labels(store, uc, "2026-01-06", 20)
    now = last_training_at(registry_for(store, uc)) + timedelta(days=400)
    out = decide(store, uc, now, result={**BREACH, "version": 1})
    assert out["checks"]["new_labels"]["rows"] == 50 and out["checks"]["new_labels"]["passed"] is True
    assert out["checks"]["new_labels"]["partitions"] == 2 and out["checks"]["new_labels"]["minimum"] == 50
    assert "Enough new labelled rows: 50 delivered after v1's training cut-off 2026-01-02 >= 50." in out["reasons"]
    stricter = decide(store, _with(uc, min_new_labelled_rows=51), now, result={**BREACH, "version": 1})
    assert stricter["blocked_by"] == ["new_labels"]
    assert "Not enough new labelled rows: 50 delivered after v1's training cut-off 2026-01-02 < 51." in \
        stricter["reasons"]


def _with(uc, **policy):
    from tests.unit.conftest import override

    return override(uc, **{f"retraining.{k}": v for k, v in policy.items()})


def test_labels_on_the_cut_off_day_do_not_count_and_labels_up_to_today_do(store, uc) -> None:
    register(store, uc, "2026-01-02")
    labels(store, uc, "2026-01-02", 100)  # delivered on the cut-off: the model already learnt from them
    labels(store, uc, "2026-01-03", 7)
    labels(store, uc, "2026-01-10", 11)  # delivered today
    labels(store, uc, "2026-01-11", 1000)  # not delivered yet
    out = decide(store, uc, datetime(2026, 1, 10, 23, 59, tzinfo=UTC), result={**BREACH, "version": 1})
    fresh = out["checks"]["new_labels"]
    assert fresh["rows"] == 18 and fresh["partitions"] == 2
    assert fresh["after"] == "2026-01-02" and fresh["until"] == "2026-01-10"


def test_new_labelled_rows_lists_partitions_in_date_order_and_ignores_other_files(store, uc) -> None:
    labels(store, uc, "2026-01-09", 3)
    labels(store, uc, "2026-01-04", 2)
    store.write_bytes(labels_key(uc, "2026-01-05").replace("labels.parquet", "notes.txt"), b"not labels")
    out = new_labelled_rows(store, uc, None, datetime(2026, 1, 9).date())
    assert out["rows"] == 5
    assert [p["date"] for p in out["partitions"]] == ["2026-01-04", "2026-01-09"]
    assert [p["rows"] for p in out["partitions"]] == [2, 3]
    assert out["partitions"][0]["key"] == labels_key(uc, "2026-01-04")


def test_the_monitored_version_sets_the_cut_off_not_the_champion(store, uc) -> None:
    register(store, uc, "2026-01-02")
    register(store, uc, "2026-01-08")
    registry_for(store, uc).promote(2, actor="sme")
    labels(store, uc, "2026-01-05", 40)
    labels(store, uc, "2026-01-09", 15)
    now = last_training_at(registry_for(store, uc)) + timedelta(days=400)
    monitored_v1 = decide(store, uc, now, result={**BREACH, "version": 1})
    assert monitored_v1["version"] == 1 and monitored_v1["checks"]["new_labels"]["rows"] == 55
    assert monitored_v1["checks"]["new_labels"]["after"] == "2026-01-02"
    no_version = decide(store, uc, now)  # the champion (v2) was monitored
    assert no_version["version"] == 2 and no_version["checks"]["new_labels"]["rows"] == 15
    assert no_version["blocked_by"] == ["new_labels"]


def test_a_version_without_a_cut_off_counts_every_label(store, uc) -> None:
    register(store, uc, None)
    labels(store, uc, "2026-01-01", 50)
    now = last_training_at(registry_for(store, uc)) + timedelta(days=400)
    out = decide(store, uc, now, result={**BREACH, "version": 1})
    assert out["checks"]["new_labels"]["rows"] == 50 and out["checks"]["new_labels"]["after"] is None


def test_the_latest_registration_is_the_last_training(store, uc) -> None:
    register(store, uc, "2026-01-02")
    register(store, uc, "2026-01-03")
    registry = registry_for(store, uc)
    registered = [parse_time(e["at"]) for e in registry.ledger() if e["event"] == "registered"]
    assert last_training_at(registry) == max(registered) == registered[-1]
    assert last_training_at(registry) > registered[0]


def test_without_ledger_the_manifests_tell_the_last_training(store, uc) -> None:
    register(store, uc, "2026-01-02")
    register(store, uc, "2026-01-03")
    registry = registry_for(store, uc)
    store.delete_prefix(f"{registry.prefix}/ledger/")
    created = [parse_time(registry.manifest(v)["created_at"]) for v in registry.versions()]
    assert last_training_at(registry) == max(created) == created[1]


def test_nothing_registered_has_no_last_training(store, uc) -> None:
    assert last_training_at(registry_for(store, uc)) is None


def test_policy_defaults_when_the_yaml_sets_none(store, churn_uc, override) -> None:
    uc = override(churn_uc, retraining={})
    assert (DEFAULT_COOLDOWN_HOURS, DEFAULT_MIN_NEW_LABELLED_ROWS) == (24.0, 300)
    register(store, uc, "2026-01-02")
    labels(store, uc, "2026-01-05", 300)
    last = last_training_at(registry_for(store, uc))
    out = decide(store, uc, last + timedelta(hours=24))
    assert out["retrain"] is True
    assert out["checks"]["cooldown"]["cooldown_hours"] == 24.0 and out["checks"]["new_labels"]["minimum"] == 300
    early = decide(store, uc, last + timedelta(hours=23, minutes=59))
    assert early["blocked_by"] == ["cooldown"]


def test_a_pending_training_blocks_and_says_so(store, uc) -> None:
    labels(store, uc, "2026-01-05", 60)
    out = decide(store, uc, "2026-01-12T08:00:00Z", pending=True)
    assert out["blocked_by"] == ["training_pending"]
    assert out["checks"]["training_pending"] == {"passed": False, "training_pending": True}
    assert out["reasons"][-1] == "A training run is already pending: it will see the same data; not requesting another."
    free = decide(store, uc, "2026-01-12T08:00:00Z")
    assert free["checks"]["training_pending"] == {"passed": True, "training_pending": False}
    assert free["reasons"][-1] == "No training is waiting."


def test_breaches_are_named_with_their_details_and_none_blocks(store, uc) -> None:
    labels(store, uc, "2026-01-05", 60)
    out = decide(store, uc, "2026-01-12T08:00:00Z", result={**BREACH, "breach_details": [BREACH["breach_details"][0]]})
    assert out["reasons"][:2] == ["Breach data_drift: 4 of 19 columns drifted.",
                                  "Breach prediction_drift: see the monitoring result"]
    assert out["checks"]["breach"] == {"passed": True, "breaches": ["data_drift", "prediction_drift"]}
    quiet = decide(store, uc, "2026-01-12T08:00:00Z", result={"date": "2026-01-12", "breaches": []})
    assert quiet["blocked_by"] == ["breach"] and quiet["breaches"] == []
    assert quiet["reasons"][0] == "No breach in the monitoring of 2026-01-12: nothing to retrain for."


def test_the_record_says_who_when_and_what(store, uc) -> None:
    labels(store, uc, "2026-01-05", 60)
    out = decide(store, uc, "2026-01-12T08:00:00.000123+01:00", actor="sme_manual", run_id="run-7")
    assert out["decided_at"] == "2026-01-12T07:00:00.000123+00:00"
    assert (out["use_case"], out["date"], out["actor"], out["run_id"]) == (uc.name, "2026-01-12", "sme_manual", "run-7")
    assert out["monitoring_result_key"] == "monitoring/r.json"
    assert out["checks"]["new_labels"]["until"] == "2026-01-12"
    key = out["decision_key"]
    assert key.startswith(f"{retrain_decisions_prefix(uc)}/20260112T070000000123Z-") and key.endswith(".json")
    stored = store.read_json(key)
    assert stored["key"] == key and stored["retrain"] is True and stored["reasons"] == out["reasons"]
    default = decide(store, uc, "2026-01-13T08:00:00Z")
    assert default["actor"] == "model_monitoring" and default["run_id"] is None


def test_history_is_oldest_first_and_only_decisions(store, uc) -> None:
    register(store, uc, "2026-01-02")  # the registry's JSON objects are not decisions
    store.write_bytes("monitoring/other/retrain_decisions/x.json", b"{}")
    labels(store, uc, "2026-01-05", 60)
    decide(store, uc, "2026-01-12T08:00:00Z")
    decide(store, uc, "2026-01-13T08:00:00Z", pending=True)
    store.write_bytes(f"{retrain_decisions_prefix(uc)}/README.txt", b"not a decision")
    history = decision_history(store, uc)
    assert [d["decided_at"][:10] for d in history] == ["2026-01-12", "2026-01-13"]
    assert [d["retrain"] for d in history] == [False, False]  # v1 was registered just now: cooldown


def test_decisions_are_stamped_in_utc_whatever_the_machine_timezone(store, uc, monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        out = decide(store, uc, "2026-01-12T08:00:00+01:00")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert out["decided_at"] == "2026-01-12T07:00:00+00:00"
    assert out["decision_key"].split("/")[-1].startswith("20260112T070000000000Z-")


def test_a_cut_off_given_as_a_timestamp_counts_from_its_day(store, uc) -> None:
    register(store, uc, "2026-01-02T23:30:00+00:00")
    labels(store, uc, "2026-01-02", 100)
    labels(store, uc, "2026-01-03", 60)
    now = last_training_at(registry_for(store, uc)) + timedelta(days=400)
    out = decide(store, uc, now, result={**BREACH, "version": 1})
    assert out["checks"]["new_labels"]["after"] == "2026-01-02" and out["checks"]["new_labels"]["rows"] == 60


class RemoteLikeStore(LocalStore):
    """A store that hands out no local file, as S3 does: objects are only read as bytes."""

    def local_path(self, key):
        return None


class BusyStore(LocalStore):
    """A store where another writer always wins the conditional create."""

    def create(self, key, data):
        from include.lifecycle.store import ConflictError

        raise ConflictError(f"{key} exists")


def test_label_rows_are_counted_from_bytes_when_no_local_file_exists(tmp_path, uc) -> None:
    store = RemoteLikeStore(tmp_path / "remote")
    labels(store, uc, "2026-01-04", 7)
    assert new_labelled_rows(store, uc, None, datetime(2026, 1, 5).date())["rows"] == 7


def test_other_use_cases_labels_do_not_count(store, uc) -> None:
    import dataclasses

    other = dataclasses.replace(uc, name="credit")
    labels(store, other, "2026-01-04", 500)
    assert labels_key(other, "2026-01-04") != labels_key(uc, "2026-01-04")
    labels(store, uc, "2026-01-04", 5)
    assert new_labelled_rows(store, uc, None, datetime(2026, 1, 5).date())["rows"] == 5


def test_a_decision_that_cannot_be_recorded_says_where(tmp_path, uc) -> None:
    from include.lifecycle.store import ConflictError

    with pytest.raises(ConflictError) as exc:
        decide(BusyStore(tmp_path / "busy"), uc, "2026-01-12T08:00:00Z")
    assert str(exc.value).startswith(f"{retrain_decisions_prefix(uc)}: gave up after 5 concurrent updates")


def test_decision_keys_are_unique_per_decision(store, uc) -> None:
    import re

    out = decide(store, uc, "2026-01-12T08:00:00Z")
    assert re.fullmatch(rf"{retrain_decisions_prefix(uc)}/20260112T080000000000Z-[0-9a-f]{{12}}\.json",
                        out["decision_key"])
