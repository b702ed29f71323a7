"""Bench 2 — orchestration overhead: the training lifecycle under Airflow vs the same calls in one process.

Airflow side: a real platform (``scripts/lifecycle_platform.Platform``: API server, scheduler, DAG processor,
triggerer; SQLite, LocalExecutor, parallelism 4 — what ``make run`` starts) in a temporary home on a free
port with a temporary artifact root. Trigger ``data_acquisition`` for the labelled history partition;
``feature_engineering`` follows on the asset; then trigger ``model_training`` and stop the clock when task
``register`` succeeds (the SME gate comes after; the run is then marked failed so the next one can start).

Baseline: one ``python -m bench.stages lifecycle`` process calling the same library functions in the same
order (replay.publish, acquisition.acquire, validation.validate_batch, acquisition.ingest_labels,
features.build_features_partition, steps.run_training_lifecycle), interpreter start and imports included.

Order: baseline, start platform, Airflow x N, stop platform, baseline — the platform's idle scheduler
loop never runs beside a baseline.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from bench import airflow_client as ac
from bench import fixtures
from bench.common import PROJECT_ROOT, fmt_load, fmt_s, fmt_x, load_average, median, ratio, verdict
from bench.context import Context

NAME = "orchestration"
TITLE = "2. Orchestration overhead (training lifecycle under Airflow vs one process)"
GOAL = 1.5
DAY = "2025-12-31"
USE_CASE_YAML = str(PROJECT_ROOT / "include" / "config" / "churn.yaml")
# Airflow task -> the library step the baseline times for it (None: glue with no library work).
STEP_OF = {
    ("churn__data_acquisition", "deliver_source_batch"): "deliver_source_batch",
    ("churn__data_acquisition", "acquire"): "acquire",
    ("churn__data_acquisition", "validate"): "validate",
    ("churn__data_acquisition", "ingest_labels"): "ingest_labels",
    ("churn__data_acquisition", "publish"): None,
    ("churn__feature_engineering", "build_features"): "build",
    ("churn__feature_engineering", "reconcile"): None,
    ("churn__model_training", "assemble"): "assemble",
    ("churn__model_training", "select_best"): "select_best",
    ("churn__model_training", "evaluate"): "evaluate",
    ("churn__model_training", "package"): "package",
    ("churn__model_training", "register"): "register",
}
# What each task imports beyond the task runner (the LocalExecutor forks a worker that has Airflow loaded;
# the task process then loads the DAG file and these).
TASK_IMPORTS = {
    "deliver_source_batch / acquire / ingest_labels": "include.lifecycle.data.replay,include.lifecycle.data.acquisition",
    "validate": "include.lifecycle.data.validation,great_expectations",
    "build (features)": "include.lifecycle.model.features",
    "select_best / register": "include.lifecycle.steps",
    "assemble": "include.lifecycle.steps,include.lifecycle.model.training",
    "train_candidate / evaluate / package (scikit-learn + skops)": (
        "include.lifecycle.steps,include.lifecycle.model.training,include.lifecycle.model.evaluation,include.lifecycle.model.packaging,"
        "skops.io"),
}


def baseline(ctx: Context, tag: str) -> dict[str, Any]:
    root = ctx.workdir / "orchestration" / f"store-{tag}"
    shutil.rmtree(root, ignore_errors=True)
    # --quick: the bench YAML (one candidate, one grid point, 20 bootstrap samples) to stay under 2 minutes.
    uc = fixtures.bench_use_case(ctx) if ctx.quick else USE_CASE_YAML
    child = ctx.stage("lifecycle", f"orch-baseline-{tag}", 900, root=root, uc=uc, day=DAY, run_id=f"bench-{tag}")
    ctx.say(f"baseline {tag}: {child.wall_s:.1f}s wall (work {child.result['work_s']}s, "
            f"imports {child.result['imports_s']}s)")
    return {"wall_s": child.wall_s, "load": child.load_before, "peak_rss": child.maxrss_bytes, **child.result}


def airflow_once(ctx: Context, api: Any, rep: int, home: Path) -> dict[str, Any]:
    load = load_average()
    t0 = time.time()
    acq_run = api.trigger("churn__data_acquisition", user="admin", partition_key=DAY)
    ac.wait_run(api, "churn__data_acquisition", acq_run, 900)
    fe = ac.wait_asset_run(api, "churn__feature_engineering", t0, 600)
    fe_end = ac.ts(fe["end_date"])
    t1 = time.time()
    tr_run = api.trigger("churn__model_training", {"partition_date": DAY, "note": f"bench rep {rep}"}, user="admin")
    ac.wait_task(api, "churn__model_training", tr_run, "register", 1200)
    rows = (ac.task_rows(api, "churn__data_acquisition", acq_run) + ac.task_rows(api, "churn__feature_engineering", fe["dag_run_id"])
            + ac.task_rows(api, "churn__model_training", tr_run))
    ac.end_run(api, "churn__model_training", tr_run)
    run_of = {"churn__data_acquisition": acq_run, "churn__feature_engineering": fe["dag_run_id"], "churn__model_training": tr_run}
    for row in rows:
        row["log"] = task_log_profile(home, row, run_of[row["dag"]]) if row["end"] else None
    register_end = next(r["end"] for r in rows if r["dag"] == "churn__model_training" and r["task"] == "register")
    handoff = t1 - fe_end  # the benchmark's own polling before it triggers training: not Airflow's cost
    wall = (register_end - t0) - handoff
    # Only spans Airflow owns: trigger -> features end, training trigger -> register end.
    spans = [(t0, fe_end), (t1, register_end)]
    busy = sum(ac.busy_seconds(rows, s, e) for s, e in spans)
    ctx.say(f"airflow rep {rep}: {wall:.1f}s (busy {busy:.1f}s, handoff by the bench {handoff:.1f}s)")
    return {"wall_s": wall, "acq_features_s": fe_end - t0, "training_s": register_end - t1, "handoff_s": handoff,
            "busy_s": busy, "idle_s": wall - busy, "rows": rows, "load": load,
            "runs": {"churn__data_acquisition": acq_run, "churn__feature_engineering": fe["dag_run_id"], "churn__model_training": tr_run}}


def task_log_profile(home: Path, row: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    """What one task process did, from its own log: DAG parse, execute() span, warning lines and their span.

    ``execute`` runs from the end of the "Pre Execute" group to "Done. Returned value"; it holds the task's
    imports and its work. Warning lines are counted because each becomes a structured log record sent
    through the supervisor — a cost the same code does not have outside Airflow.
    """
    folder = home / "logs" / f"dag_id={row['dag']}" / f"run_id={run_id}" / f"task_id={row['task_id']}"
    if row["map_index"] >= 0:
        folder = folder / f"map_index={row['map_index']}"
    path = folder / "attempt=1.log"
    if not path.exists():
        return None
    parse_ms, exec_start, done, first = None, None, None, None
    warn_n, warn_first, warn_last = 0, None, None
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        stamp = ac.ts(rec.get("timestamp"))
        event = str(rec.get("event", ""))
        first = first or stamp
        if event == "Worker startup parse complete":
            parse_ms = rec.get("dag_file_parse_ms")
        elif event == "::endgroup::" and exec_start is None:
            exec_start = stamp
        elif event.startswith("Done. Returned value"):
            done = stamp
        elif rec.get("level") == "warning":
            warn_n += 1
            warn_first = warn_first or stamp
            warn_last = stamp
    return {"dag_parse_s": None if parse_ms is None else parse_ms / 1000,
            "execute_s": None if exec_start is None or done is None else done - exec_start,
            "warnings": warn_n, "warnings_span_s": 0.0 if warn_first is None else warn_last - warn_first}


def import_costs(ctx: Context) -> dict[str, Any]:
    """Fresh-interpreter import costs: what a task process pays on top of the work itself."""
    out = {}
    runner = "airflow.sdk.execution_time.task_runner"
    child = ctx.stage("import", "import-runner", 300, modules=runner)
    out["interpreter + airflow task runner (not paid per task: the LocalExecutor forks a loaded worker)"] = (
        child.result["since_start_s"])
    for label, modules in TASK_IMPORTS.items():
        child = ctx.stage("import", f"import-{label.split()[0].strip('/')}", 300, modules=modules, preload=runner)
        out[label] = child.result["seconds"]
    return out


def platform_runs(ctx: Context, reps: int, tag: str, extra_env: dict[str, str]) -> tuple[list[dict[str, Any]], float]:
    """``reps`` lifecycle runs on a fresh platform (its own home and store); the runs and the platform's start."""
    from scripts.lifecycle_platform import Platform, free_port

    home = ctx.workdir / "orchestration" / f"airflow-home{tag}"
    store = ctx.workdir / "orchestration" / f"airflow-store{tag}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    plat = Platform(home=home, port=free_port(), extra_env={"LIFECYCLE_ARTIFACT_ROOT": str(store), **extra_env})
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    try:
        plat.start(timeout=300)
        start_s = time.perf_counter() - started
        ctx.say(f"platform{tag} ready in {start_s:.0f}s on port {plat.port}")
        api = ac.client(plat)
        for rep in range(1, reps + 1):
            runs.append(airflow_once(ctx, api, rep, home))
    finally:
        plat.stop()
        ctx.say(f"platform{tag} stopped")
    return runs, start_s


