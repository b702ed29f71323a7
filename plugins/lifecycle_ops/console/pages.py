"""The console's HTML pages (Jinja2, autoescaped) and the stored reports they link to.

Reports written by Great Expectations and Evidently are served as stored, under a CSP sandbox without
``allow-same-origin``: their scripts run, but in an opaque origin that cannot read the Airflow cookie or call
the console. Everything is addressed by use case + a parsed date or version, never by a key from the request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lifecycle_ops.console import views
from lifecycle_ops.console.auth import auth_manager, current_user, require_use_case, user_name
from lifecycle_ops.console.deps import (
    base_path,
    get_store,
    inbox_folder,
    known_use_cases,
    latest_runs,
    load_use_case,
    partition_of_run,
    readable_use_cases,
    use_case_dep,
)

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "frame-src 'self'; frame-ancestors 'self'; object-src 'none'; base-uri 'none'; form-action 'self'")
REPORT_CSP = ("sandbox allow-scripts allow-popups; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
              "style-src 'unsafe-inline'; img-src data:; font-src data:; connect-src 'none'; frame-ancestors 'self'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                    "Cache-Control": "no-store"}
MAX_ROWS_SHOWN = 200


@functools.cache
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))


def page(request: Request, template: str, title: str, user: Any, **context: Any) -> HTMLResponse:
    html = _env().get_template(template).render(base=base_path(request), title=title, user=user_name(user),
                                                **context)
    return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP, **SECURITY_HEADERS})


def _or_404(found: Any, message: str) -> Any:
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, message)
    return found


def report(html: str | None, what: str) -> HTMLResponse:
    return HTMLResponse(_or_404(html, f"no {what}"), headers={"Content-Security-Policy": REPORT_CSP, **SECURITY_HEADERS})


@dataclass(frozen=True)
class UcPage:
    """What every page of one use case needs: the request, the use case (access already checked), who asks, and
    the store."""

    request: Request
    uc: Any
    user: Any
    store: Any

    def render(self, template: str, what: str, current: str, **context: Any) -> HTMLResponse:
        return page(self.request, template, f"{self.uc.name}: {what}", self.user, uc=self.uc.name, current=current,
                    **context)


def uc_page(request: Request, uc: Any = Depends(use_case_dep), user: Any = Depends(current_user),
            store: Any = Depends(get_store)) -> UcPage:
    return UcPage(request, uc, user, store)


def _day(day: str) -> str:
    parsed = views.parse_day(day)
    if parsed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{day!r} is not a partition date")
    return parsed


def _text(store: Any, key: str) -> str | None:
    return store.read_text(key) if store.exists(key) else None


@router.get("/static/{name}")
def static(name: str) -> Response:
    """plotly.min.js from the installed plotly wheel (no CDN: no network at run time), and our own two files."""
    if name == "plotly.min.js":
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    elif name in ("charts.js", "console.css"):
        path = HERE / "static" / name
    else:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    return Response(path.read_bytes(), media_type=kind, headers={"Cache-Control": "max-age=3600",
                                                                 "X-Content-Type-Options": "nosniff"})


@router.get("/")
def index(request: Request, user: Any = Depends(current_user), names: list[str] = Depends(readable_use_cases)):
    return page(request, "index.html", "Use cases", user, use_cases=names, uc=None)


@router.get("/uc/{uc}/")
def overview(p: UcPage = Depends(uc_page), runs: Any = Depends(latest_runs)):
    from lifecycle_ops.console.auth import use_case_dags

    uc, store = p.uc, p.store
    dags = use_case_dags(uc.name)
    found = runs(dags)
    stages = [{"stage": d.split("__", 1)[1], "dag_id": d, **found.get(d, {})} for d in dags]
    entries = views.ledger(store, uc)
    days = views.monitoring_days(store, uc)
    drift = views.monitoring_result(store, uc, days[-1]) if days else None
    return p.render("overview.html", "overview", "overview", champion=views.champion(store, uc),
                    approvals=views.open_approvals(entries), drift=drift,
                    quarantined=views.quarantined_last_days(store, uc), stages=stages)


@router.get("/uc/{uc}/registry")
def registry(at: str | None = None, p: UcPage = Depends(uc_page)):
    from include.lifecycle.model.registry import parse_time

    uc, store = p.uc, p.store
    at_version = moment = None
    if at:
        try:
            moment = parse_time(at)
        except ValueError as exc:
            raise HTTPException(422, f"{at!r} is not an ISO time") from exc
        at_version = views.champion_at(store, uc, moment)["champion_version"]
    entries = views.ledger(store, uc)
    found = views.versions(store, uc)
    return p.render("registry.html", "registry", "registry", versions=found,
                    timeline=views.champion_timeline(entries), ledger=entries,
                    primary=(found[0]["primary_metric"] if found else None) or "metric",
                    at=moment.isoformat() if moment else None, at_version=at_version,
                    at_input=moment.strftime("%Y-%m-%dT%H:%M") if moment else "")


def _version_page(p: UcPage, number: int, template: str, what: str, view: Any, name: str) -> HTMLResponse:
    """A page about one registered version, with its live (shadow) comparison when it shadowed."""
    found = _or_404(view(p.store, p.uc, number), f"no version {number}")
    return p.render(template, what, "registry", shadow=views.shadow(p.store, p.uc, number), **{name: found})


@router.get("/uc/{uc}/models/{number}")
def model(number: int, p: UcPage = Depends(uc_page)):
    return _version_page(p, number, "model.html", f"model v{number}", views.version, "v")


@router.get("/uc/{uc}/models/{number}/card.html")
def model_card(number: int, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)):
    return report(views.model_card_html(store, uc, number), f"model card for version {number}")


@router.get("/uc/{uc}/models/{number}/evaluation")
def evaluation(number: int, p: UcPage = Depends(uc_page)):
    return _version_page(p, number, "evaluation.html", f"evaluation of v{number}", views.evaluation, "ev")


@router.get("/uc/{uc}/compare")
def compare(a: int, b: int, p: UcPage = Depends(uc_page)):
    found = _or_404(views.compare(p.store, p.uc, a, b), f"no version {a} or {b}")
    return p.render("compare.html", f"v{a} vs v{b}", "registry", cmp=found)


@router.get("/uc/{uc}/data")
def data(p: UcPage = Depends(uc_page)):
    return p.render("data.html", "data", "data", partitions=views.partitions(p.store, p.uc))


@router.get("/uc/{uc}/data/{day}")
def data_partition(day: str, p: UcPage = Depends(uc_page)):
    uc, store = p.uc, p.store
    day = _day(day)
    found = _or_404(views.partition(store, uc, day), f"no validated partition {day}")
    frame = views.quarantined_rows(store, uc, day)
    rows = [] if frame is None else frame.head(MAX_ROWS_SHOWN).astype(str).to_dict("records")
    columns = [] if frame is None else [str(c) for c in frame.columns]
    return p.render("partition.html", f"partition {day}", "data", day=day, part=found, rows=rows, columns=columns,
                    total=0 if frame is None else len(frame),
                    truncated=frame is not None and len(frame) > MAX_ROWS_SHOWN)


@router.get("/uc/{uc}/data/{day}/report.html")
def data_report(day: str, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)):
    from include.lifecycle.layout import validation_report_key

    return report(_text(store, validation_report_key(uc, _day(day))), "validation report")


@router.get("/uc/{uc}/data/{day}/profile.html")
def data_profile(day: str, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)):
    """The partition's exploratory profile (Evidently, sampled as its summary says)."""
    from include.lifecycle.layout import profile_key

    return report(_text(store, profile_key(uc, _day(day))), "data profile")


