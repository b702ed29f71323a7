"""Batch scoring: the champion scores one features partition, in bounded memory, keyed by id and version.

The DAG resolves the champion **once** per run (:func:`resolve_champion`) and passes the version to
:func:`score_partition`, so a promotion halfway through a run never mixes two models in one partition.
The model is loaded through the registry, which refuses bytes whose sha256 differs from the manifest.

Streaming: the features file is read with ``ParquetFile.iter_batches(chunk_rows)`` and each chunk's
predictions are appended to a ``ParquetWriter`` on a local temp file (one row group per chunk), which then
replaces ``predictions/<uc>/date=<d>/predictions.parquet`` in one step (``os.replace`` on a local store,
a multipart ``upload_file`` on S3). One file rather than per-chunk part files because a partition then
changes atomically: a reader (monitoring) never sees half of a rerun, and a rerun with a different chunk
size cannot leave stale parts behind. Peak memory is one chunk plus one Parquet row group of the input
(features are written by pandas with at most ~1M rows per row group).

Columns: ``<id column>`` (the use case's id name, as in features and labels partitions, so every join is
on the same name), ``score`` (probability of ``dataset.positive_label``), ``predicted_label`` (a label value
from ``dataset.labels``, positive when ``score >= threshold``), ``model_version``, ``scored_at`` (UTC, the
run's start, identical for every row of a run).

The threshold is the cost-optimal one chosen on the holdout when the version was evaluated: it is stored
in the version's ``evaluation.json`` (``candidate.threshold``) and copied into the manifest's
``evaluation_summary.threshold``; the manifest copy is read first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from include.lifecycle.config import UseCase
from include.lifecycle.layout import day_str, features_key, predictions_key, shadow_predictions_key
from include.lifecycle.model.registry import ModelRegistry, registry_for
from include.lifecycle.model.training import limited_threads
from include.lifecycle.store import FILE_MODE, ArtifactStore, StoreError

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 50_000


class ScoringError(RuntimeError):
    """A partition cannot be scored as asked (missing input, missing columns, no threshold)."""


class NoChampionError(ScoringError):
    """The use case has no ``champion`` alias yet: nothing is allowed to score."""


def resolve_champion(store: ArtifactStore, uc: UseCase) -> dict[str, Any]:
    """The champion's model name, version and model sha256, read once at the start of a scoring run."""
    registry = registry_for(store, uc)
    version = registry.alias_version("champion")
    if version is None:
        raise NoChampionError(
            f"use case {uc.name!r}: model {registry.name!r} has no champion yet; train, approve and promote a "
            f"version before scoring (registry at {store.uri(registry.prefix)})"
        )
    manifest = registry.manifest(version)
    return {"model": registry.name, "version": int(version), "model_sha256": manifest["model_sha256"]}


def decision_threshold(registry: ModelRegistry, version: int) -> float:
    """The cost-optimal threshold recorded when ``version`` was evaluated on the holdout."""
    manifest = registry.manifest(version)
    threshold = (manifest.get("evaluation_summary") or {}).get("threshold")
    if threshold is None:
        doc = json.loads(registry.artifact(version, "evaluation.json"))
        threshold = (doc.get("candidate") or {}).get("threshold")
    if threshold is None:
        raise ScoringError(f"model {registry.name!r} v{version}: no decision threshold in its evaluation")
    return float(threshold)


def label_values(uc: UseCase) -> tuple[Any, Any]:
    """(negative, positive) label values for ``predicted_label``."""
    positive = uc.positive_label
    others = [label for label in uc.labels if label != positive]
    if not others:
        raise ScoringError(f"use case {uc.name!r}: dataset.labels needs a label other than {positive!r}")
    return others[0], positive


