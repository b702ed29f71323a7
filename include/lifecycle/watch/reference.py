"""The monitoring reference: a model version's own training rows, scored by that version.

Read from the training run that registered the version (checked against the sha256 training recorded) or,
when that folder is gone, rebuilt from the partitions listed in the manifest's lineage. A seeded sample of
it is cached per version, so a 1M-row training set is read and scored once, not daily.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from include.lifecycle import layout
from include.lifecycle.config import UseCase
from include.lifecycle.model.features import clean
from include.lifecycle.model.registry import registry_for
from include.lifecycle.model.training import _labels_frame, holdout_mask, limited_threads, target_vector
from include.lifecycle.serve.scoring import positive_index
from include.lifecycle.store import ArtifactStore, sha256_bytes
from include.lifecycle.watch.settings import MonitoringError

log = logging.getLogger(__name__)


# -- reference --------------------------------------------------------------------------------
def _rebuild_train(store: ArtifactStore, uc: UseCase, manifest: dict[str, Any]) -> pd.DataFrame:
    """The training rows from the partitions the manifest lists, split off the way training did."""
    lineage = manifest.get("lineage") or {}
    frames, labels = [], []
    for kind, out in (("features", frames), ("labels", labels)):
        for part in lineage.get(kind) or []:
            data = store.read_bytes(part["key"])
            if part.get("sha256") and sha256_bytes(data) != part["sha256"]:
                raise MonitoringError(f"{store.uri(part['key'])} changed since v{manifest['version']} was trained on it")
            frame = pd.read_parquet(io.BytesIO(data))
            out.append(clean(frame, uc).drop(columns=[uc.target], errors="ignore") if kind == "features"
                       else _labels_frame(frame, uc))
    if not frames or not labels:
        raise MonitoringError(f"model v{manifest['version']}: no training run folder and no lineage to rebuild from")
    features = pd.concat(frames, ignore_index=True).drop_duplicates(uc.id_column, keep="last")
    label_frame = pd.concat(labels, ignore_index=True).drop_duplicates(uc.id_column, keep="last")
    joined = features.merge(label_frame, on=uc.id_column, how="inner")
    joined[uc.target] = target_vector(joined, uc)
    fraction = float(uc.section("evaluation").get("holdout_fraction", 0.25))
    train = joined[~holdout_mask(joined[uc.id_column], fraction, uc.name)]
    return train.sort_values(uc.id_column, kind="stable").reset_index(drop=True)


def reference_frame(store: ArtifactStore, uc: UseCase, version: int, with_scores: bool = True) -> pd.DataFrame:
    """The version's training rows (id, features, 0/1 target) and, with ``with_scores``, its own ``score``.

    Read from the training run that registered the version, after checking that the run's lineage is the
    version's (``lineage_sha256``) and the file's sha256 is the one training recorded.
    """
    registry = registry_for(store, uc)
    manifest = registry.manifest(version)
    run_id = manifest.get("run_id")
    frame = None
    if run_id:
        train_key, lineage_key = layout.train_set_key(uc, str(run_id)), layout.lineage_key(uc, str(run_id))
        if store.exists(train_key) and store.exists(lineage_key):
            lineage = store.read_json(lineage_key)
            if manifest.get("lineage_sha256") and lineage.get("lineage_sha256") != manifest["lineage_sha256"]:
                raise MonitoringError(f"{store.uri(lineage_key)} is not the lineage model v{version} was trained on")
            data = store.read_bytes(train_key)
            if lineage.get("train_sha256") and sha256_bytes(data) != lineage["train_sha256"]:
                raise MonitoringError(f"{store.uri(train_key)} changed since training wrote it (sha256 mismatch)")
            frame = pd.read_parquet(io.BytesIO(data))
    if frame is None:
        log.warning("model v%s: training run folder missing, rebuilding the reference from its lineage", version)
        frame = _rebuild_train(store, uc, manifest)
    if with_scores:
        model = registry.load_model(version)
        with limited_threads():
            frame["score"] = model.predict_proba(frame[uc.feature_columns])[:, positive_index(model)]
    return frame


def _reference_sample(store: ArtifactStore, uc: UseCase, version: int, n: int, seed: int
                      ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A seeded sample of the scored reference, cached per (version, model bytes, n, seed)."""
    registry = registry_for(store, uc)
    sha = registry.manifest(version)["model_sha256"]
    base = layout.reference_prefix(uc, version, sha, n, seed)
    if store.exists(f"{base}.json") and store.exists(f"{base}.parquet"):
        meta = store.read_json(f"{base}.json")
        data = store.read_bytes(f"{base}.parquet")
        if sha256_bytes(data) == meta.get("sha256"):
            return pd.read_parquet(io.BytesIO(data)), meta
        log.warning("reference cache %s does not match its checksum; rebuilding it", base)
    full = reference_frame(store, uc, version, with_scores=False)
    total = len(full)
    sample = full.sample(n=n, random_state=seed) if total > n else full
    sample = sample.reset_index(drop=True)
    model = registry.load_model(version)
    with limited_threads():
        sample["score"] = model.predict_proba(sample[uc.feature_columns])[:, positive_index(model)]
    digest = store.write_frame(f"{base}.parquet", sample)
    meta = {"version": int(version), "rows_total": int(total), "rows": int(len(sample)), "seed": seed,
            "sha256": digest, "key": f"{base}.parquet", "built_at": datetime.now(UTC).isoformat()}
    store.write_json(f"{base}.json", meta)
    return sample, meta