def run(ctx: Context) -> dict[str, Any]:
    reps = 1 if ctx.quick else 2
    base = [baseline(ctx, "1")]
    airflow_runs: list[dict[str, Any]] = []
    off_runs: list[dict[str, Any]] = []
    platform_start_s = None
    skipped = None
    if ctx.quick:
        skipped = "--quick: the Airflow half is not run (a platform start alone takes 30-90 s); run `make bench`"
    else:
        # A/B of the preload (plugins/airflow_local_settings.py): the same runs with it switched off first.
        off_runs, _ = platform_runs(ctx, reps, "-no-preload", {"LIFECYCLE_PRELOAD": "0"})
        airflow_runs, platform_start_s = platform_runs(ctx, reps, "", {})
        base.append(baseline(ctx, "2"))
    imports = {} if ctx.quick else import_costs(ctx)
    res = summarize(base, airflow_runs, imports, platform_start_s, skipped)
    if off_runs:
        off = median([r["wall_s"] for r in off_runs])
        res["preload_off"] = {"airflow_wall_s": off, "ratio": ratio(off, res["baseline_wall_s"]),
                              "runs": [{k: v for k, v in r.items() if k != "rows"} for r in off_runs],
                              "tasks": summarize(base, off_runs, {}, None, None)["tasks"]}
    return res


