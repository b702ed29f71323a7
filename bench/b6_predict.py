"""Bench 6 — online predict: ``serve.predict.Predictor.predict`` on JSON rows vs raw ``predict_proba``.

The model is the version bench 2/3 train on the bundled data (``fixtures.model_store``), loaded once through
the registry (checksum-verified) and kept by the predictor, as the console's API keeps it. Ours takes JSON-like
dicts (what the API receives), checks the column contract, types the columns (``features.clean``), scores,
applies the threshold and builds the answer. The baseline is the same pipeline's ``predict_proba`` on a
DataFrame that is already typed and in memory, under the same one-thread BLAS/OpenMP limit (the
predictor's cached threadpoolctl controller). Both run
interleaved in one process, after warm-up; latencies are per call (p50 and p99 of many calls).
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench.common import fmt_load, fmt_x, load_average, verdict
from bench.context import Context

NAME = "predict"
TITLE = "6. Online predict latency"
GOAL_RATIO_1000 = 2.0
GOAL_P50_ONE_MS = 30.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def run(ctx: Context) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from bench import fixtures
    from bench.b2_orchestration import USE_CASE_YAML
    from include.lifecycle.config import load_use_case
    from include.lifecycle.model.features import clean
    from include.lifecycle.model.training import compute_threads
    from include.lifecycle.serve.predict import Predictor, check_columns, request_frame
    from include.lifecycle.store import open_store

    info = fixtures.model_store(ctx)
    uc = load_use_case(fixtures.bench_use_case(ctx) if ctx.quick else USE_CASE_YAML)
    store = open_store(str(info["root"]))
    version = int(info["version"])
    predictor = Predictor(store)
    raw = pd.read_csv(uc.data_file, dtype={uc.id_column: str}).sample(n=1000, random_state=6, replace=False)
    cols = [uc.id_column, *uc.columns]
    records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
               for r in raw[cols].to_dict("records")]
    load_start = load_average()
    started = time.perf_counter()
    predictor.predict(uc, records[:1], version=version)  # the one load from the registry, not timed
    first_s = time.perf_counter() - started
    model = predictor.model(uc, predictor_registry(store, uc), version)[0]
    repeats = {1: 30 if ctx.quick else 400, 1000: 5 if ctx.quick else 60}
    out: dict[str, Any] = {"version": version, "first_call_s": first_s, "load_start": load_start, "sizes": {}}
    for size, n in repeats.items():
        rows = records[:size]
        frame = clean(pd.DataFrame.from_records(rows, columns=cols), uc)
        ours, base, check, typing = [], [], [], []
        for _ in range(3):  # warm-up of both paths
            predictor.predict(uc, rows, version=version)
            with predictor._threads.limit(limits=compute_threads()):
                model.predict_proba(frame)
        for _ in range(n):
            t0 = time.perf_counter()
            predictor.predict(uc, rows, version=version)
            t1 = time.perf_counter()
            with predictor._threads.limit(limits=compute_threads()):
                model.predict_proba(frame)
            t2 = time.perf_counter()
            columns = check_columns(uc, rows)  # ours' two own steps again, on their own (where the time goes)
            t3 = time.perf_counter()
            request_frame(uc, columns)
            t4 = time.perf_counter()
            ours.append((t1 - t0) * 1000)
            base.append((t2 - t1) * 1000)
            check.append((t3 - t2) * 1000)
            typing.append((t4 - t3) * 1000)
        out["sizes"][size] = {"calls": n, "ours_p50": _pct(ours, 0.5), "ours_p99": _pct(ours, 0.99),
                              "base_p50": _pct(base, 0.5), "base_p99": _pct(base, 0.99),
                              "ratio_p50": _pct(ours, 0.5) / _pct(base, 0.5),
                              "check_p50": _pct(check, 0.5), "frame_p50": _pct(typing, 0.5)}
        ctx.say(f"predict {size} row(s): ours p50 {_pct(ours, 0.5):.2f} ms vs raw {_pct(base, 0.5):.2f} ms")
    out["loads"] = predictor.loads
    out["load_end"] = load_average()
    ctx.dump("predict", out)
    return out


def predictor_registry(store: Any, uc: Any) -> Any:
    from include.lifecycle.model.registry import registry_for

    return registry_for(store, uc)


def summary(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    one, many = res["sizes"][1], res["sizes"][1000]
    return [("Online predict, 1,000 rows, p50 vs raw predict_proba", fmt_x(many["ratio_p50"]),
             f"<= {GOAL_RATIO_1000}x", verdict(many["ratio_p50"], GOAL_RATIO_1000)),
            ("Online predict, 1 row, p50", f"{one['ours_p50']:.1f} ms", f"<= {GOAL_P50_ONE_MS:.0f} ms",
             verdict(one["ours_p50"], GOAL_P50_ONE_MS))]


def render(res: dict[str, Any]) -> str:
    lines = [
        f"Model v{res['version']} of the bundled-data store, loaded from the registry once "
        f"({res['first_call_s'] * 1000:.0f} ms for the first call, load + checksum included; the predictor "
        f"loaded {res['loads']} time(s) in the whole run). Load average at the start "
        f"{fmt_load(res['load_start'])}, at the end {fmt_load(res['load_end'])}.",
        "",
        "| rows per call | calls | ours p50 | ours p99 | raw predict_proba p50 | raw p99 | ratio (p50) "
        "| of ours: contract check p50 | typing (frame + `clean`) p50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, s in res["sizes"].items():
        lines.append(f"| {int(size):,} | {s['calls']} | {s['ours_p50']:.2f} ms | {s['ours_p99']:.2f} ms | "
                     f"{s['base_p50']:.2f} ms | {s['base_p99']:.2f} ms | {fmt_x(s['ratio_p50'])} | "
                     f"{s.get('check_p50', math.nan):.2f} ms | {s.get('frame_p50', math.nan):.2f} ms |")
    lines += ["", "Ours = contract check of every field (`check_columns`) + typing (`request_frame`: the columns as "
                  "arrays, then `features.clean`) + `predict_proba` + threshold + the answer's dicts; raw = "
                  "`predict_proba` on the already-typed frame. The two own steps are timed again on their own in "
                  "the same loop. HTTP and JSON parsing are not in either number (they are FastAPI's, the same for "
                  "any model server)."]
    return "\n".join(lines)
