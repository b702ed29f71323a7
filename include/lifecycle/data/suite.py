"""The Great Expectations suite of a use case: generated from its YAML, stored as a versioned JSON file,
run with GX 1.x on an ephemeral context. Each expectation's ``meta.level`` says whether a failure
quarantines the failing rows (``row``) or the whole batch (``batch``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from include.lifecycle.config import PROJECT_ROOT, ConfigError, UseCase, resolve_path
from include.lifecycle.store import sha256_bytes

# GX logs hundreds of INFO lines on import; silence it before anything imports it.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
# No network at run time: GX would otherwise try to send usage analytics on every context.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)

TYPE_LISTS = {"numeric": ["float64"], "binary": ["Int64Dtype", "int64"]}


def _expectation(type_: str, kwargs: dict[str, Any], level: str, check: str) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {"level": level, "check": check}}


def suite_from_config(uc: UseCase) -> dict[str, Any]:
    """The expectation suite the config implies, as a GX-1.x-shaped dict (stored as JSON, diffed in tests)."""
    val = uc.section("validation")
    id_col = uc.id_column
    exp = [
        _expectation(
            "expect_table_columns_to_match_set",
            {"column_set": [id_col, *uc.feature_columns], "exact_match": True},
            "batch",
            "schema",
        ),
        _expectation(
            "expect_table_row_count_to_be_between",
            {"min_value": int(val.get("min_rows", 1)), "max_value": int(val.get("max_rows", 10_000_000))},
            "batch",
            "row_count",
        ),
        _expectation("expect_column_values_to_not_be_null", {"column": id_col}, "row", "null"),
        _expectation("expect_column_values_to_be_unique", {"column": id_col}, "row", "unique_id"),
    ]
    for col, spec in uc.columns.items():
        kind = spec["kind"]
        if kind in TYPE_LISTS:  # categorical values are strings by construction; their set is checked below
            kwargs = {"column": col, "type_list": TYPE_LISTS[kind]}
            exp.append(_expectation("expect_column_values_to_be_in_type_list", kwargs, "batch", "type"))
        # One null expectation per column also yields the all-null verdict (unexpected == element count),
        # which is a batch-level failure whatever the column's nullable share.
        nullable = float(spec.get("nullable", 0) or 0)
        if nullable > 0:
            kwargs = {"column": col, "mostly": round(1.0 - nullable, 6)}
            exp.append(_expectation("expect_column_values_to_not_be_null", kwargs, "batch", "null_rate"))
        else:
            exp.append(_expectation("expect_column_values_to_not_be_null", {"column": col}, "row", "null"))
        if kind == "numeric" and ("min" in spec or "max" in spec):
            kwargs = {"column": col, "min_value": spec.get("min"), "max_value": spec.get("max")}
            exp.append(_expectation("expect_column_values_to_be_between", kwargs, "row", "range"))
        elif kind == "binary":
            kwargs = {"column": col, "value_set": [0, 1]}
            exp.append(_expectation("expect_column_values_to_be_in_set", kwargs, "row", "binary"))
        elif kind == "categorical":
            kwargs = {"column": col, "value_set": list(spec["values"])}
            exp.append(_expectation("expect_column_values_to_be_in_set", kwargs, "row", "category"))
    return {
        "name": f"{uc.name}_incoming_batch",
        "meta": {
            "use_case": uc.name,
            "generated_by": "include.lifecycle.data.suite.suite_from_config",
            "source": f"include/config/{uc.path.name}",
            "note": "generated from the use-case YAML; regenerate with "
            "`make usecase-suite NAME=<use case>`, do not hand-edit",
        },
        "expectations": exp,
    }


def suite_path(uc: UseCase) -> Path | None:
    value = uc.section("validation").get("suite")
    return resolve_path(value) if value else None


def suite_json(uc: UseCase) -> str:
    return json.dumps(suite_from_config(uc), indent=2) + "\n"


def write_suite(uc: UseCase) -> str:
    """Regenerate the stored suite file of ``uc``; returns its path."""
    path = suite_path(uc)
    if path is None:
        raise ConfigError(f"use case {uc.name!r}: validation.suite is not set")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(suite_json(uc), encoding="utf-8")
    return str(path)


def load_suite(uc: UseCase) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored suite (the versioned contract); a missing file is an error, never a silent in-memory suite."""
    generated = suite_from_config(uc)
    path = suite_path(uc)
    if path is None or not path.exists():
        raise ConfigError(f"use case {uc.name!r}: no stored suite at {path}; write it with "
                          f"`make usecase-suite NAME={uc.name}`")
    text = path.read_text(encoding="utf-8")
    suite = json.loads(text)
    shown = str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)
    info = {"source": shown, "sha256": sha256_bytes(text.encode()), "in_sync_with_config": suite == generated}
    if suite != generated:
        log.warning("use case %s: suite %s differs from the config; regenerate it", uc.name, path)
    return suite, info


# -- Great Expectations --------------------------------------------------------------------------------
_GX: dict[str, Any] = {}


def _gx() -> dict[str, Any]:
    """One ephemeral context + pandas batch definition per process (the GX import is slow: do it once)."""
    if not _GX:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("lifecycle").add_dataframe_asset("incoming_batch")
        _GX.update(gx=gx, context=context, batch_definition=asset.add_batch_definition_whole_dataframe("whole"))
    return _GX


def _same(a: Any, b: Any) -> bool:
    """A kwarg as GX hands it back equals the stored one (GX may reorder a column set)."""
    if isinstance(a, list | tuple | set) and isinstance(b, list | tuple | set):
        return sorted(map(str, a)) == sorted(map(str, b))
    return a == b


def run_suite(frame: pd.DataFrame, suite: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate ``frame`` with GX; one plain dict per expectation (index lists included for row-level ones)."""
    state = _gx()
    cache_key = json.dumps(suite, sort_keys=True)
    gx_suite = state.setdefault("suites", {}).get(cache_key)
    if gx_suite is None:
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        expectations = [
            ExpectationConfiguration(
                type=i["type"], kwargs=dict(i["kwargs"]), meta=dict(i.get("meta", {}))
            ).to_domain_obj()
            for i in suite["expectations"]
        ]  # built in one go: add_expectation() one by one is quadratic in the suite's size
        gx_suite = state["gx"].ExpectationSuite(name=suite["name"], expectations=expectations)
        state["suites"][cache_key] = gx_suite
    batch = state["batch_definition"].get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(gx_suite, result_format={"result_format": "COMPLETE"})
    out = []
    for res in result.results:
        cfg = res.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
        info = res.exception_info or {}
        infos = [info] if "raised_exception" in info else list(info.values())
        errors = [i.get("exception_message") for i in infos if isinstance(i, dict) and i.get("raised_exception")]
        out.append(
            {
                "expectation": cfg.type,
                "column": kwargs.get("column"),
                "kwargs": kwargs,
                "level": (cfg.meta or {}).get("level", "batch"),
                "check": (cfg.meta or {}).get("check", cfg.type),
                "success": bool(res.success),
                "result": dict(res.result or {}),
                "error": "; ".join(str(e) for e in errors) if errors else None,
            }
        )
    # GX reports in an order of its own (table-level and errored ones move): put results in the suite's
    # order, so that reasons come out in the same order whichever engine produced them.
    def position(r: dict[str, Any]) -> int:
        for n, i in enumerate(suite["expectations"]):
            if i["type"] == r["expectation"] and all(_same(r["kwargs"][k], v) for k, v in i["kwargs"].items()
                                                         if k in r["kwargs"]):  # GX drops defaults
                return n
        return len(suite["expectations"])

    return sorted(out, key=position)
