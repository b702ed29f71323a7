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
"""

from __future__ import annotations

import functools
import json
import logging
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

from include.lifecycle import layout  # key builders only: cheap to import

log = logging.getLogger(__name__)

MODEL_FACET = "lifecycle_model"
# The custom facet's JSON schema is MODEL_FACET_SCHEMA below; host it at this address to let consumers fetch it.
MODEL_FACET_SCHEMA_URL = "https://lifecycle.example/spec/facets/1-0-0/LifecycleModelDatasetFacet.json"
_OPTIONAL = {"type": ["string", "null"]}
_FIELDS = {"model": {"type": "string"}, "stage": {"type": "string"}, "version": {"type": ["integer", "null"]},
           "sha256": _OPTIONAL, "blessed": {"type": ["boolean", "null"]}, "qaPassed": {"type": ["boolean", "null"]},
           "alias": _OPTIONAL, "candidate": _OPTIONAL}
MODEL_FACET_SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": {
    "LifecycleModelDatasetFacet": {
        "allOf": [{"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetFacet"},
                  {"type": "object", "required": ["model", "stage"], "properties": _FIELDS}]}}}
FOOTER_TAIL = 64 * 1024  # one ranged GET reads a Parquet footer of up to this size from S3
CONTRACT_TYPES = {"numeric": "double", "binary": "int64", "categorical": "string"}


# -- datasets and facets ------------------------------------------------------------------------------------
@functools.cache
def _model_facet_class() -> type:
    """Built on first use: the plugin manager imports this module in every Airflow process, keep that cheap."""
    import attr
    from openlineage.client.facet_v2 import DatasetFacet

    @attr.define
    class LifecycleModelDatasetFacet(DatasetFacet):
        model: str
        stage: str
        version: int | None = attr.field(default=None)
        sha256: str | None = attr.field(default=None)
        blessed: bool | None = attr.field(default=None)
        qaPassed: bool | None = attr.field(default=None)  # noqa: N815 - OpenLineage fields are camelCase
        alias: str | None = attr.field(default=None)
        candidate: str | None = attr.field(default=None)

        @staticmethod
        def _get_schema() -> str:
            return MODEL_FACET_SCHEMA_URL

    return LifecycleModelDatasetFacet


def model_facet(model: str, stage: str, **fields: Any) -> Any:
    """Our model facet: which model, at which stage (candidate, package, registered, champion), and its bytes."""
    return _model_facet_class()(model=model, stage=stage, **fields)


def dataset_id(store: Any, key: str) -> tuple[str, str]:
    """(namespace, name) of a store object per the naming spec: ``file`` + path, or ``s3://bucket`` + key."""
    path = store.local_path(key)
    return ("file", str(path)) if path is not None else uri_id(store.uri(key))


