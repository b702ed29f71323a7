"""The benchmark suite: ``python bench/run.py`` runs all, ``--quick`` a CI smoke, ``--only NAME`` one.

    .venv/bin/python bench/run.py                      # everything, writes bench/RESULTS.md (~25 min)
    .venv/bin/python bench/run.py --quick              # tiny sizes, no Airflow, checks that it all runs (<2 min)
    .venv/bin/python bench/run.py --only scale,drift   # some of: parse, orchestration, scale, drift, scaleout, predict, day, profile, shadow, footprint, backfill

Every benchmark measures our path and its baseline in the same run, repeats, and reports medians and the
ratio, next to the load average at the time (the machine may be shared). Scratch data goes to bench/out/
(git-ignored). A full run writes bench/RESULTS.md and bench/out/full/results.json; ``--quick`` and
``--only`` write under their work directory unless ``--results`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "plugins")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench import (  # noqa: E402
    b1_parse,
    b2_orchestration,
    b3_scale,
    b4_drift,
    b5_scaleout,
    b6_day,
    b6_predict,
    b7_profile,
    b8_shadow,
    b9_footprint,
    b10_backfill,
    b11_bigday,
)
from bench.common import fmt_load, load_average, machine  # noqa: E402
from bench.context import Context, rel  # noqa: E402

BENCHES = {m.NAME: m for m in (b1_parse, b2_orchestration, b3_scale, b4_drift, b5_scaleout, b6_day, b6_predict, b7_profile,
                               b8_shadow, b9_footprint, b10_backfill, b11_bigday)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Lifecycle benchmarks", formatter_class=argparse.RawTextHelpFormatter,
                                     epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, Airflow parts skipped, nothing asserted")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default bench/out/full or bench/out/quick)")
    parser.add_argument("--results", type=Path, help="where to write the Markdown results")
    parser.add_argument("--keep", action="store_true", help="reuse the work directory instead of wiping it")
    return parser.parse_args(argv)


def render(meta: dict[str, Any], sections: list[dict[str, Any]]) -> str:
    m = meta["machine"]
    pkgs = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{meta['command']}` on {meta['date']} (total {meta['total_s'] / 60:.1f} min"
        f"{', QUICK smoke run: tiny sizes, numbers mean nothing' if meta['quick'] else ''}).",
        "",
        f"- Machine: {m.get('cores')} cores, {m.get('cpu_model', '?')}, memory {m.get('MemTotal', '?')} "
        f"(available at start {m.get('MemAvailable', '?')}), {m.get('platform')}",
        f"- Load average (1/5/15 min) at start: {fmt_load(meta['load_start'])}; at the end: {fmt_load(meta['load_end'])}. "
        "The machine may be shared with other work: every measurement below carries the load average at its start.",
        f"- Python {m.get('python')}; {pkgs}",
        "- Timings are wall-clock; peak memory is the `ru_maxrss` of the measured process (`os.wait4`).",
        "",
        "## Summary",
        "",
        "| benchmark | result | goal | verdict |",
        "|---|---|---|---|",
    ]
    for s in sections:
        for row in s.get("summary", []):
            verdict = "smoke only" if meta["quick"] and row[3] != "**failed**" else row[3]
            lines.append(f"| {row[0]} | {row[1]} | {row[2]} | {verdict} |")
    for s in sections:
        lines += ["", f"## {s['title']}", ""]
        lines.append(s["body"])
    return "\n".join(lines) + "\n"


def summary_rows(name: str, res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    from bench.common import GIB, fmt_mib, fmt_x, verdict

    if name == "parse":
        return [("DAG parse, worst file vs trivial DAG (worse of wall and CPU)",
                 f"{fmt_x(res['worst_ratio'])} ({res['worst']}: wall {fmt_x(res['worst_wall'])}, "
                 f"CPU {fmt_x(res['worst_cpu'])})", f"<= {b1_parse.GOAL}x", verdict(res["worst_ratio"], b1_parse.GOAL))]
    if name == "orchestration":
        if res["skipped"]:
            return [("Orchestration overhead", "Airflow side skipped (--quick)", "<= 1.5x", "not measured")]
        rows = [("Training lifecycle under Airflow vs one process", fmt_x(res["ratio"]), "<= 1.5x",
                 verdict(res["ratio"], 1.5))]
        if res.get("preload_off"):
            rows.append(("Same, without the scheduler's preload (`LIFECYCLE_PRELOAD=0`, same run)",
                         fmt_x(res["preload_off"]["ratio"]), "measured (A/B)", "measured"))
        return rows
    if name == "scale":
        sc = res["scoring"]
        return [(f"Scoring {sc['rows']:,} rows, streaming vs in-memory predict_proba", fmt_x(sc["ratio"]), ">= 0.8x",
                 verdict(sc["ratio"], 0.8, higher_is_better=True)),
                ("Streaming scorer peak RSS", fmt_mib(sc["stream_peak_rss"]), "<= 1 GiB",
                 verdict(sc["stream_peak_rss"] / GIB, 1.0))]
    if name == "drift":
        return [(f"Monitoring step at {res['rows']:,} rows vs numpy/scipy PSI+KS", fmt_x(res["ratio"]), "<= 2x",
                 verdict(res["ratio"], 2.0)),
                ("Monitoring peak RSS / frame size", fmt_x(res["rss_ratio"]), "<= 2x", verdict(res["rss_ratio"], 2.0))]
    if name == "profile":
        return b7_profile.summary(res)
    if name == "shadow":
        return b8_shadow.summary(res)
    if name == "day":
        return b6_day.summary(res)
    if name == "scaleout":
        if res.get("skipped"):
            return [("Scale-out 2 vs 1 Celery worker", "not run", ">= 1.6x", "not measured")]
        rows = [("Scale-out 2 vs 1 Celery worker (fan-out span)", fmt_x(res["speedup"]), ">= 1.6x",
                 verdict(res["speedup"], 1.6, higher_is_better=True))]
        if res.get("niced"):
            rows.append(("Scale-out 2 vs 1, rest of the platform at nice 19", fmt_x(res["niced"]["speedup"]),
                         ">= 1.6x", verdict(res["niced"]["speedup"], 1.6, higher_is_better=True)))
        return rows
    if name == "predict":
        return b6_predict.summary(res)
    if name == "footprint":
        return b9_footprint.summary(res)
    if name == "backfill":
        return b10_backfill.summary(res)
    if name == "bigday":
        return b11_bigday.summary(res)
    return []


def across(raw: dict[str, Any]) -> str:
    """Projections that combine two benchmarks' numbers (labelled as projections, not measurements)."""
    orch, scale = raw.get("orchestration") or {}, raw.get("scale") or {}
    if not orch.get("airflow_wall_s") or not scale.get("stages"):
        return ""
    fixed = orch["airflow_wall_s"] - orch["baseline_work_s"]
    work = sum(s["wall_s"] for s in scale["stages"])
    return (f"Projection, not a measurement: bench 2's fixed orchestration cost per lifecycle run "
            f"({fixed:.1f} s = Airflow wall - in-process work on the bundled partition) added to bench 3's "
            f"{scale['rows']:,}-row stage times ({work:.1f} s of acquisition, validation, features and training) "
            f"would put the same lifecycle at about {(work + fixed) / work:.2f}x under Airflow — the overhead is a "
            f"per-task constant, so the ratio falls as partitions grow.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}", file=sys.stderr)
        return 2
    workdir = args.workdir or ROOT / "bench" / "out" / ("quick" if args.quick else "full")
    if workdir.exists() and not args.keep and not args.only:
        shutil.rmtree(workdir)
    full = not args.quick and names == list(BENCHES)
    results_path = args.results or (ROOT / "bench" / "RESULTS.md" if full else workdir / "RESULTS.md")
    ctx = Context(workdir=workdir, quick=args.quick, log_file=workdir / "run.log")
    meta: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick,
                            "command": "python bench/run.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
                            "load_start": load_average(), "machine": machine()}
    ctx.say(f"benchmarks {names} in {workdir} (quick={args.quick})")
    sections, raw, failed = [], {}, []
    for name in names:
        module = BENCHES[name]
        started = time.perf_counter()
        ctx.say(f"== {module.TITLE}")
        try:
            res = module.run(ctx)
            body = module.render(res)
            summary = summary_rows(name, res)
            raw[name] = res
        except Exception as exc:  # noqa: BLE001 - one failing benchmark must not hide the others' numbers
            failed.append(name)
            body = f"**Failed**: {exc!r}\n\n```\n{traceback.format_exc()[-4000:]}\n```"
            summary = [(module.TITLE, "failed", "", "**failed**")]
            raw[name] = {"error": repr(exc)}
            ctx.say(f"{name} FAILED: {exc!r}")
        took = time.perf_counter() - started
        ctx.say(f"== {name} done in {took:.0f}s")
        sections.append({"title": f"{module.TITLE} ({took / 60:.1f} min)", "body": body, "summary": summary})
    cross = across(raw)
    if cross:
        sections.append({"title": "Across benchmarks", "body": cross, "summary": []})
    meta["total_s"] = time.perf_counter() - ctx.started
    meta["load_end"] = load_average()
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(render(meta, sections))
    (workdir / "results.json").write_text(json.dumps({"meta": meta, "results": raw}, indent=2, default=str))
    ctx.say(f"wrote {rel(results_path)} and {rel(workdir / 'results.json')} in {meta['total_s'] / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
