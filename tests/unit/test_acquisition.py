"""Acquisition from the three source kinds (local landing, S3 over HTTP, SQL) and label ingestion."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from include.lifecycle import layout
from include.lifecycle.config import ConfigError, load_use_case
from include.lifecycle.data import acquisition, replay, sources
from include.lifecycle.store import LocalStore

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


@pytest.fixture(scope="module")
def churn():
    return load_use_case("churn")


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def day(uc: Any, k: int) -> date:
    return replay.start_date(uc) + timedelta(days=k)


def test_acquire_local_copies_the_bytes_untouched_and_overwrites_on_rerun(churn, store):
    d = day(churn, 0)
    info = replay.publish(store, churn, d)
    source = sources.LocalLandingSource(store)
    got = acquisition.acquire(store, churn, d, source)
    assert got["key"] == "incoming/churn/date=2026-01-01/batch.csv"
    assert store.read_bytes(got["key"]) == store.read_bytes(info["batch_key"])
    assert got["bytes"] == len(store.read_bytes(info["batch_key"]))
    store.write_bytes(info["batch_key"], b"customer_id\nC1\n")  # the source re-delivered
    again = acquisition.acquire(store, churn, d, source)
    assert store.read_bytes(again["key"]) == b"customer_id\nC1\n" and again["sha256"] != got["sha256"]


def test_missing_batch_names_use_case_date_and_location(churn, store):
    with pytest.raises(sources.BatchMissingError) as err:
        acquisition.acquire(store, churn, "2026-01-04", sources.LocalLandingSource(store))
    message = str(err.value)
    assert "'churn'" in message and "2026-01-04" in message and "landing/churn/batches/2026-01-04.csv" in message
    assert not store.exists("incoming/churn/date=2026-01-04/batch.csv")


def test_ingest_labels_writes_validated_labels_and_nothing_on_days_without(churn, store):
    source = sources.LocalLandingSource(store)
    history = replay.publish(store, churn, day(churn, -1))
    got = acquisition.ingest_labels(store, churn, day(churn, -1), source)
    assert got["rows"] == history["labels"] and got["quarantined"] == 0
    labels = store.read_frame(got["key"])
    assert list(labels.columns) == ["customer_id", "churn"] and set(labels["churn"]) == {"No", "Yes"}
    assert labels["customer_id"].is_unique

    replay.publish(store, churn, day(churn, 2))  # day 2 receives no labels (2 - 7 < -1)
    none = acquisition.ingest_labels(store, churn, day(churn, 2), source)
    assert none["rows"] == 0 and none["key"] is None
    assert store.list("labels/churn/date=2026-01-03/") == []


def test_bad_label_rows_are_quarantined_with_reasons(churn, store):
    d = day(churn, 9)
    text = (
        "customer_id,churn\nC00001,Yes\nC00002,No\nC00003,Maybe\n,Yes\nC00005,No\nC00005,Yes\nC00007,\n"
        "C00008,No,extra\n"
    )
    store.write_bytes(layout.landing_labels_key(churn, d), text.encode())
    got = acquisition.ingest_labels(store, churn, d, sources.LocalLandingSource(store))
    assert (got["received"], got["rows"], got["quarantined"]) == (8, 2, 6)
    assert got["received"] == got["rows"] + got["quarantined"]
    joined = " | ".join(got["reasons"])
    for problem in ("null id", "duplicate id", "null label", "not in ['No', 'Yes']", "wrong number of fields"):
        assert problem in joined
    assert store.read_frame(got["key"])["customer_id"].tolist() == ["C00001", "C00002"]
    rows = store.read_frame("quarantine/churn/labels/date=2026-01-10/rows.parquet")
    assert len(rows) == 6 and rows["_reasons"].str.len().gt(0).all()
    assert "'Maybe' not in" in rows.loc[rows["customer_id"] == "C00003", "_reasons"].iloc[0]
    # the source fixes its file: the rerun replaces both outputs
    store.write_bytes(layout.landing_labels_key(churn, d), b"customer_id,churn\nC00001,Yes\n")
    fixed = acquisition.ingest_labels(store, churn, d, sources.LocalLandingSource(store))
    assert fixed["rows"] == 1 and fixed["quarantined"] == 0
    assert store.list("quarantine/churn/labels/date=2026-01-10/") == []


# -- S3 over HTTP: a real moto server process ----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    if not MOTO_SERVER.exists():
        pytest.fail(f"{MOTO_SERVER} not installed: run `make setup` (moto[server] is in requirements.lock)")
    port = _free_port()
    proc = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: teardown stops it and any child
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start on port {port}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def s3_client(s3_endpoint):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def test_acquire_from_s3_over_http(churn, store, s3_client):
    s3_client.create_bucket(Bucket="source-system")
    d = day(churn, 1)
    info = replay.publish(store, churn, d)
    body = store.read_bytes(info["batch_key"])
    s3_client.put_object(Bucket="source-system", Key="feeds/churn/batches/2026-01-02.csv", Body=body)
    s3_client.put_object(Bucket="source-system", Key="feeds/churn/labels/2026-01-02.csv", Body=b"customer_id,churn\n")
    source = sources.S3Source(s3_client, "source-system", "feeds/churn")
    got = acquisition.acquire(store, churn, d, source)
    assert store.read_bytes(got["key"]) == body
    assert got["source"] == "s3://source-system/feeds/churn/batches/2026-01-02.csv"
    assert source.fetch_labels(churn, d) == b"customer_id,churn\n"
    with pytest.raises(sources.BatchMissingError, match=r"s3://source-system/feeds/churn/batches/2026-01-03\.csv"):
        acquisition.acquire(store, churn, day(churn, 2), source)
    assert source.fetch_labels(churn, day(churn, 2)) is None


def test_source_from_config_picks_the_kind(churn, store, s3_client):
    assert isinstance(sources.source_from_config(store, churn), sources.LocalLandingSource)
    raw = copy.deepcopy(churn.raw)
    raw["source"].update(kind="s3", bucket="b")
    as_s3 = dataclasses.replace(churn, raw=raw)
    src = sources.source_from_config(store, as_s3, s3_client=s3_client)
    assert src.describe(churn, day(churn, 0)) == "s3://b/landing/churn/batches/2026-01-01.csv"
    with pytest.raises(ConfigError, match="S3 client"):
        sources.source_from_config(store, as_s3)
    raw["source"]["kind"] = "ftp"
    with pytest.raises(ConfigError, match="local, s3 or sql"):
        sources.source_from_config(store, dataclasses.replace(churn, raw=raw))


# -- SQL: sqlite3 --------------------------------------------------------------------------------------
def test_acquire_from_sql_renders_rows_to_csv_that_validates(churn, store, tmp_path):
    from include.lifecycle.data.validation import validate_batch

    db = tmp_path / "source.db"
    published = {}
    with sqlite3.connect(db) as conn:
        for k in (0, 1):
            info = replay.publish(store, churn, day(churn, k))
            frame = pd.read_csv(io.BytesIO(store.read_bytes(info["batch_key"])), dtype={"customer_id": str})
            published[k] = frame
            frame.assign(batch_date=day(churn, k).isoformat()).to_sql(
                "churn_batches", conn, if_exists="append", index=False
            )
        labels = pd.DataFrame({"customer_id": ["C00001"], "churn": ["Yes"], "batch_date": ["2026-01-02"]})
        labels.to_sql("churn_batches_labels", conn, index=False)
    source = sources.SqlSource(lambda: sqlite3.connect(db), "churn_batches")
    got = acquisition.acquire(store, churn, day(churn, 1), source)
    header = store.read_bytes(got["key"]).split(b"\n", 1)[0].decode()
    assert header.split(",") == [churn.id_column, *churn.feature_columns]  # batch_date dropped
    result = validate_batch(store, churn, day(churn, 1))
    assert result["status"] == "accepted" and result["accepted"] == len(published[1])
    accepted = store.read_frame(result["accepted_key"])
    pd.testing.assert_frame_equal(accepted, published[1], check_dtype=False)  # same values as the replay
    assert source.fetch_labels(churn, day(churn, 1)) == b"customer_id,churn\nC00001,Yes\n"
    with pytest.raises(sources.BatchMissingError, match="sql table churn_batches where batch_date = '2026-01-05'"):
        acquisition.acquire(store, churn, day(churn, 4), source)
    with pytest.raises(ConfigError, match="identifier"):
        sources.SqlSource(lambda: sqlite3.connect(db), "feed; DROP TABLE feed")


@pytest.mark.parametrize(("delivered", "severity", "words"), [
    (b"", "critical", "empty file"),
    (b"customer_id,churn\n", "critical", "header only"),
    (b"\x1f\x8b\x08garbage", "critical", "gzip"),
    (b"customer_id,churn\nC1,Maybe\nC2,Perhaps\n", "critical", "every label of the day"),
    ("customer_id,churn\nC1,Ja\xe9\n".encode("latin-1"), "critical", "UTF-8"),
    (b"customer_id,churn\nC1,Yes\nC2,Maybe\n", "warning", "1 of 2 label rows"),
])
def test_every_rejected_label_delivery_raises_an_alert(churn, store, delivered, severity, words):
    """Empty, header-only, unreadable, all-rejected: each alerts (no row could be counted in the first three)."""
    d = day(churn, 9)
    store.write_bytes(layout.landing_labels_key(churn, d), delivered)
    alert = acquisition.labels_alert(acquisition.ingest_labels(store, churn, d, sources.LocalLandingSource(store)))
    assert alert and alert["severity"] == severity and words in alert["summary"], alert


def test_clean_labels_or_no_delivery_raise_no_alert(churn, store):
    d = day(churn, 9)
    assert acquisition.labels_alert(acquisition.ingest_labels(store, churn, d, sources.LocalLandingSource(store))) is None
    store.write_bytes(layout.landing_labels_key(churn, d), b"customer_id,churn\nC1,Yes\n")
    assert acquisition.labels_alert(acquisition.ingest_labels(store, churn, d, sources.LocalLandingSource(store))) is None