@router.get("/uc/{uc}/experiments/{run}/profile.html")
def training_profile(run: str, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)):
    """A training run's assembled-set profile, against the champion's training set where one exists."""
    from include.lifecycle.layout import safe, training_profile_key

    return report(_text(store, training_profile_key(uc, safe(run))), f"training-set profile of {run!r}")


@router.get("/uc/{uc}/data/{day}/quarantine.csv")
def quarantine_csv(day: str, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)):
    day = _day(day)
    frame = _or_404(views.quarantined_rows(store, uc, day), f"no quarantined rows on {day}")
    return Response(frame.to_csv(index=False), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{uc.name}-quarantine-{day}.csv"', **SECURITY_HEADERS})


@router.get("/uc/{uc}/monitoring")
def monitoring(p: UcPage = Depends(uc_page)):
    from include.lifecycle.watch.settings import settings
    from lifecycle_ops.console.charts import monitoring_figures

    uc, store = p.uc, p.store
    series = views.timeseries(store, uc)
    cfg = settings(uc)
    thresholds = {"drift_share": cfg["drift_share_threshold"], "column_drift": cfg["column_drift_threshold"],
                  "performance_min": cfg.get("performance_min") or {}}
    figures = monitoring_figures(series, views.column_psi(store, uc), thresholds) if series else []
    return p.render("monitoring.html", "monitoring", "monitoring", series=series, figures=figures, charts=bool(figures))


@router.get("/uc/{uc}/monitoring/{day}/report.html")
def monitoring_report(day: str, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)):
    from include.lifecycle.layout import monitoring_report_key

    return report(_text(store, monitoring_report_key(uc, _day(day))), "monitoring report")