def summarize(base: list[dict[str, Any]], runs: list[dict[str, Any]], imports: dict[str, Any],
              platform_start_s: float | None, skipped: str | None) -> dict[str, Any]:
    base_wall = median([b["wall_s"] for b in base])
    base_work = median([b["work_s"] for b in base])
    step_median = {k: median([b["steps_s"].get(k) for b in base]) for k in base[0]["steps_s"]}
    af_wall = median([r["wall_s"] for r in runs]) if runs else None
    tasks: list[dict[str, Any]] = []
    if runs:
        keys = [(r["dag"], r["task"]) for r in runs[0]["rows"]]
        for dag, task in keys:
            durs, waits, parse, execute, warns, warn_s = [], [], [], [], [], []
            for run in runs:
                row = next((r for r in run["rows"] if r["dag"] == dag and r["task"] == task), None)
                if row and row["start"] and row["end"]:
                    durs.append(row["end"] - row["start"])
                    if row["queued"]:
                        waits.append(row["start"] - row["queued"])
                    prof = row.get("log") or {}
                    parse.append(prof.get("dag_parse_s"))
                    execute.append(prof.get("execute_s"))
                    warns.append(prof.get("warnings"))
                    warn_s.append(prof.get("warnings_span_s"))
            if not durs:
                continue  # the SME gate and promote never start in this benchmark
            tid = task.split("[")[0]
            step = STEP_OF.get((dag, tid))
            if tid == "train_candidate":
                step = f"train[{task.split('[', 1)[1].rstrip(']')}]"
            inproc = step_median.get(step) if step else 0.0
            dur = median(durs)
            tasks.append({"dag": dag, "task": task, "duration_s": dur, "queue_wait_s": median(waits),
                          "step_s": inproc, "overhead_s": None if dur is None or inproc is None else dur - inproc,
                          "dag_parse_s": median(parse), "execute_s": median(execute), "warnings": median(warns),
                          "warnings_span_s": median(warn_s)})
    return {
        "goal": GOAL, "baseline": [{k: v for k, v in b.items() if k != "register"} for b in base],
        "baseline_wall_s": base_wall, "baseline_work_s": base_work, "steps_s": step_median,
        "airflow": [{k: v for k, v in r.items() if k != "rows"} for r in runs], "airflow_wall_s": af_wall,
        "ratio": ratio(af_wall, base_wall), "ratio_vs_work": ratio(af_wall, base_work), "tasks": tasks,
        "imports_s": imports, "platform_start_s": platform_start_s, "skipped": skipped,
        "busy_s": median([r["busy_s"] for r in runs]) if runs else None,
        "idle_s": median([r["idle_s"] for r in runs]) if runs else None,
    }


