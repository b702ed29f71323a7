"""OpenLineage lineage of every lifecycle task: the store objects it read and wrote, with facets.

A task body ends with ``return lineage.report(context, step, result, ...)``. :func:`report` turns the step's small
result dict into OpenLineage ``InputDataset`` / ``OutputDataset`` objects and appends them to the running task's
inlets / outlets. The provider's listener runs in the task process right after ``execute``; a ``@task`` has no
extractor, so it falls back to the task's inlets / outlets and passes OpenLineage datasets through unchanged,
facets included. (Hook-level lineage would carry only Airflow Assets, i.e. datasets without facets; and the
task runner builds asset events from Assets only, so these extra outlets never become asset events.)

Names follow the OpenLineage naming spec: a local store object is namespace ``file`` with its absolute path as
name, an S3 object ``s3://<bucket>`` with its key. The dataset version (``version`` facet) is the sha256 of the
bytes for data and model files and the version number for registry entries, so a reader joins a consumer's
input to the exact run that produced it.

Cost: small JSON files the step itself just wrote (validation result, training lineage, manifests) and the
Parquet footers of the outputs (a metadata read locally, one ranged GET on S3); never a data page. Reporting
never fails a task: any error is logged and the result returned as it was.

This module says which objects each step read and wrote (one builder per task, EDA profiles included);
:mod:`lifecycle_ops.lineage_datasets` builds the datasets and facets themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from include.lifecycle import layout  # key builders only: cheap to import
from lifecycle_ops.lineage_datasets import (  # noqa: F401 - re-exported: the datasets are part of this API
    FOOTER_TAIL,
    MODEL_FACET,
    MODEL_FACET_SCHEMA,
    MODEL_FACET_SCHEMA_URL,
    Seen,
    contract_fields,
    dataset_id,
    gx_assertions,
    inp,
    model_facet,
    out,
    parquet_footer,
    uri_id,
)

log = logging.getLogger(__name__)


# -- what each step read and wrote --------------------------------------------------------------------------
Builder = Callable[[Seen], tuple[list[Any], list[Any]]]
STEPS: dict[str, Builder] = {}


def step(*names: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        STEPS.update(dict.fromkeys(names, fn))
        return fn

    return register


@step("deliver")
def _deliver(s: Seen) -> tuple[list[Any], list[Any]]:
    r, uc = s.result, s.uc
    outs = [out(s.store, r["batch_key"], rows=r.get("rows"), fields=contract_fields(uc))] if r.get("batch_key") else []
    if r.get("labels_key"):
        outs.append(out(s.store, r["labels_key"], rows=r.get("labels"),
                        fields=[(uc.id_column, "string"), (uc.target, "string")]))
    return [inp(s.store, uri=uc.data_file.resolve().as_uri())], outs


@step("acquire")
def _acquire(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result  # the copy is byte for byte, so the source's version is the copy's sha256
    return ([inp(s.store, uri=r["source"], version=r["sha256"])],
            [out(s.store, r["key"], version=r["sha256"], fields=contract_fields(s.uc))])


@step("validate")
def _validate(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result
    result_key = layout.validation_result_key(s.uc, r["date"])
    full = s.store.read_json(result_key)  # the GX result the step just wrote: a few kB
    batch = inp(s.store, full["incoming_key"], version=full.get("incoming_sha256"), rows=r["received"],
                fields=contract_fields(s.uc), assertions=gx_assertions(full.get("expectations") or []))
    outs = [out(s.store, r["accepted_key"], version=r.get("accepted_sha256"), rows=r["accepted"])]
    outs += [out(s.store, key) for key in (full.get("quarantine_keys") or {}).values()]
    return [batch], [*outs, out(s.store, result_key), out(s.store, r["report_key"])]


def _profiled(s: Seen, source: Any) -> tuple[list[Any], list[Any]]:
    """An EDA profile: the rows it sampled (and the champion whose training set it stood beside); its HTML + JSON,
    or, when it failed, the note written where its JSON would be."""
    r = s.result
    ins = [source]
    if r.get("reference_version") is not None:
        ins.append(s.version_in(int(r["reference_version"]), "champion"))
    if r.get("status") != "ok":
        return ins, [out(s.store, r["summary_key"])] if s.store.exists(r.get("summary_key") or "") else []
    return ins, [out(s.store, r["html_key"]), out(s.store, r["summary_key"])]


@step("profile_partition")
def _profile_partition(s: Seen) -> tuple[list[Any], list[Any]]:
    day = s.extra.get("date") or s.result["date"]
    validated = s.store.read_json(layout.validation_result_key(s.uc, day))  # the accepted copy's sha256
    return _profiled(s, inp(s.store, layout.accepted_key(s.uc, day), version=validated.get("accepted_sha256"),
                            rows=s.result.get("rows_profiled")))


@step("profile_training_set")
def _profile_training_set(s: Seen) -> tuple[list[Any], list[Any]]:
    run = s.result.get("run_id") or s.run_id
    lineage = s.store.read_json(layout.lineage_key(s.uc, run))
    return _profiled(s, inp(s.store, layout.train_set_key(s.uc, run), version=lineage.get("train_sha256"),
                            rows=s.result.get("rows_profiled")))


@step("ingest_labels")
def _labels(s: Seen) -> tuple[list[Any], list[Any]]:
    from include.lifecycle.data.sources import source_from_config

    r, d = s.result, s.result["date"]
    # describe() only formats the location: placeholders stand in for the live client / connection.
    source = r.get("source") or source_from_config(s.store, s.uc, s3_client=object(), connect=object).describe(
        s.uc, layout.as_date(d), "labels")
    outs = [out(s.store, r["key"], version=r.get("sha256"), rows=r.get("rows"))] if r.get("key") else []
    if r.get("quarantined"):
        q = layout.labels_quarantine_prefix(s.uc, d)
        outs += [out(s.store, k) for k in (f"{q}/rows.parquet", f"{q}/labels.csv") if s.store.exists(k)]
    return [inp(s.store, uri=source, rows=r.get("received"))], outs


@step("build", "reconcile")
def _features(s: Seen) -> tuple[list[Any], list[Any]]:
    ins, outs = [], []
    for day in [s.result["date"]] if isinstance(s.result, dict) else list(s.result):
        marker = layout.features_source_key(s.uc, day)
        src = s.store.read_json(marker)  # raw and features sha256 and rows, written by the build
        ins.append(inp(s.store, src["raw_key"], version=src.get("raw_sha256"), rows=src.get("rows")))
        outs += [out(s.store, layout.features_key(s.uc, day), version=src.get("features_sha256"),
                     rows=src.get("rows")), out(s.store, marker)]
    return ins, outs


@step("assemble")
def _assemble(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result
    lineage = s.store.read_json(r["lineage_key"])
    ins = [inp(s.store, p["key"], version=p.get("sha256"), rows=p.get("rows"))
           for p in [*lineage.get("features", []), *lineage.get("labels", [])]]
    return ins, [out(s.store, r["train_key"], version=lineage.get("train_sha256"), rows=r.get("train_rows")),
                 out(s.store, r["holdout_key"], version=lineage.get("holdout_sha256"), rows=r.get("holdout_rows")),
                 out(s.store, r["lineage_key"])]


@step("train_candidate")
def _train(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result
    lineage = s.store.read_json(layout.lineage_key(s.uc, s.run_id))
    train = inp(s.store, layout.train_set_key(s.uc, s.run_id), version=lineage.get("train_sha256"),
                rows=lineage.get("train_rows"))
    model = model_facet(s.uc.model_name, "candidate", sha256=r["model_sha256"], candidate=r["name"])
    return [train], [out(s.store, r["model_key"], version=r["model_sha256"], model=model),
                     out(s.store, r["record_key"])]


@step("select_best")
def _select(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result
    ins = [inp(s.store, f"{layout.candidate_prefix(s.uc, s.run_id, c['name'])}/record.json")
           for c in r.get("ranking", [])]
    model = model_facet(s.uc.model_name, "best", sha256=r["model_sha256"], candidate=r["name"])
    return ins, [out(s.store, layout.best_key(s.uc, s.run_id), model=model)]


def _best_in(s: Seen) -> Any:
    best = s.extra["best"]
    return inp(s.store, best["model_key"], version=best.get("model_sha256"), model=model_facet(
        s.uc.model_name, "best", sha256=best.get("model_sha256"), candidate=best.get("name")))


@step("evaluate")
def _evaluate(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result
    ins = [_best_in(s), inp(s.store, layout.holdout_key(s.uc, s.run_id))]
    if r.get("champion_version") is not None:
        ins.append(s.version_in(int(r["champion_version"]), "champion"))
    return ins, [out(s.store, r[k]) for k in ("evaluation_key", "champion_evaluation_key", "comparison_key")]


@step("package")
def _package(s: Seen) -> tuple[list[Any], list[Any]]:
    r, pkg = s.result, s.result["package_prefix"]
    model = model_facet(s.uc.model_name, "package", sha256=r["model_sha256"], qaPassed=bool(r.get("qa_passed")),
                        candidate=s.extra["best"].get("name"))
    outs = [out(s.store, f"{pkg}/model.skops", version=r["model_sha256"], model=model)]
    outs += [out(s.store, f"{pkg}/{f}") for f in ("qa.json", "model_card.html", "requirements.json", "package.json")]
    return [_best_in(s), inp(s.store, layout.holdout_key(s.uc, s.run_id)),
            inp(s.store, layout.evaluation_key(s.uc, s.run_id, "candidate"))], outs


def _alias_out(s: Seen, alias: str, version: int, manifest: dict[str, Any]) -> Any:
    return out(s.store, layout.alias_key(s.uc.model_name, alias), version=version, model=model_facet(
        s.uc.model_name, alias, version=int(version), sha256=manifest.get("model_sha256"), alias=alias))


@step("register")
def _register(s: Seen) -> tuple[list[Any], list[Any]]:
    r, version = s.result, int(s.result["version"])
    key, manifest = s.manifest(version)
    sha = manifest.get("model_sha256")
    package = inp(s.store, f"{layout.package_prefix(s.uc, s.run_id)}/model.skops", version=sha)
    model = model_facet(s.uc.model_name, "registered", version=version, sha256=sha, blessed=bool(r.get("blessed")),
                        qaPassed=bool(r.get("qa_passed")))
    outs = [out(s.store, key, version=version, model=model)]
    if r.get("challenger"):
        outs.append(_alias_out(s, "challenger", version, manifest))
    return [package], outs


@step("move_champion")
def _champion(s: Seen) -> tuple[list[Any], list[Any]]:
    version = int(s.result["version"])
    return [s.version_in(version)], [_alias_out(s, "champion", version, s.manifest(version)[1])]


@step("resolve_champion", "resolve_rollback_target")
def _resolve(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result
    if r.get("version") is None or r.get("eligible") is False:
        return [], []
    current = r.get("current", r["version"])
    champion = [inp(s.store, layout.alias_key(s.uc.model_name, "champion"), version=current)] if current else []
    return [*champion, s.version_in(int(r["version"]))], []


@step("score_day")
def _score(s: Seen) -> tuple[list[Any], list[Any]]:
    r, d = s.result, s.result["date"]
    marker = layout.features_source_key(s.uc, d)
    features_sha = s.store.read_json(marker).get("features_sha256") if s.store.exists(marker) else None
    return ([inp(s.store, layout.features_key(s.uc, d), version=features_sha, rows=r.get("rows")),
             s.version_in(int(r["version"]), "champion")],
            [out(s.store, r["predictions_key"], version=r.get("sha256"), rows=r.get("rows"))])


@step("shadow_score_day")
def _shadow(s: Seen) -> tuple[list[Any], list[Any]]:
    """The challenger scoring the day in shadow (its own keys), then the day's paired comparison with the champion
    (which reads the served predictions and matured labels of every shadowed day up to this one)."""
    r, d = s.result, s.result["date"]
    marker = layout.features_source_key(s.uc, d)
    features_sha = s.store.read_json(marker).get("features_sha256") if s.store.exists(marker) else None
    ins = [inp(s.store, layout.features_key(s.uc, d), version=features_sha, rows=r.get("rows")),
           s.version_in(int(r["challenger_version"]), "challenger")]
    return ins, [out(s.store, r["shadow_key"], version=r.get("shadow_sha256"), rows=r.get("rows")),
                 out(s.store, r["comparison_key"])]


@step("monitor")
def _monitor(s: Seen) -> tuple[list[Any], list[Any]]:
    r = s.result
    days = (r.get("window") or {}).get("dates") or []
    ins = [inp(s.store, k(s.uc, d)) for d in days for k in (layout.predictions_key, layout.features_key)]
    labelled = (r.get("performance") or {}).get("labels_delivered_on", [])
    ins += [inp(s.store, layout.labels_key(s.uc, d)) for d in labelled]
    if (r.get("reference") or {}).get("key"):
        ins.append(inp(s.store, r["reference"]["key"], rows=r["reference"].get("rows")))
    ins.append(s.version_in(int(r["version"]), "champion"))
    return ins, [out(s.store, r[k]) for k in ("report_key", "result_key", "timeseries_key")]


@step("decide")
def _decide(s: Seen) -> tuple[list[Any], list[Any]]:
    monitored = s.extra.get("monitored") or {}
    ins = [inp(s.store, monitored["result_key"])] if monitored.get("result_key") else []
    return ins, [out(s.store, s.result["decision_key"])] if s.result.get("decision_key") else []


def datasets(step_name: str, uc: Any, store: Any, result: Any, run_id: str | None = None,
             **extra: Any) -> tuple[list[Any], list[Any]]:
    """The OpenLineage inputs and outputs of one step's result (no Airflow needed: the unit tests call this)."""
    return STEPS[step_name](Seen(uc, store, result, run_id, extra))


