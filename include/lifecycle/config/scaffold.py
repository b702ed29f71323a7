"""Scaffold a new use case from a data sample: the column contract inferred, the suite, defaults, and a to-do list.

What TFX's SchemaGen and SageMaker's ``suggest_baseline`` do, for this project's YAML: each column's kind is
inferred from its values, numeric ranges are the observed ones widened by a margin, categories are the
observed ones, and the null-rate bound of a column is measured on the batches the replay will deliver (the
worst day, with headroom) rather than on the whole file, because validation judges one day at a time.
Everything a data sample cannot decide (what a wrong answer costs, which thresholds the business accepts,
which slices matter, who approves) is written as a marked default and listed for the SME.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

BINARY_TOKENS = {"0", "1", "0.0", "1.0", "yes", "no", "y", "n", "true", "false", "t", "f"}
MAX_CATEGORIES = 50
RANGE_MARGIN = 0.1  # widen observed numeric ranges by 10% of their span on each side


@dataclass
class Scaffold:
    name: str
    yaml_path: Path
    data_path: Path
    suite_path: Path
    sha256: str
    columns: dict[str, dict[str, Any]]
    todo: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _round_out(value: float, up: bool) -> float:
    """A readable bound just outside ``value`` (2 significant digits beyond the integer part)."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(value))) - 1)
    rounded = (math.ceil if up else math.floor)(value / scale) * scale
    return float(round(rounded, 6))