def analysis(res: dict[str, Any]) -> list[str]:
    """Why the goal is missed and what in our code would still cut it, from this run's numbers."""
    tasks = res["tasks"]
    glue = [t for t in tasks if t["step_s"] == 0.0]
    glue_s = sum(t["duration_s"] or 0 for t in glue)
    storm = [t for t in tasks if (t["warnings"] or 0) > 100]
    storm_s = sum(t["warnings_span_s"] or 0 for t in storm)
    floor = median([t["duration_s"] - t["execute_s"] - t["dag_parse_s"] for t in tasks
                    if None not in (t["duration_s"], t["execute_s"], t["dag_parse_s"])])
    parse = median([t["dag_parse_s"] for t in tasks])
    in_exec = median([t["execute_s"] - t["step_s"] for t in tasks if None not in (t["execute_s"], t["step_s"])])
    fixed = (res["airflow_wall_s"] or 0) - (res["baseline_work_s"] or 0)
    preloaded = bool(res.get("preload_off"))
    imports_note = ("the heavy libraries are inherited from the scheduler's preload, so what is left is the "
                    "project's own modules" if preloaded else
                    "each task process imports again what the single process imported once, see the list below")
    out = [
        "**Why the goal is missed, and what would cut it.** The library work is small "
        f"({fmt_s(res['baseline_work_s'])} in one process), so fixed costs dominate: {fmt_s(fixed)} per lifecycle "
        f"run. {len(tasks)} task processes ran, each paying its DAG file parse (median {fmt_s(parse)}), its imports "
        f"(inside `execute()`: execute - in-process step time, median {fmt_s(in_exec)} a task; {imports_note}) and "
        f"Airflow's own floor around `execute()` (duration - parse - execute: median {fmt_s(floor)} a task: fork, "
        f"execution-API start/heartbeat/finish, XCom); and {fmt_s(res['idle_s'])} passed with no task running at "
        "all (scheduler loop, DAG-run creation, the asset event that starts feature_engineering).",
        "",
    ]
    if storm:
        out.append(
            f"- Warning storms: {len(storm)} tasks logged ~{median([t['warnings'] for t in storm]):.0f} warning lines "
            f"each ({fmt_s(storm_s)} in all). skops' import walks `sys.modules` (`skops/io/_utils.py`, "
            "`whichmodule`) and touches Airflow's deprecated attributes; `include/lifecycle/packaging.py` must import "
            "it lazily under `warnings.simplefilter('ignore')`.")
    else:
        out.append("- No task logged a warning storm: `include/lifecycle/packaging.py` imports skops lazily with "
                   "warnings silenced (before that change every model_training task logged ~1,160 "
                   "DeprecatedImportWarning lines, ~2.8 s a task).")
    out += [
        f"- The time with no task running ({fmt_s(res['idle_s'])}) is now the largest share: each dependent task "
        "waits for the scheduler's next loop (it sleeps `[scheduler] scheduler_idle_sleep_time`, 1 s by default, "
        "when a loop had nothing to do) and the asset event for the next DAG's run. Fewer hops (tasks) and a "
        "shorter idle sleep are the levers; the second costs idle CPU (bench 9).",
        f"- Glue tasks without library work cost {fmt_s(glue_s)} in all ("
        + ", ".join(f"{t['task']} {t['duration_s']:.1f} s" for t in glue)
        + "). `publish` (data_acquisition) and `reconcile` (feature_engineering) could fold into their neighbours "
        "if the asset events stay the same; the profiles run beside the critical path.",
        "- `evaluate`, `package` and `register` run strictly one after the other on the same model and holdout; "
        "one task for the three saves two task processes and two scheduler hops per run, at the price of coarser "
        "retries.",
        "- Not ours: the per-task floor and the idle time are Airflow's on this 2-core box. Training is nightly: the "
        "absolute overhead per run matters more than the ratio, which shrinks as the work grows.",
    ]
    return out


def preload_lines(res: dict[str, Any]) -> list[str]:
    """The A/B of the preload: the same lifecycle with heavy libraries imported by every task process."""
    off = res.get("preload_off")
    if not off:
        return []
    on_tasks = {(t["dag"], t["task"]): t for t in res["tasks"]}
    saved = [(t["task"], t["duration_s"] - on_tasks[(t["dag"], t["task"])]["duration_s"]) for t in off["tasks"]
             if (t["dag"], t["task"]) in on_tasks and None not in (t["duration_s"],
                                                                   on_tasks[(t["dag"], t["task"])]["duration_s"])]
    return [
        f"Preload A/B (same run, platform started afresh each way): with `LIFECYCLE_PRELOAD=0` (every task process "
        f"imports pandas, scikit-learn, skops, GX, Evidently itself) {fmt_s(off['airflow_wall_s'])} ("
        + "; ".join(f"{r['wall_s']:.1f} s, load {fmt_load(r['load'])}" for r in off["runs"])
        + f"), ratio {fmt_x(off['ratio'])}; preloaded in the scheduler before the LocalExecutor forks "
        f"{fmt_s(res['airflow_wall_s'])}, ratio {fmt_x(res['ratio'])}. Task durations it shortened most: "
        + ", ".join(f"{name} by {d:.1f} s" for name, d in sorted(saved, key=lambda x: -x[1])[:5]) + ".",
        "",
    ]