def uri_id(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return "file", unquote(parsed.path)
    if parsed.scheme and parsed.netloc:
        return f"{parsed.scheme}://{parsed.netloc}", unquote(parsed.path).lstrip("/")
    return "source", uri  # e.g. "sql table x where batch_date = '...'": no URI to name it by


def schema_facet(fields: list[tuple[str, str]], descriptions: dict[str, str] | None = None) -> Any:
    from openlineage.client.facet_v2 import schema_dataset as s

    return s.SchemaDatasetFacet(fields=[s.SchemaDatasetFacetFields(name=n, type=t, description=(descriptions or {})
                                                                   .get(n)) for n, t in fields])


def contract_fields(uc: Any) -> list[tuple[str, str]]:
    """The batch contract of a use case (for CSV files, which have no footer): id, then typed feature columns."""
    return [(uc.id_column, "string")] + [(c, CONTRACT_TYPES.get(s["kind"], "string")) for c, s in uc.columns.items()]


def parquet_footer(store: Any, key: str) -> tuple[list[tuple[str, str]], int, int]:
    """(column name and Arrow type, row count, size in bytes) from the footer alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = store.local_path(key)
    if path is not None:
        meta, size = pq.read_metadata(path), path.stat().st_size
    else:
        tail, size = _tail(store, key, FOOTER_TAIL)
        need = struct.unpack("<I", tail[-8:-4])[0] + 8
        if need > len(tail):
            tail, size = _tail(store, key, need)
        meta = pq.read_metadata(pa.BufferReader(tail))
    return [(f.name, str(f.type)) for f in meta.schema.to_arrow_schema()], int(meta.num_rows), int(size)


def _tail(store: Any, key: str, n: int) -> tuple[bytes, int]:
    obj = store.client.get_object(Bucket=store.bucket, Key=store._key(key), Range=f"bytes=-{n}")
    return obj["Body"].read(), int(str(obj["ContentRange"]).rsplit("/", 1)[1])


def _size(store: Any, key: str) -> int | None:
    path = store.local_path(key)  # a stat locally; on S3 a HEAD per file is not worth a size
    return path.stat().st_size if path is not None and path.exists() else None


def gx_assertions(expectations: list[dict[str, Any]]) -> Any:
    """The Great Expectations result as one Assertion per expectation (a batch-level one blocks: ``error``)."""
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    def actual(e: dict[str, Any]) -> str | None:
        value = e.get("unexpected_count", e.get("observed_value"))
        return None if value is None else json.dumps(value, default=str)

    return dq.DataQualityAssertionsDatasetFacet(assertions=[
        dq.Assertion(assertion=e["expectation"], success=bool(e.get("success")), column=e.get("column"),
                     name=e.get("check"), severity="error" if e.get("level") == "batch" else "warn",
                     expected=json.dumps(e.get("kwargs") or {}, sort_keys=True, default=str), actual=actual(e))
        for e in expectations])


def _facets(version: Any, fields: list[tuple[str, str]] | None, model: Any, descriptions: dict | None) -> dict:
    from openlineage.client.facet_v2 import dataset_version_dataset

    facets: dict[str, Any] = {}
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))
    if fields:
        facets["schema"] = schema_facet(fields, descriptions)
    if model is not None:
        facets[MODEL_FACET] = model
    return facets


def inp(store: Any, key: str | None = None, *, uri: str | None = None, version: Any = None, rows: int | None = None,
        model: Any = None, assertions: Any = None, fields: list[tuple[str, str]] | None = None) -> Any:
    """An input as the consumer saw it: which version it read, how many rows (when the step knows it)."""
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import input_statistics_input_dataset as st

    namespace, name = dataset_id(store, key) if key else uri_id(str(uri))
    extra: dict[str, Any] = {}
    if rows is not None:
        extra["inputStatistics"] = st.InputStatisticsInputDatasetFacet(rowCount=int(rows))
    if assertions is not None:
        extra["dataQualityAssertions"] = assertions
    return InputDataset(namespace, name, facets=_facets(version, fields, model, None), inputFacets=extra)


def out(store: Any, key: str, *, version: Any = None, rows: int | None = None, model: Any = None,
        fields: list[tuple[str, str]] | None = None, descriptions: dict[str, str] | None = None) -> Any:
    """An output described by its producer: schema and row count from a Parquet footer, else what is given."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset as st

    namespace, name = dataset_id(store, key)
    size = None
    if key.endswith(".parquet") and fields is None:
        fields, footer_rows, size = parquet_footer(store, key)
        rows = footer_rows if rows is None else rows
    size = _size(store, key) if size is None else size
    stats = {"outputStatistics": st.OutputStatisticsOutputDatasetFacet(rowCount=rows, size=size)}
    return OutputDataset(namespace, name, facets=_facets(version, fields, model, descriptions),
                         outputFacets=stats if rows is not None or size is not None else {})


# -- what each step read and wrote --------------------------------------------------------------------------
class Seen:
    """What a builder gets: the use case, the store, the step's result, the run id and the task's extra values."""

    def __init__(self, uc: Any, store: Any, result: Any, run_id: str | None, extra: dict[str, Any]) -> None:
        self.uc, self.store, self.result, self.run_id, self.extra = uc, store, result, run_id, extra

    def manifest(self, version: int) -> tuple[str, dict[str, Any]]:
        key = layout.manifest_key(self.uc.model_name, version)
        return key, self.store.read_json(key)

    def version_in(self, version: int, stage: str = "registered") -> Any:
        """A registry version as an input: its manifest, with the version number and the model's sha256."""
        key, manifest = self.manifest(version)
        return inp(self.store, key, version=version, model=model_facet(
            self.uc.model_name, stage, version=int(version), sha256=manifest.get("model_sha256")))


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
