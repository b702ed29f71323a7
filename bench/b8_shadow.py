"""Bench 8 — what shadow scoring adds per partition: ``shadow.score_shadow`` vs the champion's own
``scoring.score_partition`` on the same 1M-row features partition, in separate processes, alternating.

The bench store holds one registered version, so the shadow path scores that same version: the ratio is the
cost of the shadow path itself (challenger resolution, its own keys, the ``shadow`` column), not of a slower
model. A challenger with a costlier estimator costs what that estimator costs to score; the goal is <= 1.0x of
the champion's own scoring with equal models (+10% for noise on a shared machine). The daily live comparison is
a separate, label-sized cost, not measured here.
"""

from __future__ import annotations

from typing import Any

from bench import datagen, fixtures
from bench.common import fmt_load, fmt_s, fmt_x, median, ratio, verdict
from bench.context import Context

NAME = "shadow"
TITLE = "8. Shadow scoring cost"
GOAL = 1.1
DAY = "2031-02-01"


def run(ctx: Context) -> dict[str, Any]:
    from include.lifecycle.config import load_use_case
    from include.lifecycle.layout import features_key
    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.store import open_store

    store_info = fixtures.model_store(ctx)
    root, version = store_info["root"], store_info["version"]
    uc_path = fixtures.bench_use_case(ctx)
    uc = load_use_case(uc_path)
    registry = registry_for(open_store(str(root)), uc)
    if registry.alias_version("champion") is None:
        registry.promote(version, actor="bench")
    rows = 20_000 if ctx.quick else 1_000_000
    datagen.write_features_parquet(uc, root / features_key(uc, DAY), rows, seed=9, id_prefix="S")
    runs: dict[str, list[dict[str, Any]]] = {"champion": [], "shadow": []}
    for rep in range(1 if ctx.quick else 3):
        for path, stage in (("champion", "score_stream"), ("shadow", "score_shadow")):
            child = ctx.stage(stage, f"shadow-{path}-{rep}", 1800, root=root, uc=uc_path, day=DAY, version=version)
            runs[path].append({"seconds": child.result["seconds"], "wall_s": child.wall_s, "load": child.load_before})
            ctx.say(f"{path} rep {rep}: {child.result['seconds']:.1f}s for {child.result['rows']:,} rows")
    ours, base = median([r["seconds"] for r in runs["shadow"]]), median([r["seconds"] for r in runs["champion"]])
    return {"rows": rows, "runs": runs, "shadow_s": ours, "champion_s": base, "ratio": ratio(ours, base)}


def summary(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(f"Shadow scoring of a {res['rows']:,}-row partition vs the champion's own scoring",
             fmt_x(res["ratio"]), f"<= {GOAL:g}x", verdict(res["ratio"], GOAL))]


def render(res: dict[str, Any]) -> str:
    def row(label: str, runs: list[dict[str, Any]]) -> str:
        return (f"| {label} | {fmt_s(median([r['seconds'] for r in runs]))} | "
                + "; ".join(f"{r['seconds']:.1f} s (load {fmt_load(r['load'])})" for r in runs) + " |")

    return "\n".join([
        f"Features partition: {res['rows']:,} generated rows; the same registered version on both paths.", "",
        "| path | median in-process | runs |", "|---|---|---|",
        row("ours: `shadow.score_shadow` (resolve challenger, own keys, shadow column)", res["runs"]["shadow"]),
        row("baseline: the champion's `scoring.score_partition`", res["runs"]["champion"]), "",
        f"Ratio **{fmt_x(res['ratio'])}** (goal <= {GOAL:g}x: {verdict(res['ratio'], GOAL)}).",
    ])