def render(res: dict[str, Any]) -> str:
    b = res["baseline"]
    lines = [
        f"Partition {DAY} (history: {b[0]['accepted']} accepted rows, {b[0]['train_rows']} training rows after "
        f"the id-hashed holdout). Baseline runs: "
        + "; ".join(f"{x['wall_s']:.1f} s wall (load {fmt_load(x['load'])})" for x in b) + ".",
        "",
    ]
    if res["skipped"]:
        lines += [f"Airflow side skipped: {res['skipped']}.", "",
                  f"Baseline median: {fmt_s(res['baseline_wall_s'])} wall, of which library work "
                  f"{fmt_s(res['baseline_work_s'])}."]
    else:
        lines += [
            "| | median | runs |", "|---|---|---|",
            f"| Airflow: trigger acquisition -> `register` succeeded (minus the bench's own hand-off) | "
            f"{fmt_s(res['airflow_wall_s'])} | "
            + "; ".join(f"{r['wall_s']:.1f} s (load {fmt_load(r['load'])})" for r in res["airflow"]) + " |",
            f"| Baseline: one process, interpreter start + imports + work | {fmt_s(res['baseline_wall_s'])} | "
            + "; ".join(f"{x['wall_s']:.1f} s" for x in b) + " |",
            f"| Baseline library work only (no interpreter, no imports) | {fmt_s(res['baseline_work_s'])} | |",
            "",
            f"**Ratio {fmt_x(res['ratio'])}** (goal <= {GOAL}x: {verdict(res['ratio'], GOAL)}); against the "
            f"library work alone {fmt_x(res['ratio_vs_work'])}. Platform start (not in the ratio): "
            f"{fmt_s(res['platform_start_s'], 0)}. Hand-off by the bench (features done -> training triggered, "
            f"excluded): " + ", ".join(f"{r['handoff_s']:.1f} s" for r in res["airflow"]) + ".",
            "",
            *preload_lines(res),
            f"Where the Airflow time goes (medians): at least one task running {fmt_s(res['busy_s'])}; no task "
            f"running at all (scheduling, asset hand-off, DAG-run creation) {fmt_s(res['idle_s'])}.",
            "",
            "Per task (medians over the Airflow runs). *Duration* is the task instance's start -> end; from the "
            "task's own log: *DAG parse* (the task process loads its DAG file), *execute()* (imports + work), and "
            "the warning lines it logged with the seconds between the first and the last.",
            "",
            "| DAG | task | queued -> start | duration | DAG parse | execute() | same step in-process | "
            "overhead (duration - step) | warnings logged (span) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for t in res["tasks"]:
            warn = "" if not t["warnings"] else f"{t['warnings']:.0f} ({t['warnings_span_s']:.1f} s)"
            lines.append(f"| {t['dag']} | {t['task']} | {fmt_s(t['queue_wait_s'])} | {fmt_s(t['duration_s'])} | "
                         f"{fmt_s(t['dag_parse_s'])} | {fmt_s(t['execute_s'])} | {fmt_s(t['step_s'])} | "
                         f"{fmt_s(t['overhead_s'])} | {warn} |")
        total_over = sum(t["overhead_s"] or 0 for t in res["tasks"])
        total_warn = sum(t["warnings_span_s"] or 0 for t in res["tasks"])
        lines += ["", f"Sum of per-task overheads {fmt_s(total_over)} (tasks partly overlap), of which warning storms "
                  f"{fmt_s(total_warn)}."]
        if res["ratio"] is not None and res["ratio"] > GOAL:
            lines += ["", *analysis(res)]
    if res["imports_s"]:
        lines += ["", "Import cost in a fresh interpreter (after the task runner is loaded), i.e. what each task "
                  "process pays before its work when nothing is preloaded (`LIFECYCLE_PRELOAD=0`):", ""]
        lines += [f"- {k}: {fmt_s(v)}" for k, v in res["imports_s"].items()]
    return "\n".join(lines)
