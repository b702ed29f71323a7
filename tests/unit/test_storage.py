"""The artifact store's contract on the local backend (the S3 backend is exercised against a real S3 server
in test_registry.py, test_acquisition.py and the production integration test)."""

from __future__ import annotations

import threading

import pytest

from include.lifecycle.layout import partition_dates
from include.lifecycle.store import ConflictError, StoreError, open_store


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / "store"))


def test_write_read_list_delete(store):
    store.write_json("a/date=2026-01-02/x.json", {"n": 1})
    store.write_text("a/date=2026-01-01/y.txt", "hi")
    assert store.read_json("a/date=2026-01-02/x.json") == {"n": 1}
    assert store.list("a/") == ["a/date=2026-01-01/y.txt", "a/date=2026-01-02/x.json"]
    assert store.delete_prefix("a/date=2026-01-01") == 1
    assert store.list("a/") == ["a/date=2026-01-02/x.json"]
    with pytest.raises(StoreError, match="no artifact at"):
        store.read_bytes("a/missing")


def test_keys_cannot_escape_the_root(store):
    with pytest.raises(StoreError, match="escapes the store root"):
        store.write_text("../outside.txt", "no")


def test_create_only_once_even_under_a_race(store):
    winners, losers = [], []

    def attempt(i: int) -> None:
        try:
            store.create("registry/v1.json", str(i).encode())
            winners.append(i)
        except ConflictError:
            losers.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 7
    assert store.read_text("registry/v1.json") == str(winners[0])


def test_replace_is_compare_and_swap(store):
    store.write_text("alias.json", "v1")
    tag = store.version_tag("alias.json")
    store.replace("alias.json", b"v2", tag)
    with pytest.raises(ConflictError):
        store.replace("alias.json", b"v3", tag)  # stale tag: somebody moved it in between
    assert store.read_text("alias.json") == "v2"
    with pytest.raises(ConflictError):
        store.replace("alias.json", b"v4", None)  # None means "must not exist yet"


def test_atomic_write_leaves_no_temp_files(store):
    store.write_bytes("p/data.bin", b"x" * 1000)
    store.write_bytes("p/data.bin", b"y" * 10)
    assert store.list("p/") == ["p/data.bin"] and store.read_bytes("p/data.bin") == b"y" * 10
    assert not [p for p in store.local_path("p").iterdir() if p.name.startswith(".") and p.suffix == ".tmp"]


def test_partition_dates(store):
    for day in ("2026-01-03", "2026-01-01"):
        store.write_text(f"predictions/churn/date={day}/predictions.parquet", "x")
    store.write_text("predictions/churn/date=2026-01-02/other.txt", "x")
    assert partition_dates(store, "predictions", "churn") == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert partition_dates(store, "predictions", "churn", "predictions.parquet") == ["2026-01-01", "2026-01-03"]


def test_artifacts_are_readable_by_other_accounts_whatever_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o077)
    try:
        store = open_store(str(tmp_path / "store"))
        store.write_json("monitoring/churn/timeseries.csv", {"a": 1})
        store.create("models/churn/ledger/00000001-x.json", b"{}")
    finally:
        os.umask(old)
    for key in ("monitoring/churn/timeseries.csv", "models/churn/ledger/00000001-x.json"):
        path = store.local_path(key)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
