"""Bench 11 — a 10M-row day end to end: acquisition -> validation -> features -> scoring -> monitoring.

Each stage is the library call a task makes, in its own process (as a task process), one after the other on
one generated 10,000,000-row day (``bench.datagen``, bench use case as bench 3); each stage's wall time and
peak RSS (``ru_maxrss`` via ``os.wait4``) are reported, with the RSS right after each timed phase so a
miss names where the memory went. The model is the one bench 6 trained and registered on its 1M-row day
(in the same store); run alone, this bench prepares and trains that day first. Goal: every stage <= 2 GiB.
"""

from __future__ import annotations

import time
from typing import Any

from bench import b3_scale, datagen, fixtures
from bench.common import GIB, fmt_load, fmt_mib, fmt_s, verdict
from bench.context import Context

NAME = "bigday"
TITLE = "11. A 10M-row day end to end"
DAY = "2030-04-01"
GOAL_RSS = 2 * GIB
STAGES = [("acquisition", "acquire"), ("validation", "validate"), ("features", "features"),
          ("scoring", "score_stream"), ("monitoring", "monitor")]


def _model(ctx: Context, uc_path: Any) -> dict[str, Any]:
    """The store and version bench 6 left (its 1M-row day trained and registered), or the same made here."""
    if "day_store" in ctx.cache:
        return ctx.cache["day_store"]
    scale = b3_scale._prepare_scale(ctx)
    root, day = scale["root"], fixtures.SCALE_DAY
    ctx.stage("acquire_validate", "bigday-prep-validate", 3600, root=root, uc=uc_path, day=day)
    ctx.stage("features", "bigday-prep-features", 1800, root=root, uc=uc_path, day=day)
    train = ctx.stage("train", "bigday-prep-train", 3600, root=root, uc=uc_path, day=day, run_id="bench-bigday")
    ctx.cache["day_store"] = {"root": root, "version": train.result["register"]["version"]}
    return ctx.cache["day_store"]


def run(ctx: Context) -> dict[str, Any]:
    from include.lifecycle.config import load_use_case

    uc_path = fixtures.bench_use_case(ctx)
    model = _model(ctx, uc_path)
    root, version = model["root"], model["version"]
    rows = 20_000 if ctx.quick else 10_000_000
    uc = load_use_case(uc_path)
    started = time.perf_counter()
    info = datagen.write_source_csv(uc, root / f"landing/churn/batches/{DAY}.csv",
                                    root / f"landing/churn/labels/{DAY}.csv", rows, seed=11, id_prefix="B")
    gen_s = time.perf_counter() - started
    ctx.say(f"bigday: generated {rows:,} source rows in {gen_s:.0f}s ({info['batch_bytes'] / 1e6:.0f} MB CSV)")
    stages = []
    try:
        for label, stage in STAGES:
            extra = {"version": version} if stage in ("score_stream", "monitor") else {}
            child = ctx.stage(stage, f"bigday-{stage}", 3600, root=root, uc=uc_path, day=DAY, **extra)
            stages.append({"stage": label, "wall_s": child.wall_s, "peak_rss": child.maxrss_bytes,
                           "load": child.load_before, "result": child.result})
            ctx.say(f"bigday {label}: {child.wall_s:.1f}s, {fmt_mib(child.maxrss_bytes)}")
            if stage == "validate" and child.result["accepted"] != rows:
                raise RuntimeError(f"validation accepted {child.result['accepted']} of {rows} rows: {child.result}")
    finally:
        for sub in ("landing", "incoming", "raw", "features", "predictions"):  # ~3 GB of scratch: not kept
            for path in root.glob(f"{sub}/churn/**/*{DAY}*"):
                _remove(path)
    return {"rows": rows, "csv_bytes": info["batch_bytes"], "gen_s": gen_s, "version": version, "stages": stages,
            "worst": max(stages, key=lambda s: s["peak_rss"])}


def _remove(path: Any) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def summary(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    over = [s["stage"] for s in res["stages"] if s["peak_rss"] > GOAL_RSS]
    shown = ", ".join(f"{s['stage']} {fmt_mib(s['peak_rss'])} / {fmt_s(s['wall_s'], 1)}" for s in res["stages"])
    return [(f"A {res['rows']:,}-row day end to end, peak RSS / wall per stage", shown, "<= 2 GiB per stage",
             verdict(res["worst"]["peak_rss"] / GIB, GOAL_RSS / GIB)
             + (f" ({', '.join(over)} over)" if over else ""))]


def _peaks(result: dict[str, Any]) -> str:
    after = result.get("peak_rss_after_bytes") or {}
    return ", ".join(f"{k} {fmt_mib(v)}" for k, v in after.items()) or "-"


def render(res: dict[str, Any]) -> str:
    lines = [f"{res['rows']:,} generated rows ({res['csv_bytes'] / 1e6:.0f} MB CSV, generated in {res['gen_s']:.0f} s), "
             f"scored by version {res['version']} (bench 6's model). One process per stage, in lifecycle order.", "",
             "| stage | wall | peak RSS | goal | peak RSS after each phase | load at start |", "|---|---|---|---|---|---|"]
    for s in res["stages"]:
        lines.append(f"| {s['stage']} | {fmt_s(s['wall_s'], 1)} | {fmt_mib(s['peak_rss'])} | "
                     f"{verdict(s['peak_rss'] / GIB, GOAL_RSS / GIB)} | {_peaks(s['result'])} | {fmt_load(s['load'])} |")
    phases = "; ".join(f"{s['stage']}: " + ", ".join(f"{k} {v:.1f}" for k, v in s["result"].get("phases_s", {}).items())
                       for s in res["stages"] if s["result"].get("phases_s"))
    validated = next((s["result"] for s in res["stages"] if s["stage"] == "validation"), {})
    if validated.get("chunks", 1) > 1:
        lines += ["", f"Validation streamed the batch from the store in {validated['chunks']} record-aligned chunks "
                      "(`include/lifecycle/data/chunks.py`); its phase times are summed over them."]
    lines += ["", f"Phases (s): {phases}."]
    return "\n".join(lines)
