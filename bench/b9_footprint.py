"""Bench 9 — the platform's own footprint: time from start to a usable UI and to parsed DAGs, then idle RSS and CPU.

Starts the platform the way ``make run`` does (``Platform.start`` without its final wait: Airflow home, ``db
migrate``, settings, every component in its own process group) on a free port with a fresh home, and polls:
``GET /api/v2/monitor/health`` answering 200, the UI's page ``/`` answering 200, and every generated DAG listed
over REST. Then it samples the platform's process tree (each component's process group and all descendants,
``platform_core.process_tree``) every ``STEP_S`` for ``IDLE_S``: summed RSS, and CPU as the growth of user + system
time (reaped children included) over the window, in % of one core. Summed RSS counts pages shared between forked
processes once per process; the PSS sum (shared pages split between their sharers) is taken at the end as the
lower bound. New DAGs are created paused here, so "idle" means no DAG run at all (checked at the end).

Embedded mode: SQLite + LocalExecutor. Production mode (``scripts/production.py``, as its integration test and
bench 5 start it): a fresh PostgreSQL database, a free Redis DB number, a moto S3 server and 2 Celery workers; the
PostgreSQL backends serving our database are summed beside the tree (Redis is one shared server: not counted).
Both are stopped and cleaned up (database dropped, Redis DB flushed) even when a step fails.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.common import GIB, MIB, fmt_load, fmt_s, load_average, median, verdict
from bench.context import Context

NAME = "footprint"
TITLE = "9. Platform footprint (idle RSS and CPU, time to a usable UI)"
GOAL_GIB = 1.5  # issue 17: idle embedded platform <= 1.5 GiB
IDLE_S = 60.0
STEP_S = 2.0


def _cpu_s(proc: Any) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def sample_tree(roots: Callable[[], set[int]], seconds: float, step: float, extra: Callable[[], set[int]] | None = None,
                ) -> dict[str, Any]:
    """Summed RSS per sample and CPU % of one core over ``seconds`` for the pids ``roots()`` (+ ``extra()``) name."""
    import psutil

    from scripts.platform_core import process_tree

    first: dict[int, float] = {}
    last: dict[int, float] = {}
    rss: list[int] = []
    started = time.monotonic()
    pids: set[int] = set()
    while True:
        pids = process_tree(roots()) | (extra() if extra else set())
        total = 0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                total += proc.memory_info().rss
                cpu = _cpu_s(proc)
                first.setdefault(pid, cpu)
                last[pid] = cpu
        rss.append(total)
        if time.monotonic() - started >= seconds:
            break
        time.sleep(step)
    window = time.monotonic() - started
    pss = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error, AttributeError):
            pss += psutil.Process(pid).memory_full_info().pss
    cpu_s = sum(last[p] - first[p] for p in last)
    return {"samples": len(rss), "window_s": window, "rss_median": median(rss), "rss_max": max(rss),
            "rss_min": min(rss), "pss_end": pss, "cpu_s": cpu_s, "cpu_pct": 100 * cpu_s / window if window else None,
            "processes": len(pids)}


def _by_component(plat: Any) -> dict[str, dict[str, float]]:
    """RSS (MiB) and process count per component at one instant."""
    import psutil

    from scripts.platform_core import process_tree

    out = {}
    for component, pid in plat.running().items():
        pids = process_tree({pid})
        total = 0
        for p in pids:
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(p).memory_info().rss
        out[component] = {"rss_mib": total / MIB, "processes": len(pids)}
    return out


def _pg_backends(db_name: str) -> Callable[[], set[int]]:
    def find() -> set[int]:
        import psutil

        found = set()
        for proc in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if proc.info["name"] == "postgres" and db_name in " ".join(proc.info["cmdline"] or []):
                    found.add(proc.pid)
        return found

    return find


def measure(ctx: Context, plat: Any, label: str, extra: Callable[[], set[int]] | None = None,
            idle_s: float = IDLE_S) -> dict[str, Any]:
    """Start ``plat``, time it to a usable UI and to parsed DAGs, sample it idle; the caller stops it."""
    import requests

    from include.lifecycle.config import load_all
    from lifecycle_ops.factory import STAGES, dag_id

    expected = [dag_id(n, s) for n in sorted(load_all()[0]) for s in STAGES]
    load = load_average()
    t0 = time.monotonic()
    plat.start(wait=False)  # home, db migrate, settings, components: what `make run` does before its wait
    marks = {"components_started_s": time.monotonic() - t0}
    deadline = t0 + 600
    while time.monotonic() < deadline and "dags_parsed_s" not in marks:
        dead = [c for c in plat.components if c not in plat.running()]
        if dead:
            raise RuntimeError(f"{label}: {dead} exited during start (logs in {plat.log_dir})")
        with contextlib.suppress(requests.RequestException):
            if "health_s" not in marks and requests.get(f"{plat.base_url}/api/v2/monitor/health", timeout=3).ok:
                marks["health_s"] = time.monotonic() - t0
            if "health_s" in marks and "ui_s" not in marks and requests.get(f"{plat.base_url}/", timeout=5).ok:
                marks["ui_s"] = time.monotonic() - t0
            if "ui_s" in marks:
                listed = {d["dag_id"] for d in plat.api("GET", "/dags", params={"limit": 1000}).json()["dags"]}
                if all(d in listed for d in expected):
                    marks["dags_parsed_s"] = time.monotonic() - t0
        time.sleep(0.5)
    if "dags_parsed_s" not in marks:
        raise RuntimeError(f"{label}: not ready after 600 s ({marks}); logs in {plat.log_dir}")
    ctx.say(f"{label}: UI after {marks['ui_s']:.0f}s, {len(expected)} DAGs parsed after {marks['dags_parsed_s']:.0f}s")
    time.sleep(STEP_S * 5)  # let the start-up bursts (first parse, serialisation) settle before "idle"
    idle_load = load_average()
    idle = sample_tree(lambda: set(plat.running().values()), idle_s, STEP_S, extra)
    runs = plat.api("GET", "/dags/~/dagRuns", params={"limit": 1}).json().get("total_entries")
    ctx.say(f"{label}: idle RSS {idle['rss_median'] / GIB:.2f} GiB (PSS {idle['pss_end'] / GIB:.2f}), "
            f"CPU {idle['cpu_pct']:.0f}% of a core, {runs} DAG runs")
    return {"label": label, "load_start": load, "load_idle": idle_load, "dags": len(expected), **marks,
            "idle": idle, "components": _by_component(plat), "dag_runs": runs}


def _embedded(ctx: Context) -> dict[str, Any]:
    from scripts.lifecycle_platform import Platform, free_port

    home = ctx.workdir / "footprint" / "embedded-home"
    plat = Platform(home=home, port=free_port(), mode="embedded",
                    extra_env={"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"})
    try:
        res = measure(ctx, plat, "embedded")
        plat.stop()
        # `make run` again on the same home (migrated already): the everyday start
        t0, res["restart_load"] = time.monotonic(), load_average()
        plat.start(wait=False)
        end = t0 + 300
        while time.monotonic() < end and "restart_ui_s" not in res:
            with contextlib.suppress(Exception):
                if plat.api("GET", "/dags", params={"limit": 1}).ok:
                    res["restart_ui_s"] = time.monotonic() - t0
            time.sleep(0.5)
        return res
    finally:
        plat.stop()


def _production(ctx: Context) -> dict[str, Any]:
    from scripts import production
    from scripts.lifecycle_platform import free_port, port_in_use

    for name, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        if not port_in_use(port):
            return {"skipped": f"{name} is not running on 127.0.0.1:{port}"}
    db_name = f"lifecycle_bench_{uuid.uuid4().hex[:8]}"
    redis_db = production.free_redis_db()
    plat = production.production_platform(ctx.workdir / "footprint" / "production-home", free_port(), db_name=db_name,
                                           redis_db=redis_db, workers=2)
    plat.extra_env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    try:
        return measure(ctx, plat, "production", extra=_pg_backends(db_name))
    finally:
        plat.stop()
        for problem in production.release(db_name, redis_db):
            ctx.say(f"cleanup problem: {problem}")


def run(ctx: Context) -> dict[str, Any]:
    if ctx.quick:  # no platform (minutes to start); the sampler runs over this process so its code is exercised
        import os

        return {"skipped": "--quick: starting a platform takes minutes; run `bench/run.py --only footprint`",
                "smoke": sample_tree(lambda: {os.getpid()}, 1.0, 0.5)}
    out: dict[str, Any] = {"skipped": None, "goal_gib": GOAL_GIB, "idle_s": IDLE_S}
    out["embedded"] = _embedded(ctx)
    out["production"] = _production(ctx)
    return out


def summary(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    if res.get("skipped"):
        return [("Embedded platform idle RSS", "not run (--quick)", f"<= {GOAL_GIB} GiB", "not measured")]
    emb, prod = res["embedded"], res["production"]
    # PSS is the tree's memory with each shared page counted once (the preload's pages are shared by every
    # process the scheduler forks); the RSS sum counts them per process, so it is shown and judged too.
    rows = [("Embedded platform idle memory, PSS summed over its processes",
             f"{emb['idle']['pss_end'] / GIB:.2f} GiB, CPU {emb['idle']['cpu_pct']:.0f}% of a core",
             f"<= {GOAL_GIB} GiB", verdict(emb["idle"]["pss_end"] / GIB, GOAL_GIB)),
            ("Embedded platform idle RSS summed over its processes (shared pages once per process)",
             f"{emb['idle']['rss_median'] / GIB:.2f} GiB", f"<= {GOAL_GIB} GiB",
             verdict(emb["idle"]["rss_median"] / GIB, GOAL_GIB)),
            ("Embedded start (fresh home) to usable UI / DAGs parsed", f"{fmt_s(emb['ui_s'])} / "
             f"{fmt_s(emb['dags_parsed_s'])}", "measured", "measured")]
    if prod.get("skipped"):
        rows.append(("Production platform idle RSS", f"not run: {prod['skipped']}", "measured", "not measured"))
    else:
        rows.append(("Production platform idle RSS (2 Celery workers, + its PostgreSQL backends)",
                     f"{prod['idle']['rss_median'] / GIB:.2f} GiB (PSS {prod['idle']['pss_end'] / GIB:.2f} GiB), "
                     f"CPU {prod['idle']['cpu_pct']:.0f}% of a core; UI after {fmt_s(prod['ui_s'])}",
                     "measured", "measured"))
    return rows


def _row(r: dict[str, Any]) -> str:
    i = r["idle"]
    return (f"| {r['label']} | {fmt_s(r['components_started_s'])} | {fmt_s(r['health_s'])} | {fmt_s(r['ui_s'])} | "
            f"{fmt_s(r['dags_parsed_s'])} ({r['dags']}) | {i['rss_median'] / GIB:.2f} GiB ({i['rss_min'] / GIB:.2f}-"
            f"{i['rss_max'] / GIB:.2f}) | {i['pss_end'] / GIB:.2f} GiB | {i['cpu_pct']:.1f}% | {i['processes']} | "
            f"{r['dag_runs']} | {fmt_load(r['load_start'])}; idle {fmt_load(r['load_idle'])} |")


def render(res: dict[str, Any]) -> str:
    if res.get("skipped"):
        return f"Not run: {res['skipped']}."
    emb, prod = res["embedded"], res["production"]
    lines = [f"Each platform started on a free port with a fresh Airflow home, new DAGs paused (so idle means no DAG "
             f"run), then sampled every {STEP_S:.0f} s for {res['idle_s']:.0f} s after a {STEP_S * 5:.0f} s "
             "settle. Times are from the start call (what `make run` does after `make setup`: home, `db migrate`, "
             "settings, components). RSS is summed over the process tree (shared pages counted per process); PSS "
             "at the end of the window splits shared pages. CPU is % of one core over the window.", "",
             "| mode | components started | health 200 | UI `/` 200 | all DAGs listed | idle RSS median (min-max) "
             "| idle PSS | idle CPU | processes | DAG runs | load (1/5/15) at start; idle |",
             "|---|---|---|---|---|---|---|---|---|---|---|", _row(emb)]
    if not prod.get("skipped"):
        lines.append(_row(prod))
    lines += ["", "Per component at the end of the window (RSS summed over each component's tree, processes):", ""]
    for r in (emb, prod):
        if r.get("components"):
            lines.append(f"- {r['label']}: " + ", ".join(f"{c} {v['rss_mib']:.0f} MiB ({v['processes']})"
                                                         for c, v in r["components"].items()))
    if emb.get("restart_ui_s"):
        lines += ["", f"A second start of the embedded platform on the same (migrated) home answered the REST API "
                  f"after {fmt_s(emb['restart_ui_s'])} (load {fmt_load(emb['restart_load'])})."]
    if prod.get("skipped"):
        lines += ["", f"Production mode not measured: {prod['skipped']}."]
    rss, pss = emb["idle"]["rss_median"] / GIB, emb["idle"]["pss_end"] / GIB
    lines += ["", f"Goal <= {GOAL_GIB} GiB idle embedded: PSS {pss:.2f} GiB — {verdict(pss, GOAL_GIB)}; summed RSS "
              f"{rss:.2f} GiB — {verdict(rss, GOAL_GIB)} (it counts the preload's pages once per forked process)."]
    return "\n".join(lines)
