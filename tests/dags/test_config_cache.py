"""The validated-config cache that keeps YAML and pydantic out of a DAG file's parse: a hit returns exactly what
validating returns, and any change to the YAML's text, to a file it was checked against or to the validation
code validates again; an invalid YAML is never cached; a cache folder that is not safely ours is not used."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from include.lifecycle.config import cache, load_all, parse_use_case, read_yaml

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "include" / "config" / "churn.yaml"


@pytest.fixture()
def scratch(tmp_path, monkeypatch):
    """A private temp folder (so the cache starts empty) and a config folder with churn on a copy of its data."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    data = tmp_path / "wa_churn.csv.gz"
    shutil.copy(ROOT / "include" / "data" / "wa_churn.csv.gz", data)
    raw = yaml.safe_load(CHURN.read_text())
    raw["dataset"]["file"] = str(data)
    raw["validation"]["suite"] = str(ROOT / "include" / "expectations" / "churn.json")
    config = tmp_path / "config"
    config.mkdir()
    (config / "churn.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return {"tmp": tmp, "config": config, "data": data, "raw": raw}


def _entries(tmp: Path) -> list[Path]:
    return sorted((tmp / f"lifecycle-config-cache-{os.getuid()}").glob("*.json"))


def test_a_hit_equals_validation_and_skips_yaml_and_pydantic(scratch):
    path = scratch["config"] / "churn.yaml"
    validated = parse_use_case(read_yaml(path), path)
    good, bad = load_all(scratch["config"])
    assert bad == {} and good["churn"] == validated
    assert len(_entries(scratch["tmp"])) == 1
    # a fresh interpreter (a DAG file's parse) answers from the entry: the schema module is never imported
    code = ("import json, sys, tempfile; tempfile.tempdir = sys.argv[2]\n"
            "from pathlib import Path\nfrom include.lifecycle.config import load_all\n"
            "good, bad = load_all(Path(sys.argv[1]))\n"
            "uc = good['churn']\n"
            "print(json.dumps([uc.raw, uc.sha256, str(uc.path), 'include.lifecycle.config.schema' in sys.modules]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    proc = subprocess.run([sys.executable, "-c", code, str(scratch["config"]), str(scratch["tmp"])], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    raw, sha, where, schema_imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (raw, sha, where) == (validated.raw, validated.sha256, str(path))
    assert schema_imported is False


def test_an_edit_is_validated_again_even_with_the_same_size_and_mtime(scratch):
    path = scratch["config"] / "churn.yaml"
    assert list(load_all(scratch["config"])[0]) == ["churn"]
    before = path.stat()
    text = path.read_text()
    broken = text.replace("target: churn", "target: chrun")  # same length, not a column of the data
    assert broken != text and len(broken) == len(text)
    path.write_text(broken)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    good, bad = load_all(scratch["config"])
    assert good == {} and "dataset.target" in str(bad[path])


def test_a_changed_data_file_is_checked_again(scratch):
    path = scratch["config"] / "churn.yaml"
    assert list(load_all(scratch["config"])[0]) == ["churn"]
    scratch["data"].write_bytes(gzip.compress(gzip.decompress(scratch["data"].read_bytes()) + b"\n"))
    good, bad = load_all(scratch["config"])
    assert good == {} and "dataset.sha256" in str(bad[path])


def test_an_invalid_yaml_is_never_cached_and_its_fix_loads(scratch):
    path = scratch["config"] / "churn.yaml"
    raw = dict(scratch["raw"], colour="blue")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    for _ in range(2):
        good, bad = load_all(scratch["config"])
        assert good == {} and "colour" in str(bad[path])
    assert _entries(scratch["tmp"]) == []
    raw.pop("colour")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert list(load_all(scratch["config"])[0]) == ["churn"]


def test_changed_validation_code_does_not_answer_from_old_entries(scratch, monkeypatch):
    path = scratch["config"] / "churn.yaml"
    load_all(scratch["config"])
    text = path.read_text()
    assert cache.lookup(path, text, True) is not None
    monkeypatch.setattr(cache, "_code_stamp", lambda: "another schema")
    assert cache.lookup(path, text, True) is None
    assert cache.lookup(path, text, False) is None  # nor does a load that skipped the file checks


def test_a_cache_folder_others_can_write_is_not_used(scratch):
    folder = scratch["tmp"] / f"lifecycle-config-cache-{os.getuid()}"
    folder.mkdir(mode=0o700)
    folder.chmod(0o777)
    assert cache.cache_dir() is None
    good, bad = load_all(scratch["config"])
    assert list(good) == ["churn"] and bad == {}
    assert list(folder.iterdir()) == []