def prediction_schema(id_column: str, label_type: pa.DataType | None = None) -> pa.Schema:
    label_type = pa.string() if label_type is None else label_type
    return pa.schema(
        [
            pa.field(id_column, pa.string()),
            pa.field("score", pa.float64()),
            pa.field("predicted_label", label_type),
            pa.field("model_version", pa.int64()),
            pa.field("scored_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def positive_index(model: Any) -> int:
    """Column of ``predict_proba`` holding the positive class (pipelines are fitted on a 0/1 target)."""
    classes = list(getattr(model, "classes_", [0, 1]))
    if 1 not in classes:
        raise ScoringError(f"model classes {classes} do not include the positive class 1")
    return classes.index(1)


def score_frame_chunks(
    model: Any,
    frames: Iterable[pd.DataFrame],
    *,
    id_column: str,
    threshold: float,
    labels: tuple[Any, Any] = (0, 1),
    model_version: int,
    scored_at: datetime | None = None,
) -> Iterator[pd.DataFrame]:
    """Score an iterable of feature frames lazily; yield one predictions frame per input frame.

    The streaming core shared by :func:`score_partition` and the benchmark: memory is one chunk at a time,
    whatever the total. ``labels`` is (negative, positive); ``scored_at`` defaults to now (UTC).
    """
    moment = pd.Timestamp(scored_at or datetime.now(UTC))
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    negative, positive = labels
    column = positive_index(model)
    with limited_threads():
        for frame in frames:
            if id_column not in frame.columns:
                raise ScoringError(f"chunk lacks the id column {id_column!r}")
            if len(frame) == 0:
                continue
            score = np.asarray(model.predict_proba(frame)[:, column], dtype="float64")
            yield pd.DataFrame(
                {
                    id_column: frame[id_column].astype(str).to_numpy(),
                    "score": score,
                    "predicted_label": np.where(score >= threshold, positive, negative),
                    "model_version": np.full(len(frame), int(model_version), dtype="int64"),
                    "scored_at": pd.DatetimeIndex([moment]).repeat(len(frame)),
                }
            )


# Streaming and publishing mechanics below decide nothing: mutation testing (make mutation) skips them.
# pragma: no mutate start
def iter_parquet_frames(path: str | os.PathLike[str], chunk_rows: int, columns: list[str] | None = None
                        ) -> Iterator[pd.DataFrame]:
    """Read a Parquet file as DataFrames of at most ``chunk_rows`` rows."""
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()


@contextlib.contextmanager
def local_copy(store: ArtifactStore, key: str) -> Iterator[Path]:
    """A local file holding ``key``: the file itself on a local store; a streamed download from S3."""
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise StoreError(f"no artifact at {store.uri(key)}")
        yield path
        return
    fd, tmp = tempfile.mkstemp(suffix=".parquet", prefix="lifecycle-")
    os.close(fd)
    try:
        client, bucket = getattr(store, "client", None), getattr(store, "bucket", None)
        if client is not None and bucket is not None and hasattr(store, "_key"):
            try:
                client.download_file(bucket, store._key(key), tmp)  # streams to disk, never all in memory
            except Exception as exc:  # noqa: BLE001 - boto raises ClientError(404) for a missing key
                raise StoreError(f"cannot download {store.uri(key)}: {exc}") from exc
        else:
            Path(tmp).write_bytes(store.read_bytes(key))
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _publish_file(store: ArtifactStore, key: str, path: Path) -> None:
    """Put a finished local file at ``key`` in one step (rename locally, multipart upload on S3)."""
    target = store.local_path(key)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return
    client, bucket = getattr(store, "client", None), getattr(store, "bucket", None)
    if client is not None and bucket is not None and hasattr(store, "_key"):
        client.upload_file(str(path), bucket, store._key(key))
        return
    store.write_bytes(key, path.read_bytes())


# pragma: no mutate end


def score_partition(
    store: ArtifactStore,
    uc: UseCase,
    day: date | str,
    version: int,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    model_sha256: str | None = None,
    shadow: bool = False,
) -> dict[str, Any]:
    """Score ``features/<uc>/date=<d>`` with model ``version``; overwrite its predictions partition.

    ``model_sha256`` (from :func:`resolve_champion`) is checked against the manifest when given, so the run
    scores exactly the model it resolved. Idempotent: a rerun replaces the whole partition. ``shadow``: the
    rows go to the version's own shadow partition instead (``layout.shadow_predictions_key``), each marked
    ``shadow = true``; nothing that serves or monitors reads there.
    """
    if chunk_rows < 1:
        raise ScoringError("chunk_rows must be at least 1")
    started = time.perf_counter()
    registry = registry_for(store, uc)
    manifest = registry.manifest(version)
    if model_sha256 and manifest["model_sha256"] != model_sha256:
        raise ScoringError(f"model {registry.name!r} v{version}: manifest sha256 differs from the resolved one")
    model = registry.load_model(version)  # raises IntegrityError on tampered bytes
    threshold = decision_threshold(registry, version)
    labels = label_values(uc)
    label_type = pa.string() if isinstance(labels[1], str) else pa.from_numpy_dtype(np.asarray(labels).dtype)
    in_key = features_key(uc, day)
    out_key = shadow_predictions_key(uc, day, version) if shadow else predictions_key(uc, day)
    if not store.exists(in_key):
        raise ScoringError(f"use case {uc.name!r}: no features partition at {store.uri(in_key)}")
    columns = [uc.id_column, *uc.feature_columns]
    scored_at = datetime.now(UTC)
    rows = chunks = 0
    schema = prediction_schema(uc.id_column, label_type)
    if shadow:
        schema = schema.append(pa.field("shadow", pa.bool_()))
    with local_copy(store, in_key) as source:
        available = set(pq.read_schema(source).names)
        missing = [c for c in columns if c not in available]
        if missing:
            raise ScoringError(f"{store.uri(in_key)} lacks columns {missing}")
        target = store.local_path(out_key)
        tmp_dir = target.parent if target is not None else None
        if tmp_dir is not None:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix=".predictions.", suffix=".parquet.tmp")
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with pq.ParquetWriter(tmp, schema) as writer:
                frames = iter_parquet_frames(source, chunk_rows, columns)
                for out in score_frame_chunks(model, frames, id_column=uc.id_column, threshold=threshold,
                                              labels=labels, model_version=version, scored_at=scored_at):
                    if shadow:
                        out["shadow"] = True
                    writer.write_table(pa.Table.from_pandas(out, schema=schema, preserve_index=False))
                    rows += len(out)
                    chunks += 1
            digest = _file_sha256(tmp)
            _publish_file(store, out_key, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    seconds = time.perf_counter() - started
    # pragma: no mutate start
    log.info("scored %s %s with v%s%s: %d rows in %d chunks, %.2fs", uc.name, day_str(day), version,
             " (shadow)" if shadow else "", rows, chunks, seconds)
    # pragma: no mutate end
    return {
        "date": day_str(day),
        "rows": rows,
        "version": int(version),
        "predictions_key": out_key,
        "sha256": digest,
        "chunks": chunks,
        "threshold": threshold,
        "model_sha256": manifest["model_sha256"],
        "scored_at": scored_at.isoformat(),
        "seconds": round(seconds, 3),
        "shadow": shadow,
    }
