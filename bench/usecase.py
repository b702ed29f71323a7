"""The use case the benchmarks run: churn.yaml with the limits a benchmark needs, written under bench/out.

Only what the measurement requires changes, and RESULTS.md says so: ``validation.max_rows`` (the
production contract rejects a batch over 100k rows, so a 1M-row batch would measure the rejection
path), its generated suite file, and optionally the candidate list (the scale-out fan-out, the
``--quick`` smoke). The name stays ``churn`` (so keys and DAG code paths are the ones in production), so the
file is ``<folder>/churn.yaml``: a config folder of its own, as a deployment's ``LIFECYCLE_CONFIG_DIR``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from include.lifecycle.config import UseCase, load_use_case


def write_bench_use_case(path: Path, max_rows: int = 20_000_000, candidates: list[dict[str, Any]] | None = None,
                         bootstrap_samples: int | None = None) -> UseCase:
    """Write ``<path's folder>/churn.yaml`` and its expectation suite next to it; return the loaded use case."""
    from include.lifecycle.data.suite import write_suite

    path = path.parent / "churn.yaml"
    base = load_use_case("churn")
    raw = copy.deepcopy(base.raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw["validation"]["max_rows"] = int(max_rows)
    raw["validation"]["suite"] = str(path.with_suffix(".suite.json"))
    if candidates is not None:
        raw["candidates"] = candidates
    if bootstrap_samples is not None:
        raw["evaluation"]["bootstrap"]["samples"] = int(bootstrap_samples)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    write_suite(load_use_case(path, check_files=False))
    return load_use_case(path)
