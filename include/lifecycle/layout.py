"""Every artifact-store key of the lifecycle, in one place.

A key is relative to the store root (a local folder or ``s3://bucket/prefix``). Daily data lives in Hive-style
``date=YYYY-MM-DD`` partitions so a listing tells which days exist; everything a run produces lives under that
run's prefix. Functions take a use case (or its name) and return strings; nothing here touches a store, so the
module imports nothing of the lifecycle and can be used by every other module without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

_DATE_IN_KEY = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/|$)")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=-]")


def _n(uc: Any) -> str:
    """The use-case name of a UseCase or of a plain string."""
    return uc if isinstance(uc, str) else str(uc.name)


def as_date(day: date | datetime | str) -> date:
    """A date from a date, a datetime or an ISO string."""
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    return date.fromisoformat(str(day)[:10])


def day_str(day: date | datetime | str) -> str:
    """``YYYY-MM-DD`` of a date, a datetime or an ISO string (Airflow hands out all three)."""
    if isinstance(day, datetime):
        return day.date().isoformat()
    if isinstance(day, date):
        return day.isoformat()
    return date.fromisoformat(str(day)[:10]).isoformat()


def date_of(key: str) -> str | None:
    """The partition date inside a key (``.../date=2026-01-05/...``), None when there is none."""
    match = _DATE_IN_KEY.search(key)
    return match.group(1) if match else None


def safe(part: str) -> str:
    """A key segment from free text (run ids carry ``:`` and ``+``)."""
    return _UNSAFE.sub("_", str(part))


def _partition(kind: str, uc: Any, day: date | datetime | str) -> str:
    return f"{kind}/{_n(uc)}/date={day_str(day)}"


def _daily_file(kind: str, filename: str, doc: str = "") -> Callable[[Any, date | str], str]:
    """The key function of one file in a daily partition: ``<kind>/<uc>/date=<day>/<filename>``."""

    def key(uc: Any, day: date | str) -> str:
        return f"{_partition(kind, uc, day)}/{filename}"

    key.__doc__ = doc or f"``{kind}/<uc>/date=<day>/{filename}``"
    return key


def _run_file(filename: str, doc: str = "") -> Callable[[Any, str], str]:
    """The key function of one file of a training run: ``training/<uc>/<run>/<filename>``."""

    def key(uc: Any, run_id: str) -> str:
        return f"{run_prefix(uc, run_id)}/{filename}"

    key.__doc__ = doc or f"``training/<uc>/<run>/{filename}``"
    return key


# -- the source system's landing area (the replay, or a real S3 drop) ----------------------------------
def landing_prefix(uc: Any) -> str:
    """``source.landing`` of the YAML, else ``landing/<uc>``."""
    landing = None if isinstance(uc, str) else uc.source.get("landing")
    return str(landing or f"landing/{_n(uc)}").strip("/")


def landing_batch_key(uc: Any, day: date | str) -> str:
    return f"{landing_prefix(uc)}/batches/{day_str(day)}.csv"


def landing_labels_key(uc: Any, day: date | str) -> str:
    return f"{landing_prefix(uc)}/labels/{day_str(day)}.csv"


# -- acquisition and validation -------------------------------------------------------------------------
incoming_batch_key = _daily_file("incoming", "batch.csv", "The received bytes, untouched.")


def raw_prefix(uc: Any, day: date | str) -> str:
    return _partition("raw", uc, day)


accepted_key = _daily_file("raw", "accepted.parquet")


def quarantine_prefix(uc: Any, day: date | str) -> str:
    return _partition("quarantine", uc, day)


quarantine_rows_key = _daily_file("quarantine", "rows.parquet")

quarantine_reasons_key = _daily_file("quarantine", "reasons.json")

quarantine_bytes_key = _daily_file(
    "quarantine",
    "batch.csv",
    "A rejected batch's bytes, verbatim (an ``incoming/`` rerun overwrites; this copy stays).",
)


def validation_prefix(uc: Any, day: date | str) -> str:
    return _partition("validation", uc, day)


validation_result_key = _daily_file("validation", "result.json")

validation_report_key = _daily_file("validation", "report.html")

labels_key = _daily_file(
    "labels", "labels.parquet", "The accepted labels *delivered* on ``day`` (labels arrive days after their batch)."
)


def labels_quarantine_prefix(uc: Any, day: date | str) -> str:
    return f"quarantine/{_n(uc)}/labels/date={day_str(day)}"


def labels_quarantine_rows_key(uc: Any, day: date | str) -> str:
    return f"{labels_quarantine_prefix(uc, day)}/rows.parquet"


def labels_quarantine_bytes_key(uc: Any, day: date | str) -> str:
    """An unreadable labels delivery, verbatim."""
    return f"{labels_quarantine_prefix(uc, day)}/labels.csv"


profile_key = _daily_file(
    "profiles", "profile.html", "The exploratory profile (EDA) of an accepted partition: Evidently's HTML report."
)

profile_summary_key = _daily_file(
    "profiles",
    "profile.json",
    "What the partition's profile found, as JSON (sampling, missing values, categories; or why it failed).",
)

# -- features --------------------------------------------------------------------------------------------
features_key = _daily_file("features", "features.parquet")

features_source_key = _daily_file(
    "features",
    "source.json",
    "Which raw bytes a features partition was built from (sha256), for the safety-net reconciliation.",
)


# -- training runs ---------------------------------------------------------------------------------------
def run_prefix(uc: Any, run_id: str) -> str:
    return f"training/{_n(uc)}/{safe(run_id)}"


train_set_key = _run_file("train.parquet")

holdout_key = _run_file("holdout.parquet")

lineage_key = _run_file("lineage.json")

training_profile_key = _run_file(
    "profile.html",
    "The exploratory profile (EDA) of a run's assembled training set, with the relation of each feature to the target and the champion's training set as reference.",
)

training_profile_summary_key = _run_file("profile.json")


def candidate_prefix(uc: Any, run_id: str, name: str) -> str:
    return f"{run_prefix(uc, run_id)}/candidates/{safe(name)}"


best_key = _run_file("best.json")


def evaluation_key(uc: Any, run_id: str, which: str) -> str:
    """``which``: candidate | champion | comparison."""
    return f"{run_prefix(uc, run_id)}/evaluation/{which}.json"


def holdout_scores_key(uc: Any, run_id: str) -> str:
    """The candidate's positive-class scores on the holdout, in the holdout's row order (risk QA reuses them)."""
    return f"{run_prefix(uc, run_id)}/evaluation/candidate_scores.parquet"


def package_prefix(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/package"


registered_key = _run_file("registered.json")

experiment_key = _run_file(
    "experiment.json",
    "The run's experiment record: candidates side by side, data hash, code version, profile.",
)


def training_root(uc: Any) -> str:
    return f"training/{_n(uc)}/"


# -- the model registry ----------------------------------------------------------------------------------
def registry_prefix(model: str) -> str:
    return f"models/{model}"


def manifest_key(model: str, version: int) -> str:
    return f"{registry_prefix(model)}/versions/{int(version)}/manifest.json"


def upload_prefix(model: str, version: int, upload: str) -> str:
    """Artifacts of one registration attempt; unique per attempt so racing writers never share bytes."""
    return f"{registry_prefix(model)}/versions/{int(version)}/{upload}"


def alias_key(model: str, alias: str) -> str:
    return f"{registry_prefix(model)}/aliases/{alias}.json"


def ledger_entry_key(model: str, seq: int, entry_id: str) -> str:
    return f"{registry_prefix(model)}/ledger/{seq:08d}-{entry_id}.json"


# -- scoring ---------------------------------------------------------------------------------------------
predictions_key = _daily_file("predictions", "predictions.parquet")


def shadow_predictions_key(uc: Any, day: date | str, version: int) -> str:
    """A challenger's shadow scores: kept apart from the served predictions, never read by monitoring."""
    return f"shadow/{_n(uc)}/v{int(version)}/date={day_str(day)}/predictions.parquet"