def infer_column(series: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(spec, None) for a usable column, (None, why) for one left out."""
    import pandas as pd

    present = series.dropna().astype(str).str.strip()
    present = present[present != ""]
    if present.empty:
        return None, "every value is empty"
    lowered = set(present.str.lower().unique())
    numbers = pd.to_numeric(present, errors="coerce")
    if lowered <= BINARY_TOKENS and len(lowered) <= 2:
        return {"kind": "binary"}, None
    if numbers.notna().all():
        lo, hi = float(numbers.min()), float(numbers.max())
        span = (hi - lo) or max(abs(hi), 1.0)
        low = lo - RANGE_MARGIN * span
        low = max(low, 0.0) if lo >= 0 else low
        return {"kind": "numeric", "min": _round_out(low, up=False), "max": _round_out(hi + RANGE_MARGIN * span, up=True)}, None
    counts = present.value_counts()
    if len(counts) > MAX_CATEGORIES:
        return None, f"{len(counts)} distinct text values: free text or an identifier, not a category"
    return {"kind": "categorical", "values": [str(v) for v in counts.index]}, None


def _null_bounds(frame: Any, columns: list[str], days: int, history_fraction: float, seed: int) -> dict[str, float]:
    """Worst per-day null share of each column over the batches the replay will deliver, with headroom."""
    import numpy as np

    n = len(frame)
    rng = np.random.default_rng(seed)  # the same draws as include.lifecycle.data.replay.plan
    order = rng.permutation(n)
    day = np.empty(n, dtype="int64")
    n_history = int(round(history_fraction * n))
    day[order[:n_history]] = -1
    day[order[n_history:]] = rng.integers(0, days, size=n - n_history)
    out = {}
    for col in columns:
        nulls = frame[col].isna() | (frame[col].astype(str).str.strip() == "")
        if not nulls.any():
            out[col] = 0.0
            continue
        worst = float(nulls.groupby(day).mean().max())
        out[col] = min(1.0, math.ceil((worst * 1.25 + 0.02) * 100) / 100)
    return out


def _yaml_scalar(value: Any) -> str:
    import json

    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value)


def render_yaml(s: Scaffold, *, description: str, dataset_file: str, target: str, id_col: str, positive: str,
                labels: list[str], days: int, start: date, delay: int, seed: int, min_rows: int, smes: list[str],
                suite_file: str, slices: list[str]) -> str:
    cols = []
    for col, spec in s.columns.items():
        parts = [f"kind: {spec['kind']}"]
        if "min" in spec:
            parts += [f"min: {spec['min']:g}", f"max: {spec['max']:g}"]
        if "values" in spec:
            parts.append("values: [" + ", ".join(_yaml_scalar(v) for v in spec["values"]) + "]")
        if spec.get("nullable"):
            parts.append(f"nullable: {spec['nullable']:g}")
        cols.append(f"  {_yaml_scalar(col) if not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', col) else col}: "
                    f"{{{', '.join(parts)}}}")
    return f"""# Use case {s.name}: scaffolded from {Path(dataset_file).name} by `make usecase-init`.
# Lines marked TODO(SME) are defaults a data sample cannot decide: the SME must confirm or change them.
name: {s.name}
description: >
  {description}

dataset:
  file: {dataset_file}
  sha256: {s.sha256}
  id: {id_col}
  target: {target}
  positive_label: {_yaml_scalar(positive)}
  labels: [{", ".join(_yaml_scalar(v) for v in labels)}]

# Column contract of an incoming batch, inferred from the sample: ranges widened by {RANGE_MARGIN:.0%} of their
# span, categories as observed, nullable = the worst day's null share in the replay, with headroom.
columns:
{chr(10).join(cols)}

replay:
  start_date: "{start.isoformat()}"
  days: {days}
  seed: {seed}
  label_delay_days: {delay}
  history_fraction: 0.4

source:
  kind: local
  landing: landing/{s.name}

validation:
  suite: {suite_file}
  min_rows: {min_rows}
  max_rows: 10000000
  on_batch_failure: continue

slices: [{", ".join(slices)}]  # TODO(SME): the groups whose performance matters on their own

business:  # TODO(SME): what each outcome costs, per case
  cost_false_negative: 1
  cost_false_positive: 1
  cost_true_positive: 0
  cost_true_negative: 0

evaluation:
  holdout_fraction: 0.25
  primary_metric: roc_auc
  bootstrap: {{samples: 300, confidence: 0.95, seed: 7}}
  thresholds:  # TODO(SME): the least a model must reach, and the most it may lose against the champion
    roc_auc: {{min: 0.7, max_drop: 0.02, drop_kind: absolute}}
  slice_metric: roc_auc
  slice_max_drop: 0.05
  slice_min_rows: 30
  # TODO(SME): the least each slice must reach on its own (blocks the blessing; false: a warning only)
  slice_thresholds: {{roc_auc: 0.5}}
  slice_thresholds_block: true

candidates:
  - name: logreg
    estimator: sklearn.linear_model.LogisticRegression
    params: {{max_iter: 2000}}
    search: {{C: [0.1, 1.0, 10.0]}}
  - name: hgb
    estimator: sklearn.ensemble.HistGradientBoostingClassifier
    params: {{random_state: 0}}
    search: {{learning_rate: [0.05, 0.1], max_depth: [3, 6]}}
search_cv_folds: 3
seed: 0

monitoring:
  performance_min: {{roc_auc: 0.65}}  # TODO(SME): below this, production performance is a breach

approval:
  assigned_smes: [{", ".join(smes)}]  # TODO(SME): who may approve a model of this use case
  timeout_hours: 72
"""


def scaffold(data: Path, *, target: str, id_col: str, positive: str, name: str | None = None,
             config_dir: Path | None = None, data_dir: Path | None = None, expectations_dir: Path | None = None,
             days: int = 60, start: date = date(2026, 1, 1), delay: int = 7, seed: int = 42,
             smes: tuple[str, ...] = ("sme_alice",), force: bool = False) -> Scaffold:
    """Write ``<config_dir>/<name>.yaml``, a gzip copy of the data and the GX suite; return what was written."""
    import pandas as pd

    from include.lifecycle.config import PROJECT_ROOT, ConfigError, default_config_dir, load_use_case
    from include.lifecycle.config.schema import NAME_RE
    from include.lifecycle.data.suite import write_suite

    name = name or re.sub(r"[^a-z0-9_]+", "_", data.name.split(".")[0].lower()).strip("_")
    if not NAME_RE.match(name) or "__" in name:
        raise ConfigError(f"use case name {name!r} is not usable in DAG ids and keys; pass --name")
    config_dir = config_dir or default_config_dir()
    data_dir = data_dir or PROJECT_ROOT / "include" / "data"
    expectations_dir = expectations_dir or PROJECT_ROOT / "include" / "expectations"
    yaml_path = config_dir / f"{name}.yaml"
    if yaml_path.exists() and not force:
        raise ConfigError(f"{yaml_path} already exists (pass --force to overwrite)")
    frame = pd.read_csv(data, dtype=str, keep_default_na=False, na_values=[""])
    for col, what in ((target, "--target"), (id_col, "--id")):
        if col not in frame.columns:
            raise ConfigError(f"{what} {col!r} is not a column of {data.name} (columns: {list(frame.columns)})")
    if frame[id_col].isna().any() or frame[id_col].duplicated().any():
        raise ConfigError(f"--id {id_col!r} must be unique and never empty in {data.name}")
    labels = sorted(str(v) for v in frame[target].dropna().unique())
    if len(labels) != 2:
        raise ConfigError(f"--target {target!r} must hold exactly two labels, {data.name} has {labels[:10]}")
    if positive not in labels:
        raise ConfigError(f"--positive {positive!r} is not one of the target's labels {labels}")
    labels = [v for v in labels if v != positive] + [positive]

    columns: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for col in frame.columns:
        if col in (target, id_col):
            continue
        spec, why = infer_column(frame[col])
        if spec is None:
            skipped[col] = str(why)
        else:
            columns[col] = spec
    if not columns:
        raise ConfigError(f"{data.name}: no usable feature column ({skipped})")
    for col, bound in _null_bounds(frame, list(columns), days, 0.4, seed).items():
        if bound:
            columns[col]["nullable"] = bound

    data_dir.mkdir(parents=True, exist_ok=True)
    data_path = data_dir / f"{name}.csv.gz"
    payload = gzip.compress(data.read_bytes(), mtime=0)  # mtime 0: the same input gives the same sha256
    data_path.write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    suite_path = expectations_dir / f"{name}.json"
    per_day = len(frame) * 0.6 / days
    slices = [c for c, s in columns.items() if s["kind"] in ("categorical", "binary")][:2]
    result = Scaffold(name, yaml_path, data_path, suite_path, sha, columns, skipped=skipped)

    def rel(p: Path) -> str:
        return str(p.relative_to(PROJECT_ROOT)) if p.is_relative_to(PROJECT_ROOT) else str(p)

    text = render_yaml(result, description=f"TODO(SME): the business question {name} answers.",
                       dataset_file=rel(data_path), target=target, id_col=id_col, positive=positive, labels=labels,
                       days=days, start=start, delay=delay, seed=seed, min_rows=max(1, int(per_day * 0.3)),
                       smes=list(smes), suite_file=rel(suite_path), slices=slices)
    config_dir.mkdir(parents=True, exist_ok=True)
    yaml_path.write_text(text, encoding="utf-8")
    suite_path.parent.mkdir(parents=True, exist_ok=True)
    write_suite(load_use_case(yaml_path, check_files=False))
    load_use_case(yaml_path)  # the scaffold must pass its own check
    result.todo = [
        "description: the business question, in the SME's words",
        "business: the cost of a missed positive, of a false alarm, of a true positive (per case)",
        "evaluation.thresholds: the least a model must reach and the most it may lose against the champion",
        f"slices: the groups judged on their own (defaulted to {slices})",
        f"approval.assigned_smes: who approves {name} models (defaulted to {list(smes)})",
        "monitoring.performance_min: the production performance below which to alert and retrain",
    ]
    if skipped:
        result.todo.append(f"columns left out ({', '.join(f'{c}: {w}' for c, w in skipped.items())})")
    return result
