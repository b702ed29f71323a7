"""A really trained and registered model on a store, for the tests of what happens after promotion."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from include.lifecycle import layout, steps
from include.lifecycle.layout import features_key
from include.lifecycle.model.features import clean
from include.lifecycle.model.registry import registry_for


def train_and_register(store, uc, rows: pd.DataFrame, run_id: str = "run-1", start: date = date(2026, 1, 1),
                       days: int = 2) -> dict:
    """Features + labels partitions for ``rows``, then the real training steps and a registration."""
    for i, idx in enumerate(np.array_split(np.arange(len(rows)), days)):
        part = rows.iloc[idx]
        day = start + timedelta(days=i)
        store.write_frame(features_key(uc, day), clean(part.drop(columns=[uc.target]), uc))
        store.write_frame(f"labels/{uc.name}/date={day}/labels.parquet", part[[uc.id_column, uc.target]])
    as_of = start + timedelta(days=days - 1)
    steps.step_assemble(store, uc, as_of, run_id)
    name = uc.raw["candidates"][0]["name"]
    best = steps.step_select_best(store, uc, run_id, [steps.step_train_candidate(store, uc, run_id, name)])
    steps.step_evaluate(store, uc, run_id, best)
    base = layout.run_prefix(uc, run_id)
    return registry_for(store, uc).register(
        store.read_bytes(best["model_key"]), evaluation=store.read_json(f"{base}/evaluation/candidate.json"),
        comparison=store.read_json(f"{base}/evaluation/comparison.json"), qa={"passed": True, "checks": {}},
        lineage=store.read_json(f"{base}/lineage.json"), record=store.read_json(best["record_key"]), run_id=run_id)
