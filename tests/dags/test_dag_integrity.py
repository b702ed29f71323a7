"""DAG integrity: every lifecycle DAG imports cleanly, names its stakeholder, retries, documents itself,
and costs nothing heavy at parse time. Necessary, never sufficient: tests/e2e runs the DAGs for real."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
HEAVY = ("pandas", "sklearn", "great_expectations", "evidently", "scipy", "matplotlib", "skops",
         # what the parse used to pay for: provider asset-URI handlers (boto3), the alert builder and smtplib
         "boto3", "lifecycle_ops.alerting", "include.lifecycle.alerts", "smtplib")
USE_CASES = ("churn", "credit")
STAGES = ("data_acquisition", "feature_engineering", "model_training", "model_rollback", "batch_scoring",
          "scoring_catchup", "model_monitoring")
EXPECTED_DAGS = {f"{uc}__{stage}" for uc in USE_CASES for stage in STAGES}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dagbag.import_errors.items())


def test_expected_dags_present(dagbag):
    assert EXPECTED_DAGS <= set(dagbag.dag_ids), f"missing: {EXPECTED_DAGS - set(dagbag.dag_ids)}"


def _dags(dagbag):
    return [dagbag.dags[d] for d in sorted(dagbag.dag_ids)]


def test_every_dag_has_a_stakeholder_owner(dagbag):
    from lifecycle_ops.factory import ROLES

    bad = {}
    for dag in _dags(dagbag):
        for t in dag.tasks:
            if t.owner not in ROLES:
                bad[f"{dag.dag_id}.{t.task_id}"] = t.owner
    assert not bad, f"tasks whose owner is not a stakeholder role {ROLES}: {bad}"


def test_every_dag_has_tags_and_docs(dagbag):
    for dag in _dags(dagbag):
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert "lifecycle" in dag.tags, f"{dag.dag_id} lacks the 'lifecycle' tag"
        use_case = dag.dag_id.split("__")[0]
        assert f"use-case:{use_case}" in dag.tags, f"{dag.dag_id} lacks its use-case tag"
        assert dag.doc_md and len(dag.doc_md.strip()) > 80, f"{dag.dag_id} has no doc_md"


def test_every_task_retries(dagbag):
    failures = []
    for dag in _dags(dagbag):
        for t in dag.tasks:
            retries = getattr(t, "retries", None)
            if retries is None or not isinstance(retries, int) or retries < 1:
                failures.append(f"{dag.dag_id}.{t.task_id}: retries={retries!r}")
    assert not failures, "tasks must retry at least once:\n" + "\n".join(failures)


def test_every_dag_alerts_on_failure(dagbag):
    for dag in _dags(dagbag):
        for t in dag.tasks:
            assert t.on_failure_callback, f"{dag.dag_id}.{t.task_id} has no failure alert"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(path):
    code = (
        "import sys, json, runpy\n"
        f"runpy.run_path({str(path)!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"{path.name} imports {loaded} at parse time; import them inside the task"


FORBIDDEN_MODULES = ("airflow.decorators", "airflow.datasets", "airflow.models.dagbag", "airflow.operators",
                     "airflow.sensors", "airflow.models.baseoperator", "airflow.utils.dates")


@pytest.mark.parametrize("path", DAG_FILES + sorted((ROOT / "plugins").rglob("*.py")), ids=lambda p: p.name)
def test_no_airflow2_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            assert not name.startswith(FORBIDDEN_MODULES), f"{path.name}:{node.lineno} uses Airflow 2 API {name}"
            assert not name.endswith((".Dataset", ".DagBag")) or name.startswith("airflow.dag_processing"), (
                f"{path.name}:{node.lineno} uses {name}")


def test_library_has_no_airflow_imports():
    for path in sorted((ROOT / "include").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            for mod in mods:
                assert not mod.startswith("airflow"), f"{path.relative_to(ROOT)}:{node.lineno} imports {mod}"
