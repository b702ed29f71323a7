"""A use case the repository does not ship, scaffolded from a data sample by the command, runs end to end.

The sample is scikit-learn's bundled breast-cancer table (offline): numeric features, real labels, some values
blanked out so the null-rate bounds are measured. The scaffold must pass ``check``, train through the library to
a blessed registered version, and its DAGs must appear in a DagBag with no code change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from include.lifecycle import steps
from include.lifecycle.config import load_use_case
from include.lifecycle.data import acquisition, replay, sources, validation
from include.lifecycle.model import features
from include.lifecycle.store import open_store
from tests.samples import write_tumours_csv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return write_tumours_csv(tmp_path_factory.mktemp("sample") / "tumours.csv", missing_every=25)  # 4% missing


@pytest.fixture(scope="module")
def scaffolded(sample, tmp_path_factory):
    base = tmp_path_factory.mktemp("deployment")
    config = base / "config"
    out = subprocess.run(
        [sys.executable, "-m", "include.lifecycle.usecase", "init", "--data", str(sample), "--target", "diagnosis",
         "--id", "case_id", "--positive", "malignant", "--config-dir", str(config), "--days", "20",
         "--data-dir", str(base / "data"), "--expectations-dir", str(base / "expectations")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"})
    assert out.returncode == 0, out.stderr
    return config, out.stdout


def test_scaffold_infers_the_contract_and_lists_what_the_sme_decides(scaffolded):
    config, printed = scaffolded
    uc = load_use_case(config / "tumours.yaml")
    assert uc.target == "diagnosis" and uc.id_column == "case_id" and uc.positive_label == "malignant"
    assert uc.labels == ["benign", "malignant"]
    assert len(uc.columns) == 30 and {s["kind"] for s in uc.columns.values()} == {"numeric"}
    assert uc.columns["mean_texture"]["nullable"] > 0.04  # measured per replayed day, with headroom
    assert uc.columns["mean_radius"]["nullable"] == 0
    radius = uc.columns["mean_radius"]
    assert radius["min"] < 6.98 and radius["max"] > 28.11  # observed range, widened
    for decision in ("business", "evaluation.thresholds", "approval.assigned_smes", "slices"):
        assert decision in printed
    assert "TODO(SME)" in (config / "tumours.yaml").read_text()
    check = subprocess.run([sys.executable, "-m", "include.lifecycle.usecase", "check", str(config / "tumours.yaml")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert check.returncode == 0, check.stderr


def test_scaffolded_use_case_trains_to_a_blessed_version(scaffolded, tmp_path):
    config, _ = scaffolded
    uc = load_use_case(config / "tumours.yaml")
    store = open_store(str(tmp_path / "store"))
    source = sources.LocalLandingSource(store)
    days = replay.replay_dates(uc)[:2]
    for day in days:
        replay.publish(store, uc, day)
        acquisition.acquire(store, uc, day, source)
        result = validation.validate_batch(store, uc, day)
        assert result["status"] == "accepted", result["reasons"]
        acquisition.ingest_labels(store, uc, day, source)
        features.build_features_partition(store, uc, day)
    out = steps.run_training_lifecycle(store, uc, days[-1], run_id="tumours-1")
    assert out["register"]["blessed"] and out["register"]["qa_passed"], out["register"]["reasons"]
    assert out["register"]["version"] == 1


def test_scaffolded_use_case_gets_its_dags(scaffolded, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    config, _ = scaffolded
    monkeypatch.setenv("LIFECYCLE_CONFIG_DIR", str(config))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == sorted(f"tumours__{s}" for s in (
        "data_acquisition", "feature_engineering", "model_training", "model_rollback", "batch_scoring",
        "scoring_catchup", "model_monitoring"))
