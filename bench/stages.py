"""One benchmark stage per child process: ``python -m bench.stages <stage> --result FILE [options]``.

A stage imports what the matching Airflow task would import, does the work through the library's public
functions, and writes a JSON result (seconds per phase, rows, its own peak RSS) to ``--result``. The
parent (``bench/run.py``) times the whole child and reads its peak RSS with ``wait4``.

Phase timings come from wrapping the library's module-level functions for the duration of the stage
(``_instrument``): the library code runs unchanged, the wrappers only read the clock, so the numbers
say where the time goes without cProfile's 1.3-2x distortion of Python-heavy code.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import time

_T0 = time.perf_counter()  # first thing: "imports" below are measured from here

import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

PEAK_AFTER: dict[str, int] = {}  # phase -> the process's peak RSS right after it (ru_maxrss only grows)


def _instrument(module: Any, names: list[str], timings: dict[str, float], prefix: str = "") -> None:
    """Replace ``module.<name>`` by a wrapper that adds its wall time to ``timings[prefix + name]``.

    It also records the process's peak RSS after each call, so a stage can say which phase set its peak.
    """
    for name in names:
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args: Any, __original: Any = original, __key: str = prefix + name, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                timings[__key] += time.perf_counter() - started
                PEAK_AFTER[__key] = _peak_rss()

        setattr(module, name, wrapper)


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timings.items()}


def _peak_rss() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _use_case(path: str) -> Any:
    from include.lifecycle.config import load_use_case

    return load_use_case(path)


# -- stages -------------------------------------------------------------------------------------
def stage_lifecycle(args: argparse.Namespace) -> dict[str, Any]:
    """Bench 2 baseline: replay -> acquire -> validate -> labels -> features -> training, one process."""
    t_imp = time.perf_counter()
    from include.lifecycle import steps
    from include.lifecycle.data import acquisition, replay, sources, validation
    from include.lifecycle.model import features
    from include.lifecycle.store import open_store

    imports_s = time.perf_counter() - t_imp
    uc = _use_case(args.uc)
    store = open_store(args.root)
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any, *a: Any) -> Any:
        started = time.perf_counter()
        out = fn(*a)
        timings[name] = round(time.perf_counter() - started, 3)
        return out

    from include.lifecycle.data import suite

    gx: dict[str, float] = defaultdict(float)
    _instrument(suite, ["_gx"], gx)
    timed("deliver_source_batch", replay.publish, store, uc, args.day)
    source = sources.LocalLandingSource(store)
    timed("acquire", acquisition.acquire, store, uc, args.day, source)
    validated = timed("validate", validation.validate_batch, store, uc, args.day)
    labels = timed("ingest_labels", acquisition.ingest_labels, store, uc, args.day, source)
    built = timed("build", features.build_features_partition, store, uc, args.day)
    trained = steps.run_training_lifecycle(store, uc, args.day, args.run_id)
    for key, value in trained["timings_s"].items():
        timings[key] = value
    return {
        "imports_s": round(imports_s, 3),
        "gx_import_s": round(gx["_gx"], 3),
        "steps_s": timings,
        "work_s": round(sum(timings.values()), 3),
        "since_start_s": round(time.perf_counter() - _T0, 3),
        "accepted": validated["accepted"],
        "labels": labels["rows"],
        "features_rows": built["rows"],
        "train_rows": trained["assemble"]["train_rows"],
        "best": trained["best"]["name"],
        "register": trained["register"],
    }


def stage_acquire_validate(args: argparse.Namespace) -> dict[str, Any]:
    """Acquisition + Great Expectations validation + labels of one (large) day, with the phases timed, after the
    imports the platform's scheduler and Celery workers preload for their task processes (GX among them)."""
    import airflow_local_settings  # plugins/: the platform's preload list

    preload_s = round(sum(airflow_local_settings.preload().values()), 3)
    preload_rss = _peak_rss()
    from include.lifecycle.data import acquisition, sources, validation
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    t: dict[str, float] = defaultdict(float)
    from include.lifecycle.data import decide, suite

    # patched where they are called: decide imports its helpers by name, validation imports render_report
    _instrument(decide, ["parse_csv_bytes", "type_columns", "load_suite", "run_suite", "evaluate_suite",
                         "_quarantine_rows", "_accepted_frame"], t, "validate.")
    _instrument(suite, ["_gx"], t, "validate.")
    _instrument(validation, ["render_report"], t, "validate.")
    source = sources.LocalLandingSource(store)
    started = time.perf_counter()
    acquired = acquisition.acquire(store, uc, args.day, source)
    t["acquire"] = time.perf_counter() - started
    started = time.perf_counter()
    validated = validation.validate_batch(store, uc, args.day)
    t["validate (total)"] = time.perf_counter() - started
    t["validate.run_suite (GX validate, without context)"] = t.pop("validate.run_suite") - t["validate._gx"]
    t["validate._gx (GX context)"] = t.pop("validate._gx")
    started = time.perf_counter()
    labels = acquisition.ingest_labels(store, uc, args.day, source)
    t["ingest_labels"] = time.perf_counter() - started
    from include.lifecycle.layout import validation_result_key

    engine = store.read_json(validation_result_key(uc, args.day)).get("parse", {}).get("validation_engine", {})
    engine = {k: v for k, v in engine.items() if k != "gx_evidence"}
    work = t["acquire"] + t["validate (total)"] + t["ingest_labels"]
    return {"phases_s": _rounded(t), "seconds": round(work, 3), "preload_s": preload_s, "preload_rss": preload_rss,
            "engine": engine, "bytes": acquired["bytes"], "status": validated["status"],
            "received": validated["received"], "accepted": validated["accepted"],
            "quarantined": validated["quarantined"], "labels": labels["rows"]}


