"""What every benchmark shares: the machine's description, load average, child processes with their own
peak RSS, medians and ratios.

Peak memory is read per child with ``os.wait4`` (the kernel's ``ru_maxrss`` of exactly that process), so a
stage's number is not mixed with the parent's or with an earlier child's the way
``getrusage(RUSAGE_CHILDREN)`` (a maximum over every child ever waited for) would be.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
GIB = 1024**3
MIB = 1024**2


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: the project and plugins importable, no bytecode writes disabled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")])
    env["GX_ANALYTICS_ENABLED"] = "False"
    env.update(extra or {})
    return env


def load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return [float("nan")] * 3


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, kernel, Python and the versions of the packages the numbers depend on."""
    info: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(("MemTotal", "MemAvailable")):
                key, value = line.split(":", 1)
                info[key] = f"{int(value.split()[0]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    from importlib import metadata

    versions = {}
    for dist in ("apache-airflow", "apache-airflow-task-sdk", "apache-airflow-providers-celery", "pandas", "numpy",
                 "scikit-learn", "scipy", "pyarrow", "great-expectations", "evidently", "skops", "celery", "psycopg2-binary",
                 "redis", "moto"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    info["packages"] = versions
    return info


def median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def ratio(ours: float | None, base: float | None) -> float | None:
    if ours is None or base is None or base == 0:
        return None
    return ours / base


@dataclass
class ChildResult:
    """One child process: exit code, wall seconds, its own peak RSS, what it reported, where its output is."""

    returncode: int
    wall_s: float
    maxrss_bytes: int
    cpu_s: float = 0.0  # user + system CPU seconds of the child (its own, not its children's)
    result: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    load_before: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, chars: int = 3000) -> str:
        try:
            return Path(self.log).read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def run_child(cmd: list[str], log_path: Path, timeout: float, env: dict[str, str] | None = None,
              result_path: Path | None = None, cwd: Path = PROJECT_ROOT) -> ChildResult:
    """Run ``cmd`` in its own session; wall time and ``ru_maxrss`` of exactly that process (``wait4``).

    On timeout the whole process group is killed. ``result_path``, if the child wrote it, is read as JSON.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if result_path is not None:
        result_path.unlink(missing_ok=True)
    load = load_average()
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env or bench_env(), cwd=cwd, start_new_session=True)
        deadline = started + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.perf_counter() > deadline:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen not to wait again
    result: dict[str, Any] = {}
    if result_path is not None and result_path.exists():
        result = json.loads(result_path.read_text())
    cpu = usage.ru_utime + usage.ru_stime if usage else 0.0
    return ChildResult(proc.returncode, wall, int(usage.ru_maxrss) * 1024 if usage else 0, cpu, result,
                       str(log_path), load)


def python_child(module_args: list[str], log_path: Path, timeout: float, result_path: Path | None = None,
                 env: dict[str, str] | None = None) -> ChildResult:
    """``python -m bench.stages ...`` (or any ``-m``/script args) with the bench environment."""
    return run_child([PYTHON, *module_args], log_path, timeout, env=env, result_path=result_path)


def fmt_s(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} s"


def fmt_x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:,.0f} MiB"


def fmt_load(load: list[float] | None) -> str:
    return "n/a" if not load else " / ".join(f"{x:.2f}" for x in load)


def verdict(value: float | None, goal: float, higher_is_better: bool = False) -> str:
    if value is None:
        return "not measured"
    met = value >= goal if higher_is_better else value <= goal
    return "met" if met else "**missed**"


def peak_phase(result: dict[str, Any]) -> str:
    """Which instrumented phase of a stage first brought its process to (near) its final peak RSS."""
    after = result.get("peak_rss_after_bytes") or {}
    peak = result.get("peak_rss_bytes") or 0
    for name, value in sorted(after.items(), key=lambda kv: kv[1]):  # ru_maxrss only grows: value order = time order
        if peak and value >= 0.95 * peak:
            return f"the process reached {fmt_mib(value)} of its {fmt_mib(peak)} peak by the end of {name}"
    return "peak RSS per phase not recorded"
