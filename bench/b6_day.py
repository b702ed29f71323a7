"""Bench 6 — one 1M-row day through acquisition + validation, features and training, against floors.

Acquisition + validation (our ``validation.validate_batch`` + ``acquisition.ingest_labels``, one process, as
bench 3) is compared with a floor measured in the same run: pyarrow's typed CSV read plus the same contract
as vectorised pandas/numpy checks, accepted rows to Parquet (``bench.stages.stage_floor``). The two run
interleaved, ``ROUNDS`` times each; medians and the ratio of medians are reported. Features has an absolute
goal (seconds); training is judged by what it costs beyond the model fits (``train_candidate`` durations).
"""

from __future__ import annotations

from typing import Any

from bench import b3_scale, fixtures
from bench.common import GIB, fmt_load, fmt_mib, fmt_s, fmt_x, median, ratio, verdict
from bench.context import Context

NAME = "day"
TITLE = "6. A 1M-row day against its floors"
ROUNDS = 3
GOAL_RATIO = 2.0
GOAL_RSS = 1.2 * GIB
GOAL_FEATURES_S = 5.0
GOAL_TRAIN_OVERHEAD = 0.20


def _child(c: Any) -> dict[str, Any]:
    return {"wall_s": c.wall_s, "peak_rss": c.maxrss_bytes, "load": c.load_before, **c.result}


def run(ctx: Context) -> dict[str, Any]:
    uc_path = fixtures.bench_use_case(ctx)
    scale = b3_scale._prepare_scale(ctx)
    root, day, n = scale["root"], fixtures.SCALE_DAY, scale["rows"]
    ours, floor = [], []
    for rep in range(1 if ctx.quick else ROUNDS):
        c = ctx.stage("acquire_validate", f"day-validate-{rep}", 3600, root=root, uc=uc_path, day=day)
        if c.result["accepted"] != n:
            raise RuntimeError(f"validation accepted {c.result['accepted']} of {n} generated rows: {c.result}")
        ours.append(_child(c))
        ctx.say(f"ours {n:,}: {c.wall_s:.1f}s, {fmt_mib(c.maxrss_bytes)}")
        c = ctx.stage("floor", f"day-floor-{rep}", 3600, root=root, uc=uc_path, day=day)
        floor.append(_child(c))
        ctx.say(f"floor {n:,}: {c.wall_s:.1f}s, {fmt_mib(c.maxrss_bytes)}")
    feats = _child(ctx.stage("features", "day-features", 1800, root=root, uc=uc_path, day=day))
    ctx.say(f"features {n:,}: {feats['phases_s']['build (total)']:.1f}s, {fmt_mib(feats['peak_rss'])}")
    train = _child(ctx.stage("train", "day-train", 3600, root=root, uc=uc_path, day=day, run_id="bench-day"))
    steps = train["steps_s"]
    fits = sum(v for k, v in steps.items() if k.startswith("train["))
    total = sum(steps.values())
    ctx.say(f"train {n:,}: total {total:.1f}s, fits {fits:.1f}s")
    ours_s, floor_s = median([o["wall_s"] for o in ours]), median([f["wall_s"] for f in floor])
    return {"rows": n, "csv_bytes": scale["batch_bytes"], "ours": ours, "floor": floor, "ours_s": ours_s,
            "floor_s": floor_s, "ratio": ratio(ours_s, floor_s), "peak_rss": max(o["peak_rss"] for o in ours),
            "features": feats, "features_s": feats["phases_s"]["build (total)"], "train": train,
            "train_total_s": total, "train_fits_s": fits, "train_overhead": (total - fits) / fits if fits else None}


def summary(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (f"Acquisition + validation {res['rows']:,} rows vs pyarrow + vectorised floor", fmt_x(res["ratio"]),
         f"<= {GOAL_RATIO:g}x", verdict(res["ratio"], GOAL_RATIO)),
        ("Acquisition + validation peak RSS", fmt_mib(res["peak_rss"]), "<= 1.2 GiB",
         verdict(res["peak_rss"] / GIB, GOAL_RSS / GIB)),
        (f"Features {res['rows']:,} rows (build_features_partition)", fmt_s(res["features_s"]),
         f"<= {GOAL_FEATURES_S:g} s", verdict(res["features_s"], GOAL_FEATURES_S)),
        ("Training overhead beyond the model fits", f"{res['train_overhead']:.0%}" if res["train_overhead"] is not None
         else "n/a", f"<= {GOAL_TRAIN_OVERHEAD:.0%}",
         verdict(res["train_overhead"], GOAL_TRAIN_OVERHEAD)),
    ]


def _phases(result: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in result.get("phases_s", {}).items())


def render(res: dict[str, Any]) -> str:
    n = res["rows"]
    lines = [f"{n:,} generated rows ({res['csv_bytes'] / 1e6:.0f} MB CSV; `bench.datagen`, bench use case as "
             "bench 3). Each stage is its own process; ours and the floor alternate.", "",
             "| run | ours: wall | ours: peak RSS | floor: wall | floor: peak RSS | load at start (ours) |",
             "|---|---|---|---|---|---|"]
    for i, (o, f) in enumerate(zip(res["ours"], res["floor"], strict=True)):
        lines.append(f"| {i + 1} | {fmt_s(o['wall_s'])} | {fmt_mib(o['peak_rss'])} | {fmt_s(f['wall_s'])} | "
                     f"{fmt_mib(f['peak_rss'])} | {fmt_load(o['load'])} |")
    lines += ["", f"Median {fmt_s(res['ours_s'])} against the floor's {fmt_s(res['floor_s'])}: **{fmt_x(res['ratio'])}** "
              f"(goal <= {GOAL_RATIO:g}x: {verdict(res['ratio'], GOAL_RATIO)}); peak RSS {fmt_mib(res['peak_rss'])}.",
              "", f"Phases, ours (run 1): {_phases(res['ours'][0])}.",
              f"Phases, floor (run 1): {_phases(res['floor'][0])}."]
    eng = res["ours"][0].get("engine") or {}
    if eng:
        lines.append(f"Validation engine (run 1): {eng.get('engine')}; {eng.get('flagged_rows')} rows flagged, "
                     f"{eng.get('evidence_rows')} evidence rows re-validated by GX, GX agrees: {eng.get('gx_agrees')}.")
    f = res["features"]
    lines += ["", f"Features: build {fmt_s(res['features_s'])} in a process of {fmt_s(f['wall_s'])} wall, peak "
              f"{fmt_mib(f['peak_rss'])}; phases {_phases(f)}.", ""]
    t = res["train"]
    lines.append(f"Training: steps {', '.join(f'{k} {v:.1f}' for k, v in t['steps_s'].items())} (s); fits "
                 f"{fmt_s(res['train_fits_s'])} of {fmt_s(res['train_total_s'])}: overhead "
                 f"{res['train_overhead']:.0%}; inner {', '.join(f'{k} {v:.1f}' for k, v in t['inner_s'].items())}; "
                 f"peak {fmt_mib(t['peak_rss'])}.")
    return "\n".join(lines)
