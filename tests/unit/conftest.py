"""Fixtures for the features / training / evaluation / packaging / registry tests.

Frames come straight from the bundled CSV (pandas.read_csv), not from the acquisition code, so these
tests exercise the modeling library alone. Training uses a test-only config override with one-point
grids and 2-fold CV so the whole set stays fast on a 2-core machine.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from include.lifecycle.config import PROJECT_ROOT, UseCase, load_use_case
from include.lifecycle.store import ArtifactStore, LocalStore, S3Store

START = date(2026, 1, 1)


def override(uc: UseCase, **changes: Any) -> UseCase:
    """A copy of ``uc`` with top-level YAML keys replaced (dotted keys reach into sections)."""
    raw = copy.deepcopy(uc.raw)
    for dotted, value in changes.items():
        node = raw
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return dataclasses.replace(uc, raw=raw, sha256=digest)


@pytest.fixture(name="override", scope="session")
def override_fixture() -> Callable[..., UseCase]:
    return override


@pytest.fixture(scope="session")
def churn_uc() -> UseCase:
    return load_use_case("churn")


@pytest.fixture(scope="session")
def small_uc(churn_uc: UseCase) -> UseCase:
    """The churn use case with tiny searches: same columns, thresholds and costs."""
    return override(
        churn_uc,
        candidates=[
            {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
             "params": {"max_iter": 500}, "search": {"C": [1.0]}},
            {"name": "hgb", "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
             "params": {"max_iter": 60}, "search": {"max_depth": [3], "learning_rate": [0.1]}},
        ],
        search_cv_folds=2,
        **{"evaluation.bootstrap": {"samples": 60, "confidence": 0.95, "seed": 7}},
    )


@pytest.fixture(scope="session")
def churn_csv(churn_uc: UseCase) -> pd.DataFrame:
    return pd.read_csv(churn_uc.data_file)


@pytest.fixture(scope="session")
def sample(churn_csv: pd.DataFrame) -> pd.DataFrame:
    """1,600 real rows, as raw as the CSV holds them (target still "Yes"/"No")."""
    return churn_csv.sample(n=1600, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="session")
def split(sample: pd.DataFrame, small_uc: UseCase) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cleaned train / holdout frames with a 0/1 target, split the way assemble() splits."""
    from include.lifecycle.model.features import clean
    from include.lifecycle.model.training import holdout_mask, target_vector

    frame = clean(sample, small_uc)
    frame[small_uc.target] = target_vector(frame, small_uc)
    mask = holdout_mask(frame[small_uc.id_column], 0.25, small_uc.name)
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)


@pytest.fixture(scope="session")
def fitted(split: tuple[pd.DataFrame, pd.DataFrame], small_uc: UseCase) -> dict[str, Any]:
    """Both small candidates trained once per session: name -> (pipeline, record)."""
    from include.lifecycle.model.training import candidate_grid, train_candidate

    train, _ = split
    return {spec["name"]: train_candidate(train, small_uc, spec) for spec in candidate_grid(small_uc)}


@pytest.fixture(scope="session")
def evals(split: tuple[pd.DataFrame, pd.DataFrame], small_uc: UseCase, fitted: dict[str, Any]) -> dict[str, Any]:
    """Holdout evaluation of both small candidates, computed once: name -> evaluate() output."""
    from include.lifecycle.model.evaluation import evaluate

    _, holdout = split
    return {name: evaluate(model, holdout, small_uc) for name, (model, _) in fitted.items()}


def write_lake(store: ArtifactStore, uc: UseCase, frame: pd.DataFrame, days: int, label_delay: int = 3,
               start: date = START) -> dict[str, Any]:
    """Features partitions for ``days`` days and label partitions delivered ``label_delay`` days later."""
    from include.lifecycle.model.features import clean

    assignment = np.random.default_rng(0).integers(0, days, len(frame))
    for d in range(days):
        part = frame[assignment == d]
        day = start + timedelta(days=d)
        store.write_frame(f"features/{uc.name}/date={day}/features.parquet",
                          clean(part.drop(columns=[uc.target]), uc))
        labels = part[[uc.id_column, uc.target]].sample(frac=1.0, random_state=d)  # delivered in any order
        store.write_frame(f"labels/{uc.name}/date={day + timedelta(days=label_delay)}/labels.parquet", labels)
    return {"assignment": assignment, "start": start, "days": days, "label_delay": label_delay}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "artifacts")


@pytest.fixture
def make_lake() -> Callable[..., dict[str, Any]]:
    return write_lake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto S3 server process on a free loopback port, killed at teardown."""
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        exe = PROJECT_ROOT / ".venv" / "bin" / "moto_server"
    port = _free_port()
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on port {port}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_store(moto_endpoint: str, request: pytest.FixtureRequest) -> S3Store:
    import boto3

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                          region_name="us-east-1")
    bucket = f"registry-{abs(hash(request.node.nodeid)) % 10**8}"
    client.create_bucket(Bucket=bucket)
    return S3Store(f"s3://{bucket}/lifecycle", client=client)


@pytest.fixture
def vectorised_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch decisions judged with the vectorised suite in place of Great Expectations (~60 ms, not ~1 s a batch).

    The two engines give the same results on every hostile batch (test_validation_engines.py), and GX itself
    decides through validation.validate_batch in test_validation.py and test_hostile_batches.py; what is
    under test here is what decide.py makes of the results.
    """
    from include.lifecycle.data import contract, decide

    monkeypatch.setattr(decide, "run_suite", contract.evaluate_suite)
