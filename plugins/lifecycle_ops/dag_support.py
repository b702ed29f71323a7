"""What every lifecycle DAG shares: owners, default args, assets. Cheap to import at parse time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset

# Stakeholder roles, used as DAG owners (the integrity tests check every DAG names one).
ROLES = ("data-engineer", "data-analyst", "data-scientist", "software-engineer", "devops", "sme")


def default_args(owner: str, retries: int = 1) -> dict[str, Any]:
    from lifecycle_ops.alerting import on_failure_notifier

    if owner not in ROLES:
        raise ValueError(f"owner {owner!r} is not a stakeholder role {ROLES}")
    return {
        "owner": owner,
        "retries": retries,
        "retry_delay": timedelta(seconds=20),
        "on_failure_callback": on_failure_notifier(),
    }


def raw_asset(use_case: str) -> Asset:
    return Asset(name=f"raw/{use_case}", uri=f"lifecycle://raw/{use_case}", group="lifecycle")


def features_asset(use_case: str) -> Asset:
    return Asset(name=f"features/{use_case}", uri=f"lifecycle://features/{use_case}", group="lifecycle")


def champion_asset(use_case: str) -> Asset:
    return Asset(name=f"model/{use_case}@champion", uri=f"lifecycle://model/{use_case}/champion", group="lifecycle")


def candidate_asset(use_case: str) -> Asset:
    return Asset(name=f"model/{use_case}@challenger", uri=f"lifecycle://model/{use_case}/challenger",
                 group="lifecycle")


def predictions_asset(use_case: str) -> Asset:
    return Asset(name=f"predictions/{use_case}", uri=f"lifecycle://predictions/{use_case}", group="lifecycle")


def retrain_asset(use_case: str) -> Asset:
    return Asset(name=f"retrain-requested/{use_case}", uri=f"lifecycle://retrain-requested/{use_case}",
                 group="lifecycle")


def partitions_from_events(context: dict[str, Any], asset: Asset) -> list[str]:
    """Partition dates carried in the ``extra`` of the asset events that triggered this run."""
    events = (context.get("triggering_asset_events") or {})
    found: list[str] = []
    for key, evs in events.items():
        name = getattr(key, "name", None) or str(key)
        if name != asset.name and getattr(key, "uri", None) != asset.uri:
            continue
        for ev in evs:
            part = (ev.extra or {}).get("partition")
            if part and part not in found:
                found.append(part)
    return sorted(found)
