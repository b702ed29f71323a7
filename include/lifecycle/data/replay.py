"""The bundled snapshot replayed as a *source system* that delivers one batch a day.

The datasets have no dates, so the lifecycle needs a stand-in for "yesterday's new customers" and
"the outcomes that became known today". :func:`plan` assigns every row of the snapshot to a day with a
seeded RNG (same config, same plan, on any machine):

* a ``history_fraction`` share (default 0.4) goes to day ``-1``: the already-labelled past, delivered
  as one batch on the day before ``replay.start_date`` with its labels delivered the same day, so the
  first training run has data;
* the rest is spread uniformly at random over days ``0 .. days-1`` (day 0 = ``replay.start_date``);
* the labels of day ``k``'s rows are delivered on day ``k + label_delay_days`` (possibly after the
  replay window: those deliveries still happen, just without a batch that day).

:func:`publish` writes ``landing/<uc>/batches/<d>.csv`` (id + feature columns, never the target) and
``landing/<uc>/labels/<d>.csv`` (id + target of the rows whose labels arrive on ``d``). It overwrites,
so re-publishing a day is idempotent; a day without rows has no file (a stale one is removed).

Drift scenario (``replay.drift``; off by default, ``publish(drift=True)`` or ``enabled: true`` turns it
on). From day index ``start_day`` on, and only for those days' batches:

* ``numeric_scale`` multiplies each listed numeric column by its factor (churn: ``monthly_charges`` and
  ``total_charges`` x1.35, a price rise). Values are rounded to the column's original precision (integers
  stay integers, floats to 2 decimals);
* ``category_mix`` resamples each listed categorical column independently of the row with the given
  probabilities (churn: ``contract`` becomes 85% month-to-month and ``payment_method`` 60% electronic
  check), seeded per day.

What it does **not** change: the labels. A drifted row keeps the outcome of the original customer, so
both the feature distribution (covariate drift) and the feature-label relation (the model's learned
"month-to-month churns" no longer holds for the resampled rows) move. That is a deliberately simple,
documented scenario for monitoring to detect, not a causal simulation of the world.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle.config import ConfigError, UseCase
from include.lifecycle.layout import as_date, landing_batch_key, landing_labels_key
from include.lifecycle.store import ArtifactStore

HISTORY_DAY = -1


class SnapshotChecksumError(ConfigError):
    """The bundled data file is not the one the config was written for."""


def _replay(uc: UseCase) -> dict[str, Any]:
    section = uc.section("replay")
    for key in ("start_date", "days", "seed", "label_delay_days"):
        if key not in section:
            raise ConfigError(f"use case {uc.name!r}: missing key 'replay.{key}'")
    return section


def start_date(uc: UseCase) -> date:
    return date.fromisoformat(str(_replay(uc)["start_date"]))


def day_index(uc: UseCase, day: date | str) -> int:
    """Replay day number of a calendar date: 0 = ``replay.start_date``, -1 = the history batch."""
    return (as_date(day) - start_date(uc)).days


def replay_dates(uc: UseCase) -> list[date]:
    """Every date that has a batch: the history day (-1) then days 0 .. days-1."""
    first = start_date(uc)
    return [first + timedelta(days=k) for k in range(HISTORY_DAY, int(_replay(uc)["days"]))]



def load_snapshot(uc: UseCase) -> pd.DataFrame:
    """Read the bundled snapshot after checking its sha256 against ``dataset.sha256``.

    A mismatch means the data file changed under the config (re-extracted, corrupted, swapped):
    every downstream number would silently change, so it is an error, not a warning.
    """
    path = uc.data_file
    if not path.exists():
        raise ConfigError(f"use case {uc.name!r}: dataset file {path} does not exist")
    data = path.read_bytes()
    expected = uc.raw["dataset"].get("sha256")
    actual = hashlib.sha256(data).hexdigest()
    if expected and actual != expected:
        raise SnapshotChecksumError(
            f"use case {uc.name!r}: {path} has sha256 {actual}, but dataset.sha256 in {uc.path.name} says "
            f"{expected}; restore the bundled file or update the config (and PROVENANCE.json) on purpose"
        )
    compression = "gzip" if path.suffix == ".gz" else None
    frame = pd.read_csv(io.BytesIO(data), compression=compression, dtype={uc.id_column: str})
    missing = [c for c in [uc.id_column, uc.target, *uc.feature_columns] if c not in frame.columns]
    if missing:
        raise ConfigError(f"use case {uc.name!r}: {path.name} lacks configured columns {missing}")
    return frame


def plan(uc: UseCase, snapshot: pd.DataFrame | None = None) -> pd.DataFrame:
    """Seeded assignment of every snapshot row to a replay day: DataFrame[id, day], snapshot order."""
    cfg = _replay(uc)
    frame = load_snapshot(uc) if snapshot is None else snapshot
    n = len(frame)
    days = int(cfg["days"])
    fraction = float(cfg.get("history_fraction", 0.4))
    if not 0.0 <= fraction < 1.0 or days < 1:
        raise ConfigError(f"use case {uc.name!r}: need 0 <= replay.history_fraction < 1 and replay.days >= 1")
    rng = np.random.default_rng(int(cfg["seed"]))
    order = rng.permutation(n)
    n_history = int(round(fraction * n))
    day = np.empty(n, dtype="int64")
    day[order[:n_history]] = HISTORY_DAY
    day[order[n_history:]] = rng.integers(0, days, size=n - n_history)
    return pd.DataFrame({"id": frame[uc.id_column].to_numpy(), "day": day})


def label_delivery_day(uc: UseCase, day: int) -> int:
    """The day on which the labels of day ``day``'s rows arrive (history: the same day)."""
    return day if day == HISTORY_DAY else day + int(_replay(uc)["label_delay_days"])