def shadow_prefix(uc: Any, version: int | None = None) -> str:
    return f"shadow/{_n(uc)}/" + (f"v{int(version)}/" if version is not None else "")


def shadow_comparison_key(uc: Any, version: int, day: date | str) -> str:
    return f"shadow/{_n(uc)}/v{int(version)}/comparison/date={day_str(day)}/comparison.json"


# -- monitoring and retraining ---------------------------------------------------------------------------
def monitoring_prefix(uc: Any) -> str:
    return f"monitoring/{_n(uc)}"


monitoring_report_key = _daily_file("monitoring", "report.html")

monitoring_result_key = _daily_file("monitoring", "result.json")


def timeseries_key(uc: Any) -> str:
    return f"{monitoring_prefix(uc)}/timeseries.csv"


def reference_prefix(uc: Any, version: int, sha: str, rows: int, seed: int) -> str:
    return f"{monitoring_prefix(uc)}/reference/v{int(version)}-{sha[:12]}-n{rows}-s{seed}"


def retrain_decisions_prefix(uc: Any) -> str:
    return f"{monitoring_prefix(uc)}/retrain_decisions"


# -- alerts ------------------------------------------------------------------------------------------------
def sent_alerts_prefix() -> str:
    """Every alert sent, in any mode (``alerts/sent/<day>/...``), for the console's alerts page."""
    return "alerts/sent/"


def sent_alert_key(at: datetime, alert_id: str) -> str:
    return f"{sent_alerts_prefix()}{at.date().isoformat()}/{at.strftime('%Y%m%dT%H%M%S%fZ')}-{safe(alert_id)}.json"


# -- listing -------------------------------------------------------------------------------------------------
def partition_root(kind: str, uc: Any) -> str:
    """``<kind>/<uc>/`` for kind raw | features | labels | predictions | validation | quarantine | profiles."""
    return f"{kind}/{_n(uc)}/"


def partition_dates(store: Any, kind: str, uc: Any, filename: str | None = None) -> list[str]:
    """The ``date=`` partitions of one kind (optionally only those holding ``filename``), oldest first."""
    days = set()
    for key in store.list(partition_root(kind, uc)):
        if filename and not key.endswith(f"/{filename}"):
            continue
        found = date_of(key)
        if found and key.startswith(f"{kind}/{_n(uc)}/date="):
            days.add(found)
    return sorted(days)
