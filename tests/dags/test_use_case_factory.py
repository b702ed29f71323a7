"""Every use case is a YAML: its DAGs appear from the config folder, a bad YAML is refused with its file and key,
and a bad YAML never takes another use case's DAGs down with it (nor is half-registered)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from include.lifecycle.config import ConfigError, load_all, load_use_case

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "include" / "config" / "churn.yaml"


def _churn() -> dict:
    return yaml.safe_load(CHURN.read_text())


def _bad(name: str, edit) -> dict:
    raw = _churn()
    raw["name"] = name
    raw["validation"]["suite"] = "include/expectations/churn.json"
    edit(raw)
    return raw


def _set(path: str, value):
    def edit(raw):
        node = raw
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return edit


def _drop(path: str):
    def edit(raw):
        node = raw
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        del node[leaf]
    return edit


# (file stem, how it is broken, the key the error must name, words the message must hold)
BAD = [
    ("unknown_key", _set("colour", "blue"), "colour", "unknown key"),
    ("misspelt_optional", _set("monitoring.sampel_rows", 10), "monitoring.sampel_rows", "unknown key"),
    ("wrong_type", _set("replay.days", "sixty"), "replay.days", "integer"),
    ("target_missing", _set("dataset.target", "churned"), "dataset.target", "not a column"),
    ("id_missing", _set("dataset.id", "customer"), "dataset.id", "not a column"),
    ("positive_not_a_label", _set("dataset.positive_label", "Maybe"), "dataset", "not one of labels"),
    ("labels_wrong_case", _set("dataset.labels", ["no", "yes"]), "dataset", "upper/lower case"),
    ("unsafe-name", lambda raw: None, "name", "not usable in DAG ids"),
    ("no_suite", _set("validation.suite", "include/expectations/nowhere.json"), "validation.suite", "no suite file"),
    ("no_candidates", _set("candidates", []), "candidates", "at least 1"),
    ("no_smes", _drop("approval.assigned_smes"), "approval.assigned_smes", "Field required"),
]


@pytest.fixture()
def config_dir(tmp_path):
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(CHURN, folder / "churn.yaml")
    return folder


@pytest.mark.parametrize(("stem", "edit", "key", "words"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_yaml_names_its_file_and_key(config_dir, stem, edit, key, words):
    if stem == "labels_wrong_case":
        # also the positive label, so that only the labels/data disagreement remains
        def edit(raw, _inner=edit):
            _inner(raw)
            raw["dataset"]["positive_label"] = "yes"
    path = config_dir / f"{stem}.yaml"
    raw = _bad(stem, edit)
    if stem == "unsafe-name":
        raw["name"] = "unsafe-name"
    path.write_text(yaml.safe_dump(raw))
    good, bad = load_all(config_dir)
    assert list(good) == ["churn"], "the valid use case must still load"
    assert list(bad) == [path]
    message = str(bad[path])
    assert str(path) in message
    assert any(p.startswith(key) and words.lower() in p.lower() for p in bad[path].problems), bad[path].problems


def test_two_files_for_one_name_are_both_refused(config_dir):
    shutil.copy(CHURN, config_dir / "churn.yml")
    good, bad = load_all(config_dir)
    assert good == {}
    assert {p.name for p in bad} == {"churn.yaml", "churn.yml"}
    assert all("also defined by" in str(e) for e in bad.values())


def test_a_name_must_match_its_file(config_dir):
    raw = _churn()
    (config_dir / "other.yaml").write_text(yaml.safe_dump(raw))  # says name: churn
    with pytest.raises(ConfigError, match=r"name: 'churn' must match the file name 'other.yaml'"):
        load_use_case(config_dir / "other.yaml")


def test_dags_appear_and_disappear_with_their_yaml_and_bad_ones_are_import_errors(config_dir, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("LIFECYCLE_CONFIG_DIR", str(config_dir))
    for stem, edit, *_ in BAD[:4]:
        (config_dir / f"{stem}.yaml").write_text(yaml.safe_dump(_bad(stem, edit)))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    prefixes = {d.split("__")[0] for d in bag.dag_ids}
    assert prefixes == {"churn"}, "only the valid use case has DAGs; no bad one is half-registered"
    assert len(bag.dag_ids) == 7
    errors = {Path(f).name: e for f, e in bag.import_errors.items()}
    assert list(errors) == ["use_case_configs.py"], errors
    for stem, _edit, key, _words in BAD[:4]:
        assert f"{stem}.yaml" in errors["use_case_configs.py"] and key in errors["use_case_configs.py"]

    # a second valid use case appears without any code change; removing its YAML removes its DAGs
    for path in config_dir.glob("*.yaml"):
        if path.stem != "churn":
            path.unlink()
    second = _churn()
    second["name"] = "churn_eu"
    second["validation"]["suite"] = "include/expectations/churn.json"
    (config_dir / "churn_eu.yaml").write_text(yaml.safe_dump(second))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert {d.split("__")[0] for d in bag.dag_ids} == {"churn", "churn_eu"}
    (config_dir / "churn_eu.yaml").unlink()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert {d.split("__")[0] for d in bag.dag_ids} == {"churn"}
