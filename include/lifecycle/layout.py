"""Every artifact-store key of the lifecycle, in one place.

A key is relative to the store root (a local folder or ``s3://bucket/prefix``). Daily data lives in Hive-style
``date=YYYY-MM-DD`` partitions so a listing tells which days exist; everything a run produces lives under that
run's prefix. Functions take a use case (or its name) and return strings; nothing here touches a store, so the
module imports nothing of the lifecycle and can be used by every other module without a cycle.
"""

from __future__ import annotations

import re
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
def incoming_batch_key(uc: Any, day: date | str) -> str:
    """The received bytes, untouched."""
    return f"{_partition('incoming', uc, day)}/batch.csv"


def raw_prefix(uc: Any, day: date | str) -> str:
    return _partition("raw", uc, day)


def accepted_key(uc: Any, day: date | str) -> str:
    return f"{raw_prefix(uc, day)}/accepted.parquet"


def quarantine_prefix(uc: Any, day: date | str) -> str:
    return _partition("quarantine", uc, day)


def quarantine_rows_key(uc: Any, day: date | str) -> str:
    return f"{quarantine_prefix(uc, day)}/rows.parquet"


def quarantine_reasons_key(uc: Any, day: date | str) -> str:
    return f"{quarantine_prefix(uc, day)}/reasons.json"


def quarantine_bytes_key(uc: Any, day: date | str) -> str:
    """A rejected batch's bytes, verbatim (an ``incoming/`` rerun overwrites; this copy stays)."""
    return f"{quarantine_prefix(uc, day)}/batch.csv"


def validation_prefix(uc: Any, day: date | str) -> str:
    return _partition("validation", uc, day)


def validation_result_key(uc: Any, day: date | str) -> str:
    return f"{validation_prefix(uc, day)}/result.json"


def validation_report_key(uc: Any, day: date | str) -> str:
    return f"{validation_prefix(uc, day)}/report.html"


def labels_key(uc: Any, day: date | str) -> str:
    """The accepted labels *delivered* on ``day`` (labels arrive days after their batch)."""
    return f"{_partition('labels', uc, day)}/labels.parquet"


def labels_quarantine_prefix(uc: Any, day: date | str) -> str:
    return f"quarantine/{_n(uc)}/labels/date={day_str(day)}"


def labels_quarantine_rows_key(uc: Any, day: date | str) -> str:
    return f"{labels_quarantine_prefix(uc, day)}/rows.parquet"


def labels_quarantine_bytes_key(uc: Any, day: date | str) -> str:
    """An unreadable labels delivery, verbatim."""
    return f"{labels_quarantine_prefix(uc, day)}/labels.csv"


def profile_key(uc: Any, day: date | str) -> str:
    """The exploratory profile (EDA) of an accepted partition: Evidently's HTML report."""
    return f"{_partition('profiles', uc, day)}/profile.html"


def profile_summary_key(uc: Any, day: date | str) -> str:
    """What the partition's profile found, as JSON (sampling, missing values, categories; or why it failed)."""
    return f"{_partition('profiles', uc, day)}/profile.json"


# -- features --------------------------------------------------------------------------------------------
def features_key(uc: Any, day: date | str) -> str:
    return f"{_partition('features', uc, day)}/features.parquet"


def features_source_key(uc: Any, day: date | str) -> str:
    """Which raw bytes a features partition was built from (sha256), for the safety-net reconciliation."""
    return f"{_partition('features', uc, day)}/source.json"


# -- training runs ---------------------------------------------------------------------------------------
def run_prefix(uc: Any, run_id: str) -> str:
    return f"training/{_n(uc)}/{safe(run_id)}"


def train_set_key(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/train.parquet"


def holdout_key(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/holdout.parquet"


def lineage_key(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/lineage.json"


def training_profile_key(uc: Any, run_id: str) -> str:
    """The exploratory profile (EDA) of a run's assembled training set, with the relation of each feature to the
    target and the champion's training set as reference."""
    return f"{run_prefix(uc, run_id)}/profile.html"


def training_profile_summary_key(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/profile.json"


def candidate_prefix(uc: Any, run_id: str, name: str) -> str:
    return f"{run_prefix(uc, run_id)}/candidates/{safe(name)}"


def best_key(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/best.json"


def evaluation_key(uc: Any, run_id: str, which: str) -> str:
    """``which``: candidate | champion | comparison."""
    return f"{run_prefix(uc, run_id)}/evaluation/{which}.json"


def package_prefix(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/package"


def registered_key(uc: Any, run_id: str) -> str:
    return f"{run_prefix(uc, run_id)}/registered.json"


def experiment_key(uc: Any, run_id: str) -> str:
    """The run's experiment record: candidates side by side, data hash, code version, profile."""
    return f"{run_prefix(uc, run_id)}/experiment.json"


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
def predictions_key(uc: Any, day: date | str) -> str:
    return f"{_partition('predictions', uc, day)}/predictions.parquet"


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


def monitoring_report_key(uc: Any, day: date | str) -> str:
    return f"{monitoring_prefix(uc)}/date={day_str(day)}/report.html"


def monitoring_result_key(uc: Any, day: date | str) -> str:
    return f"{monitoring_prefix(uc)}/date={day_str(day)}/result.json"


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
