"""Bench 7 — the platform's own footprint: time from start to a usable UI, idle memory and idle CPU.

The embedded default (`make run`: SQLite, LocalExecutor, the local alert inbox) and production mode
(PostgreSQL, Celery on Redis with two workers, artifacts on a moto S3 server) are started the way `make run`
starts them, on a free port. *Usable UI* is the moment the API server answers and every lifecycle DAG is parsed
(`Platform.wait_ready`). Then nothing is triggered for ``IDLE_S`` seconds: memory is sampled every 5 s over the
platform's whole process tree (RSS counts shared pages once per process, so PSS — each shared page split
between the processes sharing it — is the honest total; both are shown), and CPU is the tree's user+system
seconds over the idle window. The services a machine kind already runs (PostgreSQL, Redis) are not ours and
are not counted; moto, which stands in for S3, is reported apart.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.common import GIB, fmt_load, fmt_mib, fmt_s, load_average, median, verdict
from bench.context import Context

NAME = "footprint"
TITLE = "7. The platform's own footprint"
GOAL_GIB = 1.5
IDLE_S = 60


def _tree(pids: list[int]) -> list[Any]:
    import psutil

    procs: dict[int, Any] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        for p in [root, *root.children(recursive=True)]:
            procs[p.pid] = p
    return list(procs.values())


def _sample(pids: list[int]) -> dict[str, float]:
    import psutil

    rss = pss = cpu = 0.0
    count = 0
    for p in _tree(pids):
        try:
            mem = p.memory_full_info()
            times = p.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += mem.rss
        pss += getattr(mem, "pss", mem.rss)
        cpu += times.user + times.system
        count += 1
    return {"rss": rss, "pss": pss, "cpu": cpu, "processes": count}


def idle(ctx: Context, pids: list[int], seconds: float = IDLE_S) -> dict[str, Any]:
    first = _sample(pids)
    samples = [first]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(5)
        samples.append(_sample(pids))
    last = samples[-1]
    return {"rss": median([s["rss"] for s in samples]), "pss": median([s["pss"] for s in samples]),
            "peak_pss": max(s["pss"] for s in samples), "processes": last["processes"],
            "cpu_share": (last["cpu"] - first["cpu"]) / seconds, "load": load_average()}


def embedded(ctx: Context) -> dict[str, Any]:
    from scripts.lifecycle_platform import Platform, free_port

    home, store = ctx.workdir / "footprint" / "embedded-home", ctx.workdir / "footprint" / "embedded-store"
    plat = Platform(home=home, port=free_port(), extra_env={"LIFECYCLE_ARTIFACT_ROOT": str(store)})
    load = load_average()
    started = time.perf_counter()
    try:
        plat.start(timeout=420)
        ready_s = time.perf_counter() - started
        ctx.say(f"embedded platform usable in {ready_s:.0f}s; idling {IDLE_S}s")
        res = idle(ctx, list(plat.running().values()))
    finally:
        plat.stop()
    return {"ready_s": ready_s, "start_load": load, **res}


def production(ctx: Context) -> dict[str, Any] | None:
    from scripts import production as prod
    from scripts.lifecycle_platform import free_port, port_in_use

    if not (port_in_use(5432) and port_in_use(6379)):
        return None
    base = ctx.workdir / "footprint" / "production"
    db_name = f"lifecycle_bench_{uuid.uuid4().hex[:8]}"
    redis_db = prod.free_redis_db()
    moto = prod.MotoServer(base / "moto", port=free_port())
    plat = None
    load = load_average()
    try:
        prod.create_database(prod.pg_url(db_name))
        moto.start()
        prod.ensure_bucket(moto.endpoint, "lifecycle-bench", **prod.MOTO_CREDENTIALS)
        plat = prod.production_platform(base / "home", free_port(), db_name=db_name, redis_db=redis_db,
                                        s3_endpoint=moto.endpoint, bucket="lifecycle-bench", workers=2)
        plat.extra_env.update(prod.MOTO_CREDENTIALS)
        started = time.perf_counter()
        plat.start(timeout=420)
        ready_s = time.perf_counter() - started
        ctx.say(f"production platform usable in {ready_s:.0f}s; idling {IDLE_S}s")
        res = idle(ctx, list(plat.running().values()))
        moto_pid = moto.pid()
        res["moto_rss"] = _sample([moto_pid])["rss"] if moto_pid else None
    finally:
        if plat is not None:
            plat.stop()
        moto.stop()
        prod.drop_database(prod.pg_url(db_name))
        prod.flush_redis(prod.redis_url(redis_db))
    return {"ready_s": ready_s, "start_load": load, **res}


def run(ctx: Context) -> dict[str, Any]:
    if ctx.quick:
        return {"skipped": "--quick: starting a platform takes 30-120 s; run `make bench`"}
    return {"embedded": embedded(ctx), "production": production(ctx)}


def render(res: dict[str, Any]) -> str:
    if res.get("skipped"):
        return res["skipped"]
    lines = ["| mode | start -> usable UI | processes | idle PSS (median) | idle RSS sum (median) | peak PSS | "
             "idle CPU (cores) | load at start |", "|---|---|---|---|---|---|---|---|"]
    for mode in ("embedded", "production"):
        r = res.get(mode)
        if not r:
            lines.append(f"| {mode} | not run (PostgreSQL or Redis not on loopback) | | | | | | |")
            continue
        lines.append(f"| {mode} | {fmt_s(r['ready_s'], 0)} | {r['processes']} | {fmt_mib(r['pss'])} | "
                     f"{fmt_mib(r['rss'])} | {fmt_mib(r['peak_pss'])} | {r['cpu_share']:.2f} | "
                     f"{fmt_load(r['start_load'])} |")
    emb = res["embedded"]
    lines += ["", f"Goal: the embedded platform idles in <= {GOAL_GIB} GiB (PSS of its process tree): "
              f"{fmt_mib(emb['pss'])} — {verdict(emb['pss'] / GIB, GOAL_GIB)}. The RSS sum counts every shared "
              "page once per process (the LocalExecutor's forked workers share most of theirs), so it overstates "
              "what the machine gives up."]
    if res.get("production") and res["production"].get("moto_rss"):
        lines.append(f"moto (the S3 stand-in, not part of a real deployment): {fmt_mib(res['production']['moto_rss'])} RSS.")
    return "\n".join(lines)
