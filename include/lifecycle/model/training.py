"""Training set assembly and candidate training.

Labels arrive days after the features they describe, so a training set is "every features partition
up to ``as_of`` joined by id with every label delivered up to ``as_of``". The holdout is chosen by a
hash of the id, not by a random draw: an id lands in the holdout in every run, so yesterday's
training rows never become today's test rows, and champion and challenger are judged on one holdout.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from include.lifecycle.config import PROJECT_ROOT, ConfigError, UseCase
from include.lifecycle.layout import as_date, partition_root
from include.lifecycle.model.features import build_preprocessor, clean_partition
from include.lifecycle.store import ArtifactStore, sha256_bytes

log = logging.getLogger(__name__)

DEFAULT_MIN_LABELLED_ROWS = 200
_DATE_RE = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# Config may only name estimators from these packages: a YAML must not be a way to import arbitrary code.
ALLOWED_ESTIMATOR_PREFIXES = ("sklearn.",)
# Config metric name -> scikit-learn scorer used inside the cross-validated search.
CV_SCORERS = {
    "roc_auc": "roc_auc",
    "average_precision": "average_precision",
    "log_loss": "neg_log_loss",
    "brier": "neg_brier_score",
    "accuracy": "accuracy",
}


class NotEnoughDataError(RuntimeError):
    """Too few labelled rows (or a single class) to train and judge a model honestly."""


@dataclass
class TrainingSet:
    """Train and holdout frames (id + features + 0/1 target) and where every row came from."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def lineage_sha256(self) -> str:
        return str(self.lineage.get("lineage_sha256", ""))


# -- partitions -------------------------------------------------------------------------------
def _partitions(store: ArtifactStore, prefix: str, filename: str, as_of: date) -> list[tuple[str, str]]:
    """(date, key) of partitions under ``prefix`` dated on or before ``as_of``, oldest first."""
    found = []
    for key in store.list(prefix):
        match = _DATE_RE.search("/" + key)
        if match and key.endswith("/" + filename) and date.fromisoformat(match.group(1)) <= as_of:
            found.append((match.group(1), key))
    return sorted(found)