def stage_acquire(args: argparse.Namespace) -> dict[str, Any]:
    """``acquisition.acquire`` alone: the day's batch copied from the landing area into ``incoming/``."""
    from include.lifecycle.data import acquisition, sources
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    started = time.perf_counter()
    acquired = acquisition.acquire(store, uc, args.day, sources.LocalLandingSource(store))
    return {"phases_s": {"acquire": round(time.perf_counter() - started, 3)}, "bytes": acquired["bytes"]}


def stage_validate(args: argparse.Namespace) -> dict[str, Any]:
    """``validation.validate_batch`` alone on an acquired day, with its phases timed (summed over chunks)."""
    from include.lifecycle import layout
    from include.lifecycle.data import chunks, decide, validation
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    t: dict[str, float] = defaultdict(float)
    _instrument(decide, ["parse_csv_bytes", "type_columns", "run_suite", "evaluate_suite", "_quarantine_rows",
                         "_accepted_frame"], t, "validate.")
    _instrument(chunks, ["_duplicates", "_join"], t, "validate.chunks.")
    started = time.perf_counter()
    validated = validation.validate_batch(store, uc, args.day)
    t["validate (total)"] = time.perf_counter() - started
    parse = store.read_json(layout.validation_result_key(uc, args.day))["parse"]
    return {"phases_s": _rounded(t), "status": validated["status"], "received": validated["received"],
            "accepted": validated["accepted"], "quarantined": validated["quarantined"],
            "chunks": (parse.get("chunks") or {}).get("count", 1)}


def stage_features(args: argparse.Namespace) -> dict[str, Any]:
    from include.lifecycle.model import features
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    t: dict[str, float] = defaultdict(float)
    _instrument(features, ["clean", "clean_table"], t, "features.")
    started = time.perf_counter()
    built = features.build_features_partition(store, uc, args.day)
    t["build (total)"] = time.perf_counter() - started
    return {"phases_s": _rounded(t), "rows": built["rows"]}


def stage_train(args: argparse.Namespace) -> dict[str, Any]:
    """``steps.run_training_lifecycle`` as of ``--day``: every training step in this one process, after the
    imports the platform's scheduler preloads for its task processes (timed apart, outside the steps' clock)."""
    import airflow_local_settings  # plugins/: the platform's preload list, not Airflow's settings

    preload_s = round(sum(airflow_local_settings.preload().values()), 3)
    from include.lifecycle import steps
    from include.lifecycle.model import evaluation, packaging
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    t: dict[str, float] = defaultdict(float)
    _instrument(evaluation, ["bootstrap_ci", "holdout_fingerprint"], t, "evaluate.")
    # The steps import these inside their bodies, from the module: wrapping the module attribute is enough.
    _instrument(packaging, ["risk_qa", "model_card"], t, "package.")
    per_step: dict[str, float] = defaultdict(float)  # timings come from run_training_lifecycle; this is for peaks
    _instrument(steps, ["step_assemble", "step_train_candidate", "step_select_best", "step_evaluate", "step_package",
                        "step_register"], per_step)
    trained = steps.run_training_lifecycle(store, uc, args.day, args.run_id)
    return {"steps_s": trained["timings_s"], "preload_s": preload_s, "inner_s": _rounded(t), "train_rows": trained["assemble"]["train_rows"],
            "holdout_rows": trained["assemble"]["holdout_rows"], "best": trained["best"]["name"],
            "candidates": [{k: c[k] for k in ("name", "cv_score", "best_params", "duration_s")}
                           for c in trained["candidates"]],
            "register": trained["register"]}


