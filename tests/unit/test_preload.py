"""The task-forking processes preload the heavy libraries; nothing else does (plugins/airflow_local_settings.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("argv", "forks"), [
    (["/venv/bin/airflow", "scheduler"], True),
    (["airflow", "scheduler", "--skip-serve-logs"], True),
    (["airflow", "celery", "worker", "--celery-hostname", "w1@%h"], True),
    (["airflow", "api-server"], False),
    (["airflow", "dag-processor"], False),
    (["airflow", "triggerer"], False),
    (["airflow", "celery", "flower"], False),
    (["airflow", "db", "migrate"], False),
    (["/venv/bin/pytest", "tests/unit"], False),
    (["python"], False),
])
def test_only_the_processes_whose_children_run_tasks_preload(argv, forks):
    from airflow_local_settings import forks_tasks

    assert forks_tasks(argv) is forks


def _loaded_after_import(argv: list[str], **env: str) -> dict:
    """Import the settings module in a fresh interpreter whose argv is ``argv``; which heavy modules it loaded."""
    code = (f"import sys, json; sys.argv = {argv!r}; import airflow_local_settings as s; "
            "print(json.dumps({'loaded': [m for m in s.PRELOAD if m in sys.modules], 'all': list(s.PRELOAD)}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}", "GX_ANALYTICS_ENABLED": "False",
                               **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "stderr": proc.stderr}


def test_the_scheduler_preloads_every_library_and_says_so():
    out = _loaded_after_import(["airflow", "scheduler"])
    assert out["loaded"] == out["all"] and "great_expectations" in out["all"] and "sklearn.ensemble" in out["all"]
    assert f"lifecycle preload: {len(out['all'])} modules in" in out["stderr"]


def test_a_forked_task_running_the_file_again_says_nothing():
    """A task process inherits the scheduler's argv and loads the plugins folder, so runs this file again."""
    code = ("import sys, runpy; sys.argv = ['airflow', 'scheduler']; import airflow_local_settings as s; "
            "print('--- again', file=sys.stderr); runpy.run_path(s.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}", "GX_ANALYTICS_ENABLED": "False"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, again = proc.stderr.split("--- again")
    assert "lifecycle preload: " in first and "lifecycle preload" not in again


def test_other_processes_and_the_switch_preload_nothing():
    assert _loaded_after_import(["airflow", "api-server"])["loaded"] == []
    off = _loaded_after_import(["airflow", "scheduler"], LIFECYCLE_PRELOAD="0")
    assert off["loaded"] == [] and "lifecycle preload" not in off["stderr"]


def test_a_library_that_fails_to_import_is_reported_not_fatal(capsys):
    from airflow_local_settings import preload

    took = preload(("json", "no_such_library_here"))
    assert list(took) == ["json"]
    assert "no_such_library_here not preloaded: ModuleNotFoundError" in capsys.readouterr().err
