"""Exploratory profiles (EDA) for the analyst, built with Evidently 0.7: one per accepted partition and one per
assembled training set.

A profile is Evidently's ``DataSummaryPreset`` (per-column distributions, missing values, category frequencies,
dataset-level counts) plus ``ColumnCorrelations`` on the target where labels exist (Cramér's V for categorical
and binary features, Pearson/Spearman/Kendall of a 0/1 copy of the target for numeric ones), run against the
champion's training set as reference so every distribution is drawn beside the one the serving model learnt
from. Both frames are sampled (seeded) to ``profiling.sample_rows`` first: Evidently's cost grows with rows, a
profile's purpose does not, and the sampling (with the error it implies) is stated on top of the report and in
the JSON summary. Usable from a notebook: ``profile_frame(frame, uc)`` needs no store.
"""

from __future__ import annotations

import html
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from include.lifecycle import layout
from include.lifecycle.config import UseCase
from include.lifecycle.model.features import clean
from include.lifecycle.store import ArtifactStore

log = logging.getLogger(__name__)
TOP_CATEGORIES = 10  # category frequencies kept per column in the JSON summary


@dataclass
class Profile:
    """Evidently's HTML report (our sampling note on top) and a JSON-ready summary of what it found."""

    html: str
    summary: dict[str, Any] = field(default_factory=dict)


def _settings(uc: UseCase) -> dict[str, Any]:
    cfg = uc.section("profiling")
    return {"sample_rows": int(cfg.get("sample_rows", 5000)), "seed": int(cfg.get("seed", 0)),
            "compare_with_champion": bool(cfg.get("compare_with_champion", True))}


def _statement(total: int, n: int, seed: int) -> dict[str, Any]:
    """The sampling of ``n`` of ``total`` rows and its worst-case 95% error on a share (finite-population
    corrected): the half-width for a share of 0.5, a category's frequency or a missing-value rate."""
    fpc = math.sqrt((total - n) / (total - 1)) if total > 1 else 0.0
    error = 1.96 * math.sqrt(0.25 / n) * fpc if n else None
    return {"rows_total": int(total), "rows_profiled": int(n), "seed": seed, "sampled": n < total,
            "share_error_95": None if error is None else round(error, 5)}


