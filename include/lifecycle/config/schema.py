"""The declared schema of a use-case YAML (pydantic): every key, its type, its default, and the cross-checks.

Unknown keys are errors (``extra="forbid"``), so a misspelt optional key is reported instead of silently
ignored. :func:`errors_of` turns a validation failure into one line per problem, each naming its dotted path.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Safe in a DAG id (``<name>__<stage>``), a path and a bucket key; ``__`` is the DAG-id separator.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KEY_SAFE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
METRICS = ("roc_auc", "average_precision", "log_loss", "brier", "precision", "recall", "f1", "accuracy",
           "expected_cost_per_customer")
SLICE_METRICS = ("roc_auc", "average_precision", "recall", "precision", "expected_cost_per_customer")
# With no `slice_thresholds` key a judged slice must rank better than chance: AUC 0.5 is a coin toss in the group.
DEFAULT_SLICE_THRESHOLDS = {"roc_auc": 0.5}
ColumnKind = Literal["numeric", "binary", "categorical"]
Label = str | int | bool


def _only_known(value: dict[str, Any], known: Any, message: str) -> dict[str, Any]:
    """``value`` when its keys are all in ``known``, else a ValueError naming the strangers."""
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(message.format(unknown=unknown, known=list(known)))
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ColumnSpec(_Strict):
    kind: ColumnKind
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None
    nullable: float = Field(0.0, ge=0.0, le=1.0, description="largest allowed share of nulls in a batch")

    @model_validator(mode="after")
    def _kind_fits(self) -> ColumnSpec:
        if self.kind == "categorical" and not self.values:
            raise ValueError("a categorical column must list its allowed `values`")
        if self.kind != "categorical" and self.values is not None:
            raise ValueError(f"`values` is only for categorical columns, this one is {self.kind}")
        if self.kind != "numeric" and (self.min is not None or self.max is not None):
            raise ValueError(f"`min`/`max` are only for numeric columns, this one is {self.kind}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Dataset(_Strict):
    file: str | None = Field(None, description="bundled data file (needed by the replay and by `check`)")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    id: str
    target: str
    positive_label: Label
    labels: list[Label] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _positive_is_a_label(self) -> Dataset:
        if self.positive_label not in self.labels:
            raise ValueError(f"positive_label {self.positive_label!r} is not one of labels {self.labels}")
        if len(set(map(str, self.labels))) != 2:
            raise ValueError(f"labels {self.labels} must be two different values")
        return self


class Drift(_Strict):
    enabled: bool = False
    start_day: int = Field(0, ge=0)
    numeric_scale: dict[str, float] = Field(default_factory=dict)
    category_mix: dict[str, dict[str, float]] = Field(default_factory=dict)


class Replay(_Strict):
    start_date: date
    days: int = Field(ge=1)
    seed: int
    label_delay_days: int = Field(ge=0)
    history_fraction: float = Field(0.4, ge=0.0, lt=1.0)
    drift: Drift = Field(default_factory=Drift)


class Source(_Strict):
    kind: Literal["local", "s3", "sql"] = "local"
    landing: str | None = Field(None, description="key prefix of the delivered files (local store or bucket)")
    bucket: str | None = None
    conn_id: str | None = Field(None, description="Airflow connection of the source (s3: aws, sql: a DB)")
    sql_table: str | None = None
    sql_labels_table: str | None = None
    sql_paramstyle: Literal["qmark", "format", "pyformat", "named", "numeric"] = "qmark"
    date_column: str = "batch_date"

    @model_validator(mode="after")
    def _kind_has_what_it_needs(self) -> Source:
        if self.kind == "s3" and not self.bucket:
            raise ValueError("source.kind s3 needs `bucket`")
        if self.kind == "sql" and not self.sql_table:
            raise ValueError("source.kind sql needs `sql_table`")
        return self


class Validation(_Strict):
    suite: str | None = Field(None, description="the stored GX suite (default include/expectations/<name>.json)")
    min_rows: int = Field(1, ge=0)
    max_rows: int = Field(10_000_000, ge=1)
    on_batch_failure: Literal["continue", "fail"] = "continue"


class Business(_Strict):
    cost_false_negative: float = Field(ge=0)
    cost_false_positive: float = Field(ge=0)
    cost_true_positive: float = Field(0.0, ge=0)
    cost_true_negative: float = Field(0.0, ge=0)


class Threshold(_Strict):
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(None, ge=0)
    max_rise: float | None = Field(None, ge=0)
    drop_kind: Literal["absolute", "relative"] = "absolute"
    rise_kind: Literal["absolute", "relative"] = "absolute"
    higher_is_better: bool | None = None


class Bootstrap(_Strict):
    samples: int = Field(300, ge=10)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = 0


class Evaluation(_Strict):
    holdout_fraction: float = Field(0.25, gt=0.0, lt=1.0)
    primary_metric: Literal[METRICS] = "roc_auc"  # type: ignore[valid-type]
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    thresholds: dict[str, Threshold]
    slice_metric: Literal[METRICS] | None = None  # type: ignore[valid-type]
    slice_max_drop: float = Field(0.05, ge=0)
    slice_min_rows: int = Field(30, ge=1)
    # Judged on each slice alone, champion or not (TFX-style). The default asks every judged slice to rank better
    # than chance; ``{}`` switches slice value thresholds off.
    slice_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SLICE_THRESHOLDS),
        description="per-slice value thresholds: metric -> bound (a minimum; a maximum for expected cost)")
    slice_thresholds_block: bool = Field(True, description="a slice missing its threshold blocks the blessing "
                                                           "(false: reported as a warning in the evidence)")

    @field_validator("thresholds")
    @classmethod
    def _known_metrics(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _only_known(value, METRICS, "unknown metrics {unknown}; known: {known}")

    @field_validator("slice_thresholds")
    @classmethod
    def _slice_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        return _only_known(value, SLICE_METRICS,
                           "metrics {unknown} are not computed per slice; per-slice metrics: {known}")


class Candidate(_Strict):
    name: str = Field(pattern=KEY_SAFE_RE.pattern)
    estimator: str = Field(pattern=r"^sklearn(\.[A-Za-z_][A-Za-z0-9_]*)+$",
                           description="a scikit-learn estimator class (a YAML must not import arbitrary code)")
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Any] = Field(default_factory=dict)


class Fairness(_Strict):
    slice: str
    metric: Literal["recall"] = "recall"
    max_gap: float = Field(0.2, ge=0, le=1)
    min_positives: int = Field(10, ge=1)


class QA(_Strict):
    fairness: Fairness | None = None
    latency_ms_per_1000_rows: float = Field(250, gt=0)
    latency_runs: int = Field(5, ge=1)
    invariance_max_abs_diff: float = Field(1e-9, ge=0)
    # rows the id-invariance check re-scores (a seeded sample; a model that reads the id moves nearly every row)
    invariance_rows: int = Field(50_000, ge=100)


class Monitoring(_Strict):
    drift_method: str = "psi"
    column_drift_threshold: float = Field(0.1, gt=0)
    drift_share_threshold: float = Field(0.3, gt=0, le=1)
    prediction_drift_threshold: float = Field(0.1, gt=0)
    performance_min: dict[str, float] = Field(default_factory=dict)
    sample_rows: int = Field(50_000, ge=100)
    window_days: int = Field(7, ge=1)
    min_current_rows: int = Field(500, ge=1)
    performance_window_days: int = Field(30, ge=1)
    min_labelled_rows: int = Field(100, ge=1)
    seed: int | None = None

    @field_validator("performance_min")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        return _only_known(value, METRICS, "unknown metrics {unknown}; known: {known}")


class Profiling(_Strict):
    sample_rows: int = Field(5000, ge=100, description="rows profiled per partition / training set (seeded sample)")
    seed: int = 0
    compare_with_champion: bool = Field(True, description="the champion's training set as the profile's reference")


class Retraining(_Strict):
    cooldown_hours: float = Field(24, ge=0)
    min_new_labelled_rows: int = Field(300, ge=0)


class Shadow(_Strict):
    min_days: int = Field(ge=1, description="replay days of live scoring the challenger must shadow")
    min_labelled_rows: int = Field(ge=1, description="matured labelled live rows the comparison needs")
    max_wait_days: float = Field(14, gt=0, description="the request is dropped (skipped) after waiting this long")
    check_every_minutes: float = Field(30, gt=0, description="how often the waiting run looks for new evidence "
                                                             "(it grows once a day: a scored day, a labels delivery)")


class Approval(_Strict):
    assigned_smes: list[str] = Field(min_length=1)
    timeout_hours: float = Field(72, gt=0)
    shadow: Shadow | None = None


class Training(_Strict):
    min_labelled_rows: int = Field(200, ge=10)


class Resources(_Strict):
    training_slots: int = Field(2, ge=1, description="pool lifecycle_training__<name>")
    scoring_slots: int = Field(2, ge=1, description="pool lifecycle_scoring__<name>")


class Schedules(_Strict):
    acquisition: str = Field("30 0 * * *", description="cron, UTC; each run loads the previous day")
    training: str | None = Field("0 2 * * *", description="cron, UTC; nightly retraining (null: only on request)")


class UseCaseConfig(_Strict):
    name: str
    description: str = ""
    intended_use: str = Field("", description="who acts on the predictions and how (the model card quotes it)")
    owner_sme: str | None = None
    model_name: str | None = Field(None, pattern=KEY_SAFE_RE.pattern)
    dataset: Dataset
    columns: dict[str, ColumnSpec] = Field(min_length=1)
    replay: Replay | None = None
    source: Source = Field(default_factory=Source)
    validation: Validation = Field(default_factory=Validation)
    slices: list[str] = Field(default_factory=list)
    business: Business
    evaluation: Evaluation
    candidates: list[Candidate] = Field(min_length=1)
    search_cv_folds: int = Field(3, ge=2)
    seed: int = 0
    qa: QA = Field(default_factory=QA)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    profiling: Profiling = Field(default_factory=Profiling)
    retraining: Retraining = Field(default_factory=Retraining)
    approval: Approval
    training: Training = Field(default_factory=Training)
    resources: Resources = Field(default_factory=Resources)
    schedules: Schedules = Field(default_factory=Schedules)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not NAME_RE.match(value) or "__" in value:
            raise ValueError(f"{value!r} is not usable in DAG ids, paths and bucket keys: use lower-case letters, "
                             "digits and single underscores, starting with a letter (at most 40 characters)")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> UseCaseConfig:
        problems: list[str] = []
        cols = self.columns
        for key in ("id", "target"):
            if getattr(self.dataset, key) in cols:
                problems.append(f"dataset.{key} {getattr(self.dataset, key)!r} must not be listed under columns")
        problems += [f"slices: {s!r} is not a configured column" for s in self.slices if s not in cols]
        if self.qa.fairness and self.qa.fairness.slice not in cols:
            problems.append(f"qa.fairness.slice: {self.qa.fairness.slice!r} is not a configured column")
        names = [c.name for c in self.candidates]
        problems += [f"candidates: name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
        if self.replay is not None:
            if not self.dataset.file:
                problems.append("replay needs dataset.file (the snapshot it replays)")
            for col in self.replay.drift.numeric_scale:
                if cols.get(col) is None or cols[col].kind != "numeric":
                    problems.append(f"replay.drift.numeric_scale: {col!r} is not a numeric column")
            for col, mix in self.replay.drift.category_mix.items():
                spec = cols.get(col)
                if spec is None or spec.kind != "categorical":
                    problems.append(f"replay.drift.category_mix: {col!r} is not a categorical column")
                elif unknown := sorted(set(mix) - set(spec.values or [])):
                    problems.append(f"replay.drift.category_mix.{col}: unknown values {unknown}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def errors_of(exc: ValidationError) -> list[str]:
    """One line per problem: ``dotted.path: message`` (``(top level)`` for whole-file checks)."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (misspelt? see include/lifecycle/config/schema.py for the keys)"
        lines.append(f"{path}: {message}")
    return lines