def _read(store: ArtifactStore, day: str, key: str, uc: UseCase | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A partition as a frame with its lineage entry; with ``uc``, a features partition, cleaned."""
    data = store.read_bytes(key)
    frame = pd.read_parquet(io.BytesIO(data)) if uc is None else clean_partition(data, uc)
    return frame, {"date": day, "key": key, "sha256": sha256_bytes(data), "rows": int(len(frame))}


def target_vector(frame: pd.DataFrame, uc: UseCase) -> np.ndarray:
    """0/1 target whether the column holds labels ("Yes"/"No") or is already encoded."""
    series = frame[uc.target]
    if pd.api.types.is_numeric_dtype(series) and set(pd.unique(series.dropna())) <= {0, 1}:
        return series.to_numpy(dtype="int64")
    return (series.astype(str) == str(uc.positive_label)).to_numpy(dtype="int64")


def holdout_mask(ids: pd.Series, fraction: float, salt: str) -> np.ndarray:
    """True for ids in the holdout: a pure function of the id, stable across runs and machines."""

    sha = hashlib.sha256
    # The first 8 digest bytes as a big-endian uint64, scaled to [0, 1): the same float as int.from_bytes / 2**64
    # (both round to nearest), without a Python call per id through Series.map.
    head = b"".join([sha(f"{salt}:{value}".encode()).digest()[:8] for value in ids.astype(str).tolist()])
    return np.frombuffer(head, dtype=">u8").astype(np.float64) / 2.0**64 < fraction


def _labels_frame(frame: pd.DataFrame, uc: UseCase) -> pd.DataFrame:
    """Labels partitions carry (id, target); accept the config names or literal ``id``/``target``."""
    id_col = uc.id_column if uc.id_column in frame.columns else "id"
    target_col = uc.target if uc.target in frame.columns else "target"
    if id_col not in frame.columns or target_col not in frame.columns:
        raise NotEnoughDataError(f"labels partition has columns {list(frame.columns)}, needs id and target")
    out = pd.DataFrame({uc.id_column: frame[id_col].astype(str), uc.target: frame[target_col]})
    return out


def assemble(store: ArtifactStore, uc: UseCase, as_of: date | datetime | str) -> TrainingSet:
    """Join features and labels known on ``as_of`` and split off the id-hashed holdout."""
    as_of_d = as_date(as_of)
    feature_parts = _partitions(store, partition_root("features", uc), "features.parquet", as_of_d)
    label_parts = _partitions(store, partition_root("labels", uc), "labels.parquet", as_of_d)
    if not feature_parts or not label_parts:
        raise NotEnoughDataError(
            f"{uc.name}: {len(feature_parts)} features and {len(label_parts)} labels partitions up to {as_of_d}"
        )
    frames, f_lineage = [], []
    for day, key in feature_parts:
        frame, info = _read(store, day, key, uc)
        frames.append(frame)
        f_lineage.append(info)
    features = pd.concat(frames, ignore_index=True)
    labels_list, l_lineage = [], []
    for day, key in label_parts:
        frame, info = _read(store, day, key)
        labels_list.append(_labels_frame(frame, uc))
        l_lineage.append(info)
    labels = pd.concat(labels_list, ignore_index=True)

    # A re-sent row or a corrected label: the latest partition wins, and we say how many.
    dup_features = int(features.duplicated(uc.id_column, keep="last").sum())
    dup_labels = int(labels.duplicated(uc.id_column, keep="last").sum())
    features = features.drop_duplicates(uc.id_column, keep="last")
    labels = labels.drop_duplicates(uc.id_column, keep="last")
    # both sides are unique by id after drop_duplicates: pandas' one_to_one validation would only re-check it
    joined = features.merge(labels, on=uc.id_column, how="inner")
    joined[uc.target] = target_vector(joined, uc)
    joined = joined.sort_values(uc.id_column, kind="stable").reset_index(drop=True)

    ev = uc.section("evaluation")
    fraction = float(ev.get("holdout_fraction", 0.25))
    in_holdout = holdout_mask(joined[uc.id_column], fraction, uc.name)
    train = joined[~in_holdout].reset_index(drop=True)
    holdout = joined[in_holdout].reset_index(drop=True)

    minimum = int(uc.section("training").get("min_labelled_rows", DEFAULT_MIN_LABELLED_ROWS))
    if len(joined) < minimum:
        raise NotEnoughDataError(
            f"{uc.name}: {len(joined)} labelled rows up to {as_of_d}, need at least {minimum} "
            f"({sum(p['rows'] for p in f_lineage)} feature rows, {len(labels)} labels)"
        )
    for part, frame in (("train", train), ("holdout", holdout)):
        classes = np.unique(frame[uc.target])
        if len(classes) < 2:
            raise NotEnoughDataError(f"{uc.name}: the {part} split has a single class {classes.tolist()}")

    core = {"as_of": as_of_d.isoformat(), "features": f_lineage, "labels": l_lineage}
    lineage = {
        **core,
        "lineage_sha256": hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest(),
        "joined_rows": int(len(joined)),
        "train_rows": int(len(train)),
        "holdout_rows": int(len(holdout)),
        "holdout_fraction": fraction,
        "positive_rate": round(float(joined[uc.target].mean()), 6),
        "unlabelled_feature_rows": int(len(features) - len(joined)),
        "duplicate_ids_replaced": {"features": dup_features, "labels": dup_labels},
    }
    return TrainingSet(train=train, holdout=holdout, lineage=lineage)


# -- candidates -------------------------------------------------------------------------------
def candidate_grid(uc: UseCase) -> list[dict[str, Any]]:
    """One spec per configured candidate, its search space prefixed for the pipeline's estimator step."""
    specs, seen = [], set()
    for cand in uc.raw["candidates"]:
        name = str(cand["name"])
        if not _NAME_RE.match(name) or name in seen:
            raise ConfigError(f"use case {uc.name!r}: candidate name {name!r} is not unique or not key-safe")
        seen.add(name)
        search = cand.get("search") or {}
        grid = {f"estimator__{k}": list(v) if isinstance(v, list | tuple) else [v] for k, v in search.items()}
        size = int(np.prod([len(v) for v in grid.values()])) if grid else 1
        specs.append(
            {
                "name": name,
                "estimator": str(cand["estimator"]),
                "params": dict(cand.get("params") or {}),
                "param_grid": grid,
                "grid_size": size,
            }
        )
    return specs


def make_estimator(path: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    """Instantiate an allow-listed estimator; fix its seed when it takes one and the config did not."""
    if not path.startswith(ALLOWED_ESTIMATOR_PREFIXES):
        raise ConfigError(f"estimator {path!r} is outside the allowed packages {ALLOWED_ESTIMATOR_PREFIXES}")
    module_name, _, cls_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"estimator {path!r} cannot be imported: {exc}") from exc
    estimator = cls(**params)
    if "random_state" in estimator.get_params() and "random_state" not in params:
        estimator.set_params(random_state=seed)
    return estimator


def compute_threads() -> int:
    """Native threads (OpenMP/BLAS) per task: 1 by default, ``LIFECYCLE_THREADS`` to raise it."""
    try:
        return max(1, int(os.environ.get("LIFECYCLE_THREADS", "1")))
    except ValueError:
        return 1


@contextmanager
def limited_threads() -> Iterator[None]:
    """Cap OpenMP/BLAS threads while fitting or predicting.

    OpenMP spin-waits collapse when cores are shared with other tasks (numbers in bench/RESULTS.md), and
    Airflow runs several tasks per worker, so one thread per task is the safe default.
    """
    with threadpool_limits(limits=compute_threads()):
        yield


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the code that trained a model; "unknown" rather than a failure."""
    env = os.environ.get("LIFECYCLE_CODE_VERSION")
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=False
        )
    except Exception:  # noqa: BLE001 - no git, no repo, a timeout: the version is just unknown
        return "unknown"
    rev = out.stdout.strip()
    return rev if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", rev) else "unknown"


def cv_scorer(uc: UseCase) -> str:
    primary = uc.section("evaluation").get("primary_metric", "roc_auc")
    return CV_SCORERS.get(primary, "roc_auc")


def train_candidate(
    train_df: pd.DataFrame, uc: UseCase, spec: dict[str, Any], lineage: dict[str, Any] | None = None
) -> tuple[Pipeline, dict[str, Any]]:
    """Grid-search one candidate with stratified, seeded CV on the training rows; refit the best."""
    seed = int(uc.raw.get("seed", 0))
    folds = int(uc.raw.get("search_cv_folds", 3))
    X = train_df.drop(columns=[uc.target])
    y = target_vector(train_df, uc)
    pipeline = Pipeline(
        [("preprocess", build_preprocessor(uc)), ("estimator", make_estimator(spec["estimator"], spec["params"], seed))]
    )
    search = GridSearchCV(
        pipeline,
        spec.get("param_grid") or {},
        scoring=cv_scorer(uc),
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        n_jobs=1,
        refit=True,
        error_score="raise",
    )
    started = time.perf_counter()
    with limited_threads():
        search.fit(X, y)
    duration = time.perf_counter() - started
    results = search.cv_results_
    record = {
        "name": spec["name"],
        "estimator": spec["estimator"],
        "params": spec["params"],
        "best_params": {k.removeprefix("estimator__"): _plain(v) for k, v in search.best_params_.items()},
        "cv_metric": cv_scorer(uc),
        "cv_score": round(float(search.best_score_), 6),
        "cv_folds": folds,
        "cv_results": [
            {
                "params": {k.removeprefix("estimator__"): _plain(v) for k, v in p.items()},
                "mean": round(float(m), 6),
                "std": round(float(s), 6),
            }
            for p, m, s in zip(results["params"], results["mean_test_score"], results["std_test_score"], strict=True)
        ],
        "duration_s": round(duration, 3),
        "train_rows": int(len(train_df)),
        "train_positive_rate": round(float(y.mean()), 6),
        "seed": seed,
        "config_sha256": uc.sha256,
        "code_version": code_version(),
        "lineage_sha256": (lineage or {}).get("lineage_sha256"),
        "lineage": lineage,
        "trained_at": datetime.now(UTC).isoformat(),
    }
    log.info("candidate %s: cv %s=%.4f in %.1fs", spec["name"], record["cv_metric"], record["cv_score"], duration)
    return search.best_estimator_, record


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, for JSON records."""
    return value.item() if isinstance(value, np.generic) else value