def sample(frame: pd.DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A seeded uniform sample of at most ``rows`` rows, and the statement of it."""
    taken = frame.sample(n=rows, random_state=seed) if len(frame) > rows else frame
    return taken.reset_index(drop=True), _statement(len(frame), len(taken), seed)


def read_sampled(store: ArtifactStore, key: str, rows: int, seed: int) -> tuple[pd.DataFrame, int]:
    """A seeded uniform sample of a stored Parquet file's rows, and its total row count.

    The rows are drawn in Arrow before any pandas conversion, so a 1M-row day costs one columnar read, not a
    million Python strings per text column.
    """
    import numpy as np
    import pyarrow.parquet as pq

    from include.lifecycle.serve.scoring import local_copy

    with local_copy(store, key) as path:
        table = pq.read_table(path)
    total = table.num_rows
    if total > rows:
        table = table.take(np.sort(np.random.default_rng(seed).choice(total, size=rows, replace=False)))
    return table.to_pandas(), total


def _sampling_text(name: str, s: dict[str, Any]) -> str:
    if not s["sampled"]:
        return f"{name}: all {s['rows_total']:,} rows profiled (no sampling)."
    return (f"{name}: a seeded uniform sample of {s['rows_profiled']:,} of {s['rows_total']:,} rows (seed "
            f"{s['seed']}); any share (a category's frequency, a missing-value rate) is within "
            f"±{100 * s['share_error_95']:.2f} percentage points of the full data's, 95% of the time.")


def _target_copy_name(uc: UseCase) -> str:
    return f"{uc.target}_is_{uc.positive_label}"


def _prepared(frame: pd.DataFrame, uc: UseCase) -> pd.DataFrame:
    """Typed feature columns (+ the target and its 0/1 copy when labelled); ids are never profiled."""
    typed = clean(frame, uc)
    out = typed[uc.feature_columns].copy()
    if uc.target in typed.columns:
        target = typed[uc.target]
        positive = target.astype(str) == str(uc.positive_label)
        if set(target.dropna().unique()) <= {0, 1}:  # an assembled set carries the 0/1 target already
            positive = target == 1
        out[uc.target] = positive.map({True: str(uc.positive_label), False: f"not {uc.positive_label}"})
        out[_target_copy_name(uc)] = positive.astype(float)
    return out


def _definition(uc: UseCase, labelled: bool) -> Any:
    from evidently import DataDefinition

    numeric = list(uc.columns_of_kind("numeric"))
    categorical = list(uc.columns_of_kind("categorical", "binary"))
    if labelled:
        numeric.append(_target_copy_name(uc))
        categorical.append(uc.target)
    return DataDefinition(numerical_columns=numeric, categorical_columns=categorical)


def _summarise(snapshot: Any, uc: UseCase) -> dict[str, Any]:
    """Missing values, category frequencies, numeric statistics and target relations from ``snapshot.dict()``."""
    columns: dict[str, dict[str, Any]] = {}
    dataset: dict[str, Any] = {}
    relation: dict[str, dict[str, float]] = {}
    for metric in snapshot.dict()["metrics"]:
        cfg = metric.get("config") or {}
        kind = str(cfg.get("type", "")).rsplit(":", 1)[-1]
        value = metric.get("value")
        col = cfg.get("column")
        if kind == "ColumnCorrelationMatrix":
            names, values = value.get("column_name") or {}, value.get("value") or {}
            for idx, name in names.items():
                number = values.get(idx)
                if number is not None and not (isinstance(number, float) and math.isnan(number)):
                    relation.setdefault(str(name), {})[str(cfg.get("kind"))] = round(float(number), 5)
        elif col is None:
            dataset[kind] = value
        elif kind == "MissingValueCount":
            columns.setdefault(col, {})["missing"] = value
        elif kind == "UniqueValueCount":
            counts = sorted((value.get("counts") or {}).items(), key=lambda kv: -kv[1])[:TOP_CATEGORIES]
            columns.setdefault(col, {})["top_categories"] = {k: int(v) for k, v in counts}
        elif kind in ("MinValue", "MaxValue", "MeanValue", "StdValue"):
            columns.setdefault(col, {})[kind.removesuffix("Value").lower()] = value
        elif kind == "QuantileValue":
            columns.setdefault(col, {})[f"q{int(round(100 * float(cfg.get('quantile', 0))))}"] = value
    relation.pop(uc.target, None)
    relation.pop(_target_copy_name(uc), None)
    return {"dataset": dataset, "columns": columns, "target_relation": relation}


def profile_frame(frame: pd.DataFrame, uc: UseCase, reference: pd.DataFrame | None = None, *,
                  title: str = "", sample_rows: int | None = None, seed: int | None = None,
                  reference_name: str | None = None, population: tuple[int, int | None] | None = None) -> Profile:
    """Profile ``frame`` (raw or cleaned rows of the use case), optionally beside ``reference``.

    The target is profiled, and related to every feature, only when ``frame`` carries it; the reference then
    needs it too (otherwise the reference is profiled on the features alone). ``population``: the row counts
    of the frames ``frame`` and ``reference`` were already sampled from (:func:`read_sampled`), for the statement.
    """
    from evidently import Dataset, Report
    from evidently.metrics import ColumnCorrelations
    from evidently.presets import DataSummaryPreset

    cfg = _settings(uc)
    if reference_name is None:
        reference_name = "no reference given" if reference is None else "reference"
    rows = int(sample_rows or cfg["sample_rows"])
    seed = cfg["seed"] if seed is None else int(seed)
    started = time.perf_counter()
    current, cur_sampling = sample(frame, rows, seed)
    if population and population[0]:
        cur_sampling = _statement(population[0], len(current), seed)
    current = _prepared(current, uc)
    labelled = uc.target in current.columns
    ref, ref_sampling = (None, None)
    if reference is not None and labelled and uc.target not in reference.columns:
        # Evidently relates the target to each feature in both frames; one without labels cannot take part.
        log.warning("profile %s: the reference has no %r column, so it is left out", title, uc.target)
        reference_name, reference = f"{reference_name} (left out: it has no labels)", None
    if reference is not None and len(reference):
        ref, ref_sampling = sample(reference, rows, seed + 1)
        if population and population[1]:
            ref_sampling = _statement(population[1], len(ref), seed + 1)
        ref = _prepared(ref, uc)[list(current.columns)]
    profiled = [*uc.feature_columns, *([uc.target] if labelled else [])]
    metrics: list[Any] = [DataSummaryPreset(columns=profiled)]
    if labelled:
        metrics += [ColumnCorrelations(column_name=uc.target), ColumnCorrelations(column_name=_target_copy_name(uc))]
    definition = _definition(uc, labelled)
    snapshot = Report(metrics).run(Dataset.from_pandas(current, data_definition=definition),
                                   None if ref is None else Dataset.from_pandas(ref, data_definition=definition))
    summary = {
        "title": title, "use_case": uc.name, "status": "ok", "labelled": labelled,
        "sampling": cur_sampling, "reference": None if ref is None else {"name": reference_name, **ref_sampling},
        "reference_note": None if ref is not None else (reference_name if reference is None else "it is empty"),
        "sampling_text": [_sampling_text("Profiled rows", cur_sampling)]
        + ([_sampling_text(f"Reference ({reference_name})", ref_sampling)] if ref_sampling else []),
        **_summarise(snapshot, uc),
        "built_at": datetime.now(UTC).isoformat(), "seconds": None,
    }
    report = snapshot.get_html_str(as_iframe=False)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return Profile(html=_with_note(report, summary), summary=summary)


def _with_note(report_html: str, summary: dict[str, Any]) -> str:
    """Two lines above Evidently's report: what was profiled, against what, and how it was sampled."""
    e = html.escape
    ref = summary.get("reference")
    against = f"beside {e(ref['name'])}" if ref else f"without a reference ({e(summary['reference_note'])})"
    target = "with the target and its relation to every feature" if summary["labelled"] else \
        "features only (no labels in this data yet)"
    note = ("<div style='font-family:sans-serif;padding:8px 20px;border-bottom:2px solid #888;background:#f6f6f6'>"
            f"<h2>{e(summary['title'] or 'Profile')}</h2><p>{e(target)}, {against}.<br>"
            + "<br>".join(e(t) for t in summary["sampling_text"]) + "</p></div>")
    marker = report_html.find("<body")
    if marker < 0:
        return note + report_html
    end = report_html.find(">", marker) + 1
    return report_html[:end] + note + report_html[end:]


def champion_reference(store: ArtifactStore, uc: UseCase
                       ) -> tuple[pd.DataFrame | None, str, int | None, int | None]:
    """A seeded sample of the champion's training rows (features + 0/1 target), a name for them, their total
    row count and the champion's version; (None, why, None, None) without a champion.

    Read from the run that trained it when its train set still has the sha256 training recorded (sampled in
    Arrow), else rebuilt from the manifest's lineage by the monitoring reference.
    """
    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.serve.scoring import _file_sha256, local_copy
    from include.lifecycle.watch.reference import reference_frame

    cfg = _settings(uc)
    if not cfg["compare_with_champion"]:
        return None, "profiling.compare_with_champion is off", None, None
    registry = registry_for(store, uc)
    version = registry.alias_version("champion")
    if version is None:
        return None, "no champion yet", None, None
    name = f"the training set of champion v{version}"
    run_id = registry.manifest(version).get("run_id")
    if run_id and store.exists(layout.train_set_key(uc, str(run_id))) and store.exists(layout.lineage_key(uc, str(run_id))):
        key = layout.train_set_key(uc, str(run_id))
        expected = store.read_json(layout.lineage_key(uc, str(run_id))).get("train_sha256")
        with local_copy(store, key) as path:
            unchanged = not expected or _file_sha256(path) == expected
        if unchanged:
            frame, total = read_sampled(store, key, cfg["sample_rows"], cfg["seed"] + 1)
            return frame, name, total, version
    frame = reference_frame(store, uc, version, with_scores=False)
    return frame, name, len(frame), version


def _write(store: ArtifactStore, html_key: str, json_key: str, profile: Profile,
           reference_version: int | None) -> dict[str, Any]:
    store.write_text(html_key, profile.html)
    summary = {**profile.summary, "html_key": html_key, "summary_key": json_key}
    store.write_json(json_key, summary)
    return {"status": "ok", "html_key": html_key, "summary_key": json_key, "uri": store.uri(html_key),
            "rows_total": summary["sampling"]["rows_total"], "rows_profiled": summary["sampling"]["rows_profiled"],
            "reference": (summary.get("reference") or {}).get("name") or summary.get("reference_note"),
            "reference_version": reference_version if profile.summary.get("reference") else None,
            "seconds": summary["seconds"]}


def record_failure(store: ArtifactStore, json_key: str, what: str, exc: BaseException) -> dict[str, Any]:
    """Keep a failed profile visible where the profile would be (the console and the summary key show it)."""
    error = f"{type(exc).__name__}: {exc}"
    note = {"status": "failed", "what": what, "error": error[:2000], "summary_key": json_key,
            "failed_at": datetime.now(UTC).isoformat()}
    try:
        store.write_json(json_key, note)
    except Exception as write_exc:  # noqa: BLE001 - the note is best effort; the caller still logs and reports
        log.error("could not record the profile failure at %s: %s", json_key, write_exc)
    return note


def profile_partition(store: ArtifactStore, uc: UseCase, day: Any) -> dict[str, Any]:
    """Profile the accepted rows of ``day`` beside the champion's training set; write HTML + JSON."""
    cfg = _settings(uc)
    frame, total = read_sampled(store, layout.accepted_key(uc, day), cfg["sample_rows"], cfg["seed"])
    reference, ref_name, ref_total, ref_version = champion_reference(store, uc)
    if reference is not None:
        reference = reference.drop(columns=[uc.target], errors="ignore")  # a partition has no labels yet
    profile = profile_frame(frame, uc, reference, reference_name=ref_name, population=(total, ref_total),
                            title=f"{uc.name}: accepted rows of {layout.day_str(day)}")
    return {"date": layout.day_str(day), **_write(store, layout.profile_key(uc, day),
                                                  layout.profile_summary_key(uc, day), profile, ref_version)}


def profile_training_set(store: ArtifactStore, uc: UseCase, run_id: str) -> dict[str, Any]:
    """Profile a run's assembled training set (with the target) beside the champion's training set."""
    cfg = _settings(uc)
    frame, total = read_sampled(store, layout.train_set_key(uc, run_id), cfg["sample_rows"], cfg["seed"])
    reference, ref_name, ref_total, ref_version = champion_reference(store, uc)
    profile = profile_frame(frame, uc, reference, reference_name=ref_name, population=(total, ref_total),
                            title=f"{uc.name}: training set of run {run_id}")
    return {"run_id": run_id, **_write(store, layout.training_profile_key(uc, run_id),
                                       layout.training_profile_summary_key(uc, run_id), profile, ref_version)}