def drift_enabled(uc: UseCase, drift: bool | None = None) -> bool:
    return bool((_replay(uc).get("drift") or {}).get("enabled", False)) if drift is None else bool(drift)


def apply_drift(uc: UseCase, batch: pd.DataFrame, day: int) -> pd.DataFrame:
    """The documented drift scenario applied to one day's batch (see the module docstring)."""
    cfg = _replay(uc).get("drift") or {}
    out = batch.copy()
    for col, factor in (cfg.get("numeric_scale") or {}).items():
        if col not in out.columns:
            raise ConfigError(f"use case {uc.name!r}: replay.drift.numeric_scale names unknown column {col!r}")
        scaled = out[col].astype("float64") * float(factor)
        integral = pd.api.types.is_integer_dtype(out[col].dtype)
        out[col] = scaled.round(0).astype(out[col].dtype) if integral else scaled.round(2)
    rng = np.random.default_rng([int(_replay(uc)["seed"]), 1_000 + day])
    for col, mix in (cfg.get("category_mix") or {}).items():
        allowed = uc.columns.get(col, {}).get("values")
        if allowed is None:
            raise ConfigError(f"use case {uc.name!r}: replay.drift.category_mix names non-categorical {col!r}")
        unknown = [v for v in mix if v not in allowed]
        if unknown:
            raise ConfigError(f"use case {uc.name!r}: replay.drift.category_mix.{col} has unknown values {unknown}")
        values = list(mix)
        probs = np.array([float(mix[v]) for v in values])
        out[col] = rng.choice(values, size=len(out), p=probs / probs.sum())
    return out


def _frame_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def publish(store: ArtifactStore, uc: UseCase, day: date | str, drift: bool | None = None) -> dict[str, Any]:
    """Write the source system's files for ``day`` (overwriting): the batch and the labels delivered.

    ``drift=None`` follows ``replay.drift.enabled``. Returns keys and row counts; a key is None when
    that day has no file (outside the replay window, or no label delivery that day).
    """
    day = as_date(day)
    k = day_index(uc, day)
    frame = load_snapshot(uc)
    assignment = plan(uc, frame)["day"].to_numpy()
    days = int(_replay(uc)["days"])
    drifted = False

    b_key: str | None = landing_batch_key(uc, day)
    rows = 0
    if HISTORY_DAY <= k < days:
        batch = frame.loc[assignment == k, [uc.id_column, *uc.feature_columns]].reset_index(drop=True)
        start = int((_replay(uc).get("drift") or {}).get("start_day", 0))
        if k >= 0 and k >= start and drift_enabled(uc, drift):
            batch = apply_drift(uc, batch, k)
            drifted = True
        store.write_bytes(b_key, _frame_csv(batch))
        rows = len(batch)
    else:
        store.delete(b_key)
        b_key = None

    delay = int(_replay(uc)["label_delay_days"])
    delivered = np.where(assignment == HISTORY_DAY, HISTORY_DAY, assignment + delay) == k  # label_delivery_day
    l_key: str | None = landing_labels_key(uc, day)
    labels = frame.loc[delivered, [uc.id_column, uc.target]]
    if len(labels):
        store.write_bytes(l_key, _frame_csv(labels))
    else:
        store.delete(l_key)
        l_key = None
    return {
        "date": day.isoformat(),
        "batch_key": b_key,
        "rows": rows,
        "labels_key": l_key,
        "labels": int(len(labels)),
        "drift": drifted,
    }
