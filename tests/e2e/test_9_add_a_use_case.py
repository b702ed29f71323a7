"""A new use case, added the way the README says, on a running platform: a CSV in, its DAGs in the UI, a day loaded.

The sample is scikit-learn's bundled breast-cancer table (offline), a use case the repository does not ship.
``usecase init`` writes its YAML into the platform's config folder, ``make settings`` (here ``prepare``) adds
its pools and Variables, and the next DAG parse builds its six DAGs with no code change. The measured time from
the CSV to the DAGs in the API is printed (the README quotes it). A day is then loaded and its features follow
on the asset; deleting the YAML takes the DAGs away again, and the bundled use cases keep theirs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from include.lifecycle import layout
from include.lifecycle.config import load_use_case
from include.lifecycle.data import replay
from lifecycle_ops.factory import STAGES
from scripts.rest_client import wait_for
from tests.e2e.conftest import ROOT, USE_CASES, dag_id
from tests.samples import write_tumours_csv

NAME = "tumours"


def _dags(airflow, prefix: str) -> set[str]:
    found = airflow.ok("GET", "/dags", params={"dag_id_pattern": f"{prefix}__%", "limit": 100})["dags"]
    return {d["dag_id"] for d in found}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return write_tumours_csv(tmp_path_factory.mktemp("sample") / f"{NAME}.csv")


def test_a_csv_becomes_dags_in_the_ui_and_a_day_flows(platform, airflow, store, sample, tmp_path):
    config = Path(platform.env()["LIFECYCLE_CONFIG_DIR"])
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    started = time.monotonic()
    init = subprocess.run(
        [sys.executable, "-m", "include.lifecycle.usecase", "init", "--data", str(sample), "--target", "diagnosis",
         "--id", "case_id", "--positive", "malignant", "--config-dir", str(config), "--days", "10",
         "--label-delay-days", "1", "--data-dir", str(tmp_path / "data"),
         "--expectations-dir", str(tmp_path / "expectations")],
        capture_output=True, text=True, cwd=ROOT, timeout=180, env=env)
    assert init.returncode == 0, init.stderr
    try:
        platform.prepare()  # `make settings`: the new use case's pools and Variables
        expected = {dag_id(stage, NAME) for stage in STAGES}
        wait_for(lambda: _dags(airflow, NAME) >= expected, 300, f"the {NAME} DAGs in the API")
        elapsed = time.monotonic() - started
        print(f"\nadd a use case: CSV -> {len(expected)} DAGs in the UI in {elapsed:.0f}s "
              f"(scaffold {init.stdout.count(chr(10))} lines of output; DAG refresh every 30 s)")
        pools = {p["name"] for p in airflow.ok("GET", "/pools", params={"limit": 100})["pools"]}
        assert {f"lifecycle_training__{NAME}", f"lifecycle_scoring__{NAME}"} <= pools
        tags = {t["name"] for d in airflow.ok("GET", "/dags", params={"dag_id_pattern": f"{NAME}__%"})["dags"]
                for t in d["tags"]}
        assert f"use-case:{NAME}" in tags

        uc = load_use_case(config / f"{NAME}.yaml")
        day = replay.replay_dates(uc)[0].isoformat()
        run = airflow.trigger(dag_id("data_acquisition", NAME), user="data_engineer", partition_key=day)
        acq = dag_id("data_acquisition", NAME)
        assert airflow.wait_run(acq, run, timeout=420) == "success", airflow.diagnose(acq, run)
        features = dag_id("feature_engineering", NAME)
        fe = wait_for(lambda: [r for r in airflow.runs(features) if r.get("partition_key") == day], 240,
                       f"a {features} run for {day}")
        assert airflow.wait_run(features, fe[0]["dag_run_id"], timeout=420) == "success"
        assert store.exists(layout.features_key(uc, day))
    finally:
        (config / f"{NAME}.yaml").unlink(missing_ok=True)
    wait_for(lambda: not _dags(airflow, NAME), 300, f"the {NAME} DAGs to leave the API once the YAML is gone")
    for bundled in USE_CASES:  # a use case coming and going leaves the others alone
        assert _dags(airflow, bundled) >= {dag_id(stage, bundled) for stage in STAGES}
