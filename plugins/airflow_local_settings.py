"""Airflow's local-settings hook: preload the lifecycle's heavy libraries in the processes that fork tasks.

Airflow imports this module in every process at ``import airflow`` (``settings.initialize``). On Linux each task
process is a bare ``os.fork()`` of a LocalExecutor worker (itself forked from the scheduler) or of a Celery pool
process (forked from ``airflow celery worker``), with no exec: modules imported here before those forks are
inherited, copy-on-write, instead of being imported again by every task (pandas, scikit-learn, skops, Great
Expectations, Evidently: seconds per task; bench 2 in ``bench/RESULTS.md`` measures it).

Only third-party libraries, never the project's own modules (an edited ``include/lifecycle`` must be seen by the
next task without a restart), and only importing: no library computes here, so no OpenMP or BLAS thread pool
exists before the fork. ``LIFECYCLE_PRELOAD=0`` turns it off (the bench's A/B and debugging).
"""

from __future__ import annotations

import importlib
import os
import sys
import time

__all__: list[str] = []  # Airflow copies a local-settings module's public names into airflow.settings

PRELOAD = (
    "numpy", "pandas", "pyarrow", "pyarrow.parquet", "pyarrow.compute", "pyarrow.csv",
    "sklearn.base", "sklearn.pipeline", "sklearn.compose", "sklearn.impute", "sklearn.preprocessing",
    "sklearn.model_selection", "sklearn.metrics", "sklearn.calibration", "sklearn.linear_model",
    "sklearn.ensemble", "skops.io", "great_expectations", "evidently", "evidently.metrics", "evidently.presets",
    "matplotlib.figure", "matplotlib.backends.backend_agg",  # the model card's plots (no backend switch)
)


def forks_tasks(argv: list[str]) -> bool:
    """True in the processes whose children run tasks: ``airflow scheduler`` (LocalExecutor workers are forked
    from it) and ``airflow celery worker``."""
    args = [a for a in argv[1:] if not a.startswith("-")][:2]
    return bool(args) and (args[0] == "scheduler" or args == ["celery", "worker"])


def preload(modules: tuple[str, ...] = PRELOAD) -> dict[str, float]:
    """Import ``modules``; seconds per module. A module that fails to import is reported, never fatal (Airflow
    re-raises errors from this file and the scheduler would not start)."""
    took: dict[str, float] = {}
    for name in modules:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the task that needs it will fail with its own error
            print(f"lifecycle preload: {name} not preloaded: {exc!r}", file=sys.stderr)
            continue
        took[name] = time.perf_counter() - started
    return took


# A task process inherits the parent's argv and its plugin loading runs this file again: nothing is left to
# import then, and nothing is said (it would be a line in every task's log).
if (os.environ.get("LIFECYCLE_PRELOAD", "1") != "0" and forks_tasks(sys.argv)
        and any(name not in sys.modules for name in PRELOAD)):
    _took = preload()
    print(f"lifecycle preload: {len(_took)} modules in {sum(_took.values()):.1f}s before tasks fork",
          file=sys.stderr)
