"""What every generated lifecycle DAG shares: the use cases, DAG ids, assets, pools, owners, default args.

Cheap at parse time: it reads the use-case YAMLs, answered from the validated-config cache while they are
unchanged (``include.lifecycle.config.cache``: no YAML parsing, no pydantic), and imports nothing heavy. Every
DAG file builds its stage for each *valid* use case; an invalid YAML is reported by ``dags/use_case_configs.py``
as an import error naming the file and the key, and gets no DAGs at all, so a use case is never half-registered
while every other use case keeps loading.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable

from include.lifecycle.config import ConfigError, UseCase, load_all
from lifecycle_ops.runtime import config_dir

# Stakeholder roles, used as DAG owners (the integrity tests check every DAG names one).
ROLES = ("data-engineer", "data-analyst", "data-scientist", "software-engineer", "devops", "sme")
SEPARATOR = "__"  # <use case>__<stage>; use-case names may not contain it (schema.NAME_RE)
STAGES = ("data_acquisition", "feature_engineering", "model_training", "model_rollback", "batch_scoring",
          "scoring_catchup", "model_monitoring")


def use_cases() -> list[UseCase]:
    """The valid use cases, by name; the invalid ones are left to :func:`config_errors`."""
    good, _bad = load_all(config_dir())
    return [good[name] for name in sorted(good)]


def config_errors() -> dict[Path, ConfigError]:
    return load_all(config_dir())[1]


def dag_id(uc: UseCase | str, stage: str) -> str:
    name = uc if isinstance(uc, str) else uc.name
    return f"{name}{SEPARATOR}{stage}"


def tags(uc: UseCase, *stages: str) -> list[str]:
    return ["lifecycle", f"use-case:{uc.name}", *(f"stage:{s}" for s in stages)]


def default_args(owner: str, retries: int = 1) -> dict[str, Any]:
    from lifecycle_ops.notifiers import on_failure_notifier

    if owner not in ROLES:
        raise ValueError(f"owner {owner!r} is not a stakeholder role {ROLES}")
    return {
        "owner": owner,
        "retries": retries,
        "retry_delay": timedelta(seconds=20),
        "on_failure_callback": on_failure_notifier(),
    }


def nightly(cron: str) -> CronTriggerTimetable:
    """A cron schedule whose first run is the next tick, never one just past.

    With no start_date, ``run_immediately=False`` still runs the latest tick at once when the DAG appears
    within 10% of the cron's period after it (Airflow 3.3 treats False like None): deployed at 04:20 a nightly
    02:00 training started at once and held ``max_active_runs`` against the run a person had just asked for.
    """
    return CronTriggerTimetable(cron, timezone="UTC", run_immediately=timedelta(0))


def doc(module_doc: str | None, uc: UseCase) -> str:
    """The stage's docstring with the use case's business question on top (shown as the DAG's docs)."""
    question = " ".join(str(uc.raw.get("description", "")).split())
    return f"**Use case `{uc.name}`** — {question}\n\n{module_doc or ''}"


# -- pools (created per use case by `make run` / `make settings`, see scripts/apply_settings.py) ---------------
def training_pool(uc: UseCase) -> str:
    return f"lifecycle_training{SEPARATOR}{uc.name}"


def scoring_pool(uc: UseCase) -> str:
    return f"lifecycle_scoring{SEPARATOR}{uc.name}"


# -- assets: names only (no URI scheme, so no provider URI handler is loaded at parse time) ------------------
def _asset(kind: str, uc: UseCase) -> Asset:
    return Asset(name=f"{kind}/{uc.name}", group="lifecycle")


def raw_asset(uc: UseCase) -> Asset:
    """Accepted rows of a daily partition (partitioned: one event per day, key ``YYYY-MM-DD``)."""
    return _asset("raw", uc)


def features_asset(uc: UseCase) -> Asset:
    return _asset("features", uc)


def predictions_asset(uc: UseCase) -> Asset:
    return _asset("predictions", uc)


def champion_asset(uc: UseCase) -> Asset:
    return Asset(name=f"model/{uc.name}@champion", group="lifecycle")


def challenger_asset(uc: UseCase) -> Asset:
    return Asset(name=f"model/{uc.name}@challenger", group="lifecycle")


def retrain_asset(uc: UseCase) -> Asset:
    """Every retraining request, as an event (the request itself starts training through a DAG trigger)."""
    return _asset("retrain-requested", uc)