# -- reporting -----------------------------------------------------------------------------------------------
def attach(task: Any, inputs: list[Any], outputs: list[Any]) -> None:
    """Put the datasets on the running task, where the OpenLineage listener reads them after ``execute``."""
    from openlineage.client import event_v2  # its Dataset is OpenLineage's, not Airflow 2's (integrity test)

    # A task object that runs twice in one process (dag.test, a retry in place) reports only its last run.
    task.inlets[:] = [i for i in task.inlets if not isinstance(i, event_v2.Dataset)]
    task.outlets[:] = [o for o in task.outlets if not isinstance(o, event_v2.Dataset)]
    task.add_inlets(inputs)
    task.add_outlets(outputs)


def report(context: dict[str, Any], step_name: str, result: Any, *, name: str | None = None, uc: Any = None,
           store: Any = None, **extra: Any) -> Any:
    """Report what ``step_name`` read and wrote as the task's OpenLineage inputs / outputs; return ``result``.

    Pass the task's use case and store when it has them (else they are opened again from ``name``); ``extra``
    holds what the step was given, e.g. ``best`` for evaluate and package.
    """
    started = time.perf_counter()
    try:
        if not result or (isinstance(result, dict) and result.get("skipped")):
            return result
        from lifecycle_ops.runtime import artifact_store, run_id, use_case

        uc = uc or use_case(str(name))
        store = store or artifact_store()
        rid = run_id(context) if context.get("run_id") else None
        inputs, outputs = datasets(step_name, uc, store, result, run_id=rid, **extra)
        if context.get("task") is not None:
            attach(context["task"], inputs, outputs)
        log.info("lineage of %s: %d input(s), %d output(s) in %.1f ms", step_name, len(inputs), len(outputs),
                 (time.perf_counter() - started) * 1000)
    except Exception:  # lineage is a record of the work, never a reason to fail it
        log.warning("lineage of %s not reported", step_name, exc_info=True)
    return result
