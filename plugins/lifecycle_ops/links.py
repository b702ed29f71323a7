"""URLs of the MLOps console, built from the API server's ``[api] base_url``, for approvals, alerts and tasks.

The console is mounted at ``/lifecycle`` (``lifecycle_ops.console.app.URL_PREFIX``). Task extra links point at
the console's task route with ``?go=<what>``: the console finds the run's partition or registered version and
redirects, so a link is cheap to compute (no store read per task in the grid) and is never stale.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

PREFIX = "/lifecycle"
SEPARATOR = "__"  # generated DAG ids are <use case>__<stage> (lifecycle_ops.factory.SEPARATOR)


def base_url() -> str:
    """``[api] base_url`` + the console's prefix, e.g. ``http://localhost:8080/lifecycle``."""
    from airflow.configuration import conf

    return str(conf.get("api", "base_url", fallback="http://localhost:8080/")).rstrip("/") + PREFIX


# Every console page about one use case, relative to ``/uc/<use case>/``: one table for alerts, approvals and the
# console's own task tab, so a moved page cannot leave a stale link behind.
PAGES = {
    "model_card": "models/{version}",
    "evaluation": "models/{version}/evaluation",
    "registry": "registry",
    "data": "data/{day}",
    "validation_report": "data/{day}/report.html",
    "profile": "data/{day}/profile.html",
    "monitoring": "monitoring",
    "drift_report": "monitoring/{day}/report.html",
    "experiments": "experiments",
    "training_profile": "experiments/{run}/profile.html",
}


def console_path(page: str, use_case: str, day: Any = None, version: int | None = None, run: str = "") -> str:
    """``/uc/<use case>/<page>`` with the day (``YYYY-MM-DD``), version or training run filled in; no base URL."""
    from include.lifecycle.layout import day_str, safe

    filled = PAGES[page].format(day=day_str(day) if day is not None else "",
                                version=int(version) if version is not None else "", run=quote(safe(run)))
    return f"/uc/{quote(str(use_case), safe='')}/{filled}"


def console_url(page: str, use_case: str, day: Any = None, version: int | None = None) -> str:
    """The absolute URL of :func:`console_path` under the API server's base URL."""
    return base_url() + console_path(page, use_case, day, version)


def alerts_url() -> str:
    return f"{base_url()}/alerts"


def task_url(dag_id: str, run_id: str, task_id: str, go: str | None = None) -> str:
    path = "/".join(quote(str(p), safe="") for p in (dag_id, run_id, task_id))
    return f"{base_url()}/task/{path}" + (f"?go={quote(go)}" if go else "")


# kinds of alert -> what the console shows about them
_DATA_KINDS = {"batch_quarantined", "batch_rejected", "labels_quarantined", "labels_rejected"}
_MODEL_KINDS = {"approval_pending", "approved", "rejected", "promoted", "promotion_refused", "rolled_back"}
_WATCH_KINDS = {"drift_detected", "performance_breach", "retrain_requested"}


def alert_links(use_case: str | None, kind: str, partition: Any = None,
                details: dict[str, Any] | None = None) -> dict[str, str]:
    """The console pages an alert should link to; never raises (an alert must go out whatever happens here)."""
    try:
        if not use_case:
            return {"console alerts": alerts_url()}
        version = (details or {}).get("version")
        links: dict[str, str] = {}
        if kind in _DATA_KINDS and partition:
            links["validation (console)"] = console_url("data", use_case, partition)
            links["validation report"] = console_url("validation_report", use_case, partition)
        if kind in _MODEL_KINDS and version is not None:
            links["model card"] = console_url("model_card", use_case, version=int(version))
            links["evaluation"] = console_url("evaluation", use_case, version=int(version))
        if kind in _MODEL_KINDS:
            links["registry"] = console_url("registry", use_case)
        if kind in _WATCH_KINDS:
            if partition:
                links["drift report"] = console_url("drift_report", use_case, partition)
            links["monitoring charts"] = console_url("monitoring", use_case)
        links["console alerts"] = alerts_url()
        return links
    except Exception:  # noqa: BLE001 - a config read failing must not stop the alert
        return {}


class _ConsoleLink(BaseOperatorLink):
    """A task's button to the console; shown only on the stages that have the page.

    Each link is a class (Airflow keys a link's XCom and its plugin registration by class name), declared in one
    line: ``class X(_ConsoleLink, label=..., stages=..., go=...)``.
    """

    stages: tuple[str, ...] = ()
    go = ""

    def __init_subclass__(cls, label: str = "", stages: tuple[str, ...] = (), go: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if label:
            cls.name, cls.stages, cls.go = label, stages, go  # type: ignore[assignment]

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        _, sep, stage = str(ti_key.dag_id).partition(SEPARATOR)
        if not sep or stage not in self.stages:
            return ""  # the UI greys it out: this task has no such page
        return task_url(ti_key.dag_id, ti_key.run_id, ti_key.task_id, self.go)


class ValidationReportLink(_ConsoleLink, label="Validation report", stages=("data_acquisition", "feature_engineering"),
                           go="validation_report"):
    pass


class QuarantineLink(_ConsoleLink, label="Quarantined rows", stages=("data_acquisition",), go="quarantine"):
    pass


class DataProfileLink(_ConsoleLink, label="Data profile (EDA)", stages=("data_acquisition",), go="profile"):
    pass


class ModelCardLink(_ConsoleLink, label="Model card", stages=("model_training", "model_rollback"), go="model_card"):
    pass


class DriftReportLink(_ConsoleLink, label="Drift report", stages=("model_monitoring",), go="drift_report"):
    pass


CONSOLE_LINKS = [ValidationReportLink(), QuarantineLink(), DataProfileLink(), ModelCardLink(), DriftReportLink()]