def stage_score_stream(args: argparse.Namespace) -> dict[str, Any]:
    """Our path: ``scoring.score_partition`` (Parquet batches -> predict -> ParquetWriter, then publish)."""
    from include.lifecycle.serve import scoring
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    imports_done = time.perf_counter()
    out = scoring.score_partition(store, uc, args.day, args.version, chunk_rows=args.chunk_rows)
    return {"seconds": out["seconds"], "rows": out["rows"], "chunks": out["chunks"],
            "rows_per_s": out["rows"] / out["seconds"], "imports_s": round(imports_done - _T0, 3)}


def stage_score_shadow(args: argparse.Namespace) -> dict[str, Any]:
    """The shadow path: resolve the challenger, then ``shadow.score_shadow`` (own keys, rows marked shadow)."""
    from include.lifecycle.serve import shadow
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    imports_done = time.perf_counter()
    started = time.perf_counter()
    challenger = shadow.resolve_challenger(store, uc)
    if not challenger["eligible"]:  # the bench store's one version is the champion: shadow-score it as itself
        challenger = {"version": args.version}
    out = shadow.score_shadow(store, uc, args.day, challenger)
    return {"seconds": round(time.perf_counter() - started, 3), "rows": out["rows"], "chunks": out["chunks"],
            "imports_s": round(imports_done - _T0, 3)}


