"""The production image and the pinned environment agree with each other (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]+\])?==([^\s;]+)$", line)
        assert m, f"{path.name}: not an exact pin: {line!r}"
        pins[m.group(1).lower()] = m.group(3)
    return pins


def test_requirements_pin_every_direct_dependency_exactly():
    pins = _pins(ROOT / "requirements.txt")
    for name in ("apache-airflow", "apache-airflow-providers-standard", "apache-airflow-providers-amazon",
                 "apache-airflow-providers-celery", "apache-airflow-providers-postgres",
                 "apache-airflow-providers-smtp", "pandas", "scikit-learn", "great-expectations", "evidently",
                 "boto3", "skops", "pytest"):
        assert name in pins, f"requirements.txt does not pin {name}"
    assert pins["apache-airflow"].startswith("3.3."), pins["apache-airflow"]
    assert pins["pandas"].startswith("2."), "Evidently 0.7 breaks on pandas 3"
    assert pins["great-expectations"].startswith("1."), pins["great-expectations"]
    assert pins["evidently"].startswith("0.7."), pins["evidently"]


def test_lock_agrees_with_requirements():
    direct = _pins(ROOT / "requirements.txt")
    lock = _pins(ROOT / "requirements.lock")
    for name, version in direct.items():
        assert lock.get(name) == version, f"requirements.lock has {name}=={lock.get(name)}, requirements.txt {version}"


def test_dockerfile_matches_pinned_airflow_and_installs_the_lock():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+apache/airflow:(\S+)-python(\d+\.\d+)\s*$", text, re.M)
    assert base, "Dockerfile must build FROM the official apache/airflow image"
    assert base.group(1) == _pins(ROOT / "requirements.txt")["apache-airflow"]
    assert base.group(2) == "3.11"
    assert re.search(r"pip install .*-r \S*requirements\.lock", text), "the image must install the lock file"
    assert re.search(r"^USER airflow\s*$", text, re.M) and text.rstrip().rfind("USER root") < text.rfind("USER airflow")
    for folder in ("dags", "plugins", "include"):
        assert re.search(rf"^COPY .*\b{folder}/", text, re.M), f"the image must copy {folder}/"
    assert re.search(r"PYTHONPATH=/opt/airflow[:\s]", text), "project root must be on PYTHONPATH"
