"""OpenLineage datasets and facets for the lifecycle's store objects: names per the naming spec, versions, schemas
from Parquet footers, row counts, Great Expectations assertions and our model facet. Which step reads and writes
which of them is :mod:`lifecycle_ops.lineage` (one builder per task).
"""

from __future__ import annotations

import functools
import json
import struct
from typing import Any
from urllib.parse import unquote, urlparse

from include.lifecycle import layout  # key builders only: cheap to import

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