def stage_score_inmemory(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline: the whole partition as one DataFrame, then one raw ``model.predict_proba`` call."""
    import pyarrow.parquet as pq

    from include.lifecycle.layout import features_key
    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    model = registry_for(store, uc).load_model(args.version)
    started = time.perf_counter()
    frame = pq.read_table(store.local_path(features_key(uc, args.day)),
                          columns=[uc.id_column, *uc.feature_columns]).to_pandas()
    read_s = time.perf_counter() - started
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    started = time.perf_counter()
    proba = model.predict_proba(frame)
    predict_s = time.perf_counter() - started
    return {"read_s": round(read_s, 3), "predict_s": round(predict_s, 3), "rows": len(frame),
            "rows_per_s": len(frame) / predict_s, "rows_per_s_with_read": len(frame) / (predict_s + read_s),
            "frame_bytes": frame_bytes, "mean_score": float(proba[:, 1].mean())}


def stage_monitor(args: argparse.Namespace) -> dict[str, Any]:
    """Our path: ``monitoring.monitor`` for one day (Evidently on sampled frames + performance + report)."""
    from include.lifecycle.store import open_store
    from include.lifecycle.watch import monitoring

    uc = _use_case(args.uc)
    store = open_store(args.root)
    t: dict[str, float] = defaultdict(float)
    # monitor() imports Evidently on first use; import it here so the step's own time excludes imports, as
    # the baseline's does (its scipy import is outside its clock too). Both imports show in the process wall.
    started = time.perf_counter()
    from evidently import DataDefinition, Dataset, Report  # noqa: F401
    from evidently.metrics import ValueDrift  # noqa: F401
    from evidently.presets import DataDriftPreset  # noqa: F401

    t["evidently import (outside the step's clock)"] = time.perf_counter() - started
    _instrument(monitoring, ["current_window", "_reference_sample", "_run_evidently", "_parse_snapshot",
                             "performance", "upsert_timeseries", "_with_summary"], t, "monitor.")
    started = time.perf_counter()
    result = monitoring.monitor(store, uc, args.day, args.version)
    total = time.perf_counter() - started
    t["monitor (total)"] = total
    t["monitor.other (HTML render, result writes)"] = total - sum(
        v for k, v in t.items() if k.startswith("monitor.") and k != "monitor (total)")
    return {"phases_s": _rounded(t), "seconds": round(total, 3), "sampling": result["sampling"],
            "rows": result["rows"], "reference": result["reference"], "drift_share": result["drift_share"],
            "drifted_columns": result["drifted_columns"], "prediction_drift": result["prediction_drift"],
            "column_drift": result["column_drift"]}


def psi(reference: Any, current: Any, numeric: bool, bins: int = 10) -> float:
    """Population stability index: quantile bins of the reference for numbers, categories otherwise."""
    import numpy as np
    import pandas as pd

    eps = 1e-6
    if numeric:
        ref = reference[~np.isnan(reference)]
        cur = current[~np.isnan(current)]
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        r = np.histogram(ref, edges)[0] / max(len(ref), 1)
        c = np.histogram(cur, edges)[0] / max(len(cur), 1)
    else:
        r_counts = pd.Series(reference).value_counts(normalize=True, dropna=False)
        c_counts = pd.Series(current).value_counts(normalize=True, dropna=False)
        keys = r_counts.index.union(c_counts.index)
        r = r_counts.reindex(keys, fill_value=0).to_numpy()
        c = c_counts.reindex(keys, fill_value=0).to_numpy()
    r = np.clip(r, eps, None)
    c = np.clip(c, eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def stage_drift_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline: PSI per column + scipy KS per numeric column, on the full frames, no sampling, no report."""
    import numpy as np
    import pandas as pd
    from scipy.stats import ks_2samp

    from include.lifecycle.layout import features_key, predictions_key
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    store = open_store(args.root)
    started = time.perf_counter()
    feats = store.read_frame(features_key(uc, args.day), columns=[uc.id_column, *uc.feature_columns])
    preds = store.read_frame(predictions_key(uc, args.day), columns=[uc.id_column, "score"])
    current = feats.merge(preds, on=uc.id_column, how="inner").drop(columns=[uc.id_column])
    reference = pd.read_parquet(args.reference, columns=[*uc.feature_columns, "score"])
    read_s = time.perf_counter() - started
    numeric = set(uc.columns_of_kind("numeric")) | {"score"}
    started = time.perf_counter()
    out = {}
    for col in [*uc.feature_columns, "score"]:
        is_num = col in numeric
        ref = reference[col].to_numpy(dtype="float64") if is_num else reference[col].to_numpy()
        cur = current[col].to_numpy(dtype="float64") if is_num else current[col].to_numpy()
        entry = {"psi": psi(ref, cur, is_num)}
        if is_num:
            entry["ks_p"] = float(ks_2samp(ref[~np.isnan(ref)], cur[~np.isnan(cur)]).pvalue)
        out[col] = entry
    compute_s = time.perf_counter() - started
    return {"read_s": round(read_s, 3), "compute_s": round(compute_s, 3), "seconds": round(read_s + compute_s, 3),
            "current_rows": len(current), "reference_rows": len(reference), "columns": len(out),
            "frame_bytes": int(current.memory_usage(deep=True).sum()),
            "reference_bytes": int(reference.memory_usage(deep=True).sum()), "drift": out}


def stage_score_reference(args: argparse.Namespace) -> dict[str, Any]:
    """Set-up for the drift baseline: the version's training rows scored by itself (``reference.reference_frame``)."""
    from include.lifecycle.store import open_store
    from include.lifecycle.watch import reference

    uc = _use_case(args.uc)
    frame = reference.reference_frame(open_store(args.root), uc, args.version, with_scores=True)
    frame.to_parquet(args.reference, index=False)
    return {"rows": len(frame)}


def stage_profile(args: argparse.Namespace) -> dict[str, Any]:
    """``profile.profile_partition`` on one accepted day; ``--sample-rows`` overrides the YAML's (0: no sampling)."""
    import dataclasses

    from include.lifecycle.data import profile
    from include.lifecycle.store import open_store

    uc = _use_case(args.uc)
    if args.sample_rows is not None:
        raw = {**uc.raw, "profiling": {**uc.raw.get("profiling", {}), "sample_rows": args.sample_rows or 10**9}}
        uc = dataclasses.replace(uc, raw=raw)
    store = open_store(args.root)
    t: dict[str, float] = defaultdict(float)
    started = time.perf_counter()  # Evidently's import outside the step's clock, as in stage_monitor
    from evidently import Report  # noqa: F401
    from evidently.presets import DataSummaryPreset  # noqa: F401

    t["evidently import (outside the step's clock)"] = time.perf_counter() - started
    _instrument(store, ["read_frame"], t, "profile.")
    _instrument(profile, ["sample", "_summarise", "_with_note"], t, "profile.")
    started = time.perf_counter()
    out = profile.profile_partition(store, uc, args.day)
    t["profile (total)"] = time.perf_counter() - started
    return {"phases_s": _rounded(t), "seconds": round(t["profile (total)"], 3), "rows": out["rows_total"],
            "rows_profiled": out["rows_profiled"], "html_bytes": len(store.read_bytes(out["html_key"]))}


def stage_import(args: argparse.Namespace) -> dict[str, Any]:
    """Import cost of ``--modules`` (comma-separated) in a fresh interpreter, after ``--preload``."""
    import importlib
    import warnings

    for name in filter(None, (args.preload or "").split(",")):
        importlib.import_module(name)
    started = time.perf_counter()
    with warnings.catch_warnings():  # as include.lifecycle.model.packaging imports skops: warnings silenced
        warnings.simplefilter("ignore")
        for name in filter(None, args.modules.split(",")):
            importlib.import_module(name)
    return {"seconds": round(time.perf_counter() - started, 3), "since_start_s": round(time.perf_counter() - _T0, 3)}


def stage_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The floor for acquisition + validation: pyarrow's typed CSV read and the same contract as vectorised
    pandas/numpy checks (schema, row count, nulls, unique id, ranges, 0/1, category sets; labels: ids and
    values), accepted rows to Parquet. No quarantine bookkeeping, no report, no GX: the least the work costs."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    uc = _use_case(args.uc)
    root = Path(args.root)
    t: dict[str, float] = {}
    started = time.perf_counter()
    kinds = {c: s["kind"] for c, s in uc.columns.items()}
    types = {uc.id_column: pa.string(), **{c: pa.float64() if k in ("numeric", "binary") else pa.string()
                                          for c, k in kinds.items()}}
    table = pacsv.read_csv(root / f"landing/{uc.name}/batches/{args.day}.csv",
                           convert_options=pacsv.ConvertOptions(column_types=types))
    t["read"] = time.perf_counter() - started
    started = time.perf_counter()
    frame = table.to_pandas()
    val = uc.section("validation")
    bad = np.zeros(len(frame), bool)
    ok = sorted(frame.columns) == sorted([uc.id_column, *uc.columns])
    ok &= int(val.get("min_rows", 1)) <= len(frame) <= int(val.get("max_rows", 10**9))
    ids = frame[uc.id_column]
    bad |= ids.isna().to_numpy() | ids.duplicated(keep=False).to_numpy()
    for col, spec in uc.columns.items():
        series = frame[col]
        null = series.isna().to_numpy()
        if float(spec.get("nullable", 0) or 0) > 0:
            ok &= null.mean() <= float(spec["nullable"]) and not null.all()
        else:
            bad |= null
        if spec["kind"] == "numeric":
            values = series.to_numpy()
            if spec.get("min") is not None:
                bad |= values < spec["min"]
            if spec.get("max") is not None:
                bad |= values > spec["max"]
        elif spec["kind"] == "binary":
            bad |= ~null & ~series.isin([0, 1]).to_numpy()
        else:
            bad |= ~null & ~series.isin(list(spec["values"])).to_numpy()
    accepted = table.filter(pa.array(~bad)) if ok else table.slice(0, 0)
    t["checks"] = time.perf_counter() - started
    started = time.perf_counter()
    out = root / "floor"
    out.mkdir(exist_ok=True)
    pq.write_table(accepted, out / "accepted.parquet")
    t["write"] = time.perf_counter() - started
    started = time.perf_counter()
    labels = pacsv.read_csv(root / f"landing/{uc.name}/labels/{args.day}.csv",
                            convert_options=pacsv.ConvertOptions(column_types={uc.id_column: pa.string(),
                                                                               uc.target: pa.string()})).to_pandas()
    lab_bad = (labels[uc.id_column].isna() | labels[uc.id_column].duplicated(keep=False)
               | ~labels[uc.target].isin([str(v) for v in uc.labels])).to_numpy()
    pq.write_table(pa.Table.from_pandas(labels[~lab_bad], preserve_index=False), out / "labels.parquet")
    t["labels"] = time.perf_counter() - started
    return {"phases_s": _rounded(t), "seconds": round(sum(t.values()), 3), "accepted": accepted.num_rows,
            "quarantined": int(bad.sum()), "batch_ok": bool(ok), "labels": int((~lab_bad).sum())}


STAGES = {
    "lifecycle": stage_lifecycle,
    "acquire_validate": stage_acquire_validate,
    "floor": stage_floor,
    "acquire": stage_acquire,
    "validate": stage_validate,
    "features": stage_features,
    "train": stage_train,
    "score_stream": stage_score_stream,
    "score_inmemory": stage_score_inmemory,
    "score_shadow": stage_score_shadow,
    "monitor": stage_monitor,
    "drift_baseline": stage_drift_baseline,
    "score_reference": stage_score_reference,
    "import": stage_import,
    "profile": stage_profile,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--result", required=True)
    parser.add_argument("--root")
    parser.add_argument("--uc")
    parser.add_argument("--day")
    parser.add_argument("--run-id", default="bench")
    parser.add_argument("--version", type=int)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--sample-rows", type=int)
    parser.add_argument("--reference")
    parser.add_argument("--modules", default="")
    parser.add_argument("--preload", default="")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    result = STAGES[args.stage](args)
    result["peak_rss_bytes"] = _peak_rss()
    result["peak_rss_after_bytes"] = dict(PEAK_AFTER)
    result["stage_s"] = round(time.perf_counter() - _T0, 3)
    Path(args.result).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