@router.get("/uc/{uc}/experiments")
def experiments(p: UcPage = Depends(uc_page)):
    return p.render("experiments.html", "experiments", "experiments", runs=views.experiments(p.store, p.uc))


@router.get("/alerts")
def alerts(request: Request, user: Any = Depends(current_user), names: list[str] = Depends(readable_use_cases),
           store: Any = Depends(get_store), inbox: Path = Depends(inbox_folder)):
    readable = set(names)
    return page(request, "alerts.html", "Alerts", user, uc=None, current="alerts", inbox=str(inbox),
                inbox_alerts=views.inbox_alerts(inbox, readable), sent=views.sent_alerts(store, readable))


@router.get("/dag/{dag_id}")
def dag_tab(request: Request, dag_id: str, user: Any = Depends(current_user)):
    """The tab on a DAG's page: that use case's overview."""
    name = dag_id.split("__", 1)[0]
    return RedirectResponse(f"{base_path(request)}/uc/{quote(name)}/", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/run/{dag_id}/{run_id}")
def run_tab(request: Request, dag_id: str, run_id: str, user: Any = Depends(current_user),
            store: Any = Depends(get_store), partition_of: Any = Depends(partition_of_run),
            manager: Any = Depends(auth_manager)):
    """The tab on a DAG run's page: what that run produced."""
    return task_tab(request, dag_id, run_id, "", None, user, store, partition_of, manager)


@router.get("/task/{dag_id}/{run_id}/{task_id}")
def task_tab(request: Request, dag_id: str, run_id: str, task_id: str, go: str | None = None,
             user: Any = Depends(current_user), store: Any = Depends(get_store),
             partition_of: Any = Depends(partition_of_run), manager: Any = Depends(auth_manager)):
    """A task instance's console links (the tab on its page, and the target of the extra links)."""
    name, _, stage = dag_id.partition("__")
    if name not in known_use_cases():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{dag_id!r} is not a lifecycle DAG")
    require_use_case(name, user, manager)
    uc = load_use_case(name)
    day = partition_of(dag_id, run_id)
    links = task_links(base_path(request), store, uc, stage, run_id, day)
    if go:
        if go not in links:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {go} for this task")
        return RedirectResponse(links[go][1], status_code=status.HTTP_303_SEE_OTHER)
    return page(request, "task.html", f"{dag_id} · {task_id or run_id}", user, uc=name, dag_id=dag_id, run_id=run_id,
                task_id=task_id, links=list(links.values()), day=day)


def task_links(base: str, store: Any, uc: Any, stage: str, run_id: str, day: str | None
               ) -> dict[str, tuple[str, str]]:
    """What the console holds for one stage's run: ``{key: (label, url)}``, only what exists."""
    from include.lifecycle import layout
    from lifecycle_ops.links import console_path

    def link(label: str, page: str, **where: Any) -> tuple[str, str]:
        return label, base + console_path(page, uc.name, **where)

    out: dict[str, tuple[str, str]] = {}
    day = views.parse_day(day or "") if day else None
    if stage in ("data_acquisition", "feature_engineering") and day:
        if store.exists(layout.validation_report_key(uc, day)):
            out["validation_report"] = link("Great Expectations report", "validation_report", day=day)
        if store.exists(layout.validation_result_key(uc, day)):
            out["quarantine"] = link("Validation and quarantined rows", "data", day=day)
        if store.exists(layout.profile_key(uc, day)):
            out["profile"] = link(f"Data profile (EDA) of {day}", "profile", day=day)
    if stage in ("model_training", "model_rollback"):
        version = views.registered_version(store, uc, run_id)
        if version is not None:
            out["model_card"] = link(f"Model card of v{version}", "model_card", version=version)
            out["evaluation"] = link(f"Evaluation of v{version}", "evaluation", version=version)
        if store.exists(layout.training_profile_key(uc, run_id)):
            out["training_profile"] = link("Training-set profile (EDA)", "training_profile", run=run_id)
        out["registry"] = link("Registry", "registry")
    if stage in ("model_monitoring", "batch_scoring") and day:
        if store.exists(layout.monitoring_report_key(uc, day)):
            out["drift_report"] = link(f"Drift report of {day}", "drift_report", day=day)
        out["monitoring"] = link("Monitoring charts", "monitoring")
    return out
