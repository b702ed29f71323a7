"""Online scoring: JSON rows in, the champion's (or a pinned version's) score and label out.

The same path as batch scoring (:mod:`include.lifecycle.serve.scoring`): rows are checked against the use
case's column contract, typed by :func:`features.clean`, scored by the registered pipeline (which carries its
own preprocessing) and labelled with the version's holdout threshold. A model is loaded once per
(model, version, sha256) through :meth:`ModelRegistry.load_model`, which refuses bytes whose checksum differs
from the manifest; the champion alias is re-read on every call, so a promotion is served on the next request.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from include.lifecycle.config import UseCase
from include.lifecycle.model.registry import ModelRegistry, RegistryError, registry_for
from include.lifecycle.store import ArtifactStore

MAX_ROWS = 10_000
_BINARY = {"1", "1.0", "true", "yes", "y", "t", "0", "0.0", "false", "no", "n", "f"}  # what clean() accepts
_BINARY_VALUES = frozenset({*_BINARY, 0, 1})  # with the types int/bool/str only (True == 1; no float, no -0.0)


class PredictError(ValueError):
    """The request cannot be scored; ``problems`` names each bad field (``loc`` like FastAPI's 422)."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NoModelError(LookupError):
    """No champion yet, or the pinned version does not exist."""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_rows(uc: UseCase, rows: Any) -> list[dict[str, Any]]:
    """Each row against the contract: id present, every feature column present, of its kind, in range.

    Returns the rows; raises :class:`PredictError` listing every bad field (not only the first), in row order.
    """
    check_columns(uc, rows)
    return rows


def check_columns(uc: UseCase, rows: Any) -> dict[str, Sequence[Any]]:
    """:func:`check_rows`, returning the request's values column by column (id first, then the contract's).

    Column by column: a column whose values are plainly valid as a whole (:func:`_suspects`) costs no call per
    value, and only the suspects get :func:`_check_value`'s message. Value by value it was 19 function calls a
    row, more than ``predict_proba`` itself at 1,000 rows (bench 6).
    """
    if not isinstance(rows, list) or not rows:
        raise PredictError("rows must be a non-empty list", [{"loc": ["rows"], "msg": "a non-empty list"}])
    if len(rows) > MAX_ROWS:
        raise PredictError(f"at most {MAX_ROWS} rows per request",
                           [{"loc": ["rows"], "msg": f"{len(rows)} rows > {MAX_ROWS}"}])
    found: list[tuple[int, int, dict[str, Any]]] = []  # (row, place in the row's report, problem)
    where = [i for i, row in enumerate(rows) if isinstance(row, Mapping)]
    found += [(i, 0, {"loc": ["rows", i], "msg": "each row must be an object"})
              for i in sorted(set(range(len(rows))) - set(where))]
    good = rows if len(where) == len(rows) else [rows[i] for i in where]
    allowed = {uc.id_column, *uc.columns}
    for j, row in enumerate(good):
        if not row.keys() <= allowed:
            found += [(where[j], 1, {"loc": ["rows", where[j], extra], "msg": "not a column of the contract"})
                      for extra in sorted(set(row) - allowed)]
    names = [uc.id_column, *uc.columns]
    try:  # one pass in C when every row has every column (itemgetter per row, zip to transpose)
        columns = dict(zip(names, zip(*map(itemgetter(*names), good), strict=True), strict=True)) if good else {
            col: [] for col in names}
    except KeyError:  # ... marks an absent field; an absent id is a missing one
        columns = {col: [row.get(col, None if col == uc.id_column else ...) for row in good] for col in names}
    found += [(where[j], 0, {"loc": ["rows", where[j], uc.id_column], "msg": "the id is required"})
              for j, value in enumerate(columns[uc.id_column]) if _missing(value)]
    for place, (col, spec) in enumerate(uc.columns.items(), start=2):
        values = columns[col]
        for j in _suspects(values, spec):
            problem = _check_value(values[j], spec)
            if problem:
                found.append((where[j], place, {"loc": ["rows", where[j], col], "msg": problem}))
    if found:
        found.sort(key=lambda f: (f[0], f[1]))  # stable: a row's extras keep their sorted order
        raise PredictError(f"{len(found)} invalid field(s)", [f[2] for f in found])
    return columns


def _suspects(values: Sequence[Any], spec: Mapping[str, Any]) -> list[int] | range:
    """Positions whose value is not plainly valid; :func:`_check_value` decides about each (the exact types and
    tokens here are a subset of what it accepts: a float 1.0 binary or a NaN is a suspect it lets through).

    A column that is plainly valid as a whole (its set of types and of values, built in C) has none."""
    kind = spec["kind"]
    low, high = spec.get("min", -math.inf), spec.get("max", math.inf)
    try:
        types = {type(v) for v in values}
        if kind == "numeric" and types <= {int, float}:
            import numpy as np

            numbers = np.array(values, dtype="float64")
            return np.flatnonzero(~((numbers >= low) & (numbers <= high))).tolist()  # NaN is a suspect
        if kind == "binary" and types <= {int, bool, str} and set(values) <= _BINARY_VALUES:
            return []
        if kind == "categorical" and types == {str} and (not spec.get("values") or set(values) <= set(spec["values"])):
            return []
    except (TypeError, OverflowError):  # an unhashable value, an int too big for a float: value by value
        pass
    if kind == "numeric":
        return [j for j, v in enumerate(values) if type(v) not in (int, float) or not low <= v <= high]
    if kind == "binary":
        return [j for j, v in enumerate(values)
                if not ((type(v) is str and v in _BINARY) or (type(v) in (int, bool) and v in (0, 1)))]
    if kind == "categorical":
        known = set(spec.get("values") or ())
        return [j for j, v in enumerate(values) if type(v) is not str or (known and v not in known)]
    return range(len(values))


def _check_value(value: Any, spec: Mapping[str, Any]) -> str | None:
    kind = spec["kind"]
    if value is ...:
        return "field required"
    if _missing(value):
        return None if spec.get("nullable") else "may not be null"
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {type(value).__name__}"
        if "min" in spec and value < spec["min"]:
            return f"must be >= {spec['min']}"
        if "max" in spec and value > spec["max"]:
            return f"must be <= {spec['max']}"
    elif kind == "binary":
        if str(value).strip().lower() not in _BINARY:
            return f"must be binary (0/1, true/false, yes/no), got {value!r}"
    elif kind == "categorical":
        values = spec.get("values")
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        if values and value not in values:
            return f"must be one of {values}"
    return None


_NUMBERS = {int, float, bool, type(None)}


def _as_array(values: Sequence[Any], kind: str) -> Any:
    """A checked column as JSON meant it: numbers (and nulls among them) as float64, anything else (and the id,
    whose text must not become "12.0") as objects, for :func:`features.clean` to type."""
    import numpy as np

    if kind == "numeric" or (kind == "binary" and {type(v) for v in values} <= _NUMBERS):
        return np.array(values, dtype="float64")  # checked: only numbers and nulls are left in a numeric column
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def request_frame(uc: UseCase, columns: Mapping[str, Sequence[Any]]) -> Any:
    """The checked request (:func:`check_columns`) typed by :func:`features.clean`, as batch scoring types a
    partition; a value clean refuses is a :class:`PredictError`."""
    import pandas as pd

    from include.lifecycle.model.features import FeatureError, clean

    kinds = {col: spec["kind"] for col, spec in uc.columns.items()}
    frame = pd.DataFrame({col: _as_array(values, kinds.get(col, "id")) for col, values in columns.items()})
    try:
        return clean(frame, uc)
    except FeatureError as exc:
        raise PredictError(str(exc), [{"loc": ["rows"], "msg": str(exc)}]) from exc


class Predictor:
    """Scores rows for one store; keeps each loaded model (by model, version and sha256) for reuse."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._models: dict[tuple[str, int, str], tuple[Any, float, int]] = {}
        self._lock = threading.Lock()
        self._threads: Any = None  # a ThreadpoolController, found once: threadpool_limits() re-scans (~10 ms a call)
        self.loads = 0  # how many times a model was read from the registry (tests and the bench read it)

    def resolve(self, registry: ModelRegistry, version: int | None) -> int:
        if version is None:
            champion = registry.alias_version("champion")
            if champion is None:
                raise NoModelError(f"model {registry.name!r} has no champion yet")
            return champion
        try:
            registry.manifest(version)
        except RegistryError as exc:
            raise NoModelError(str(exc)) from exc
        return int(version)

    def model(self, uc: UseCase, registry: ModelRegistry, version: int) -> tuple[Any, float, int, str]:
        """(pipeline, threshold, positive column, sha256) of ``version``, loaded at most once."""
        from include.lifecycle.serve.scoring import decision_threshold, positive_index

        sha = registry.manifest(version)["model_sha256"]
        key = (registry.name, version, sha)
        with self._lock:
            if key not in self._models:
                model = registry.load_model(version)  # checksum-verified against the manifest
                # older versions of the same model stay cached: a rollback or a pinned caller reuses them
                self._models[key] = (model, decision_threshold(registry, version), positive_index(model))
                self.loads += 1
                if self._threads is None:  # after a model load, so the BLAS/OpenMP libraries it uses are loaded
                    from threadpoolctl import ThreadpoolController

                    self._threads = ThreadpoolController()
            model, threshold, column = self._models[key]
        return model, threshold, column, sha

    def predict(self, uc: UseCase, rows: Any, version: int | None = None) -> dict[str, Any]:
        """Score ``rows`` (a list of dicts keyed by column name) like batch scoring would."""
        import numpy as np

        from include.lifecycle.model.training import compute_threads
        from include.lifecycle.serve.scoring import label_values

        columns = check_columns(uc, rows)
        registry = registry_for(self.store, uc)
        used = self.resolve(registry, version)
        model, threshold, column, sha = self.model(uc, registry, used)
        frame = request_frame(uc, columns)
        with self._threads.limit(limits=compute_threads()):  # one thread, as in batch scoring
            scores = np.asarray(model.predict_proba(frame)[:, column], dtype="float64")
        negative, positive = label_values(uc)
        labels = np.where(scores >= threshold, positive, negative).tolist()
        ids = frame[uc.id_column].tolist()
        return {
            "use_case": uc.name, "model": registry.name, "model_version": used, "model_sha256": sha,
            "threshold": threshold,
            "predictions": [{"id": i, "score": s, "label": lbl}
                            for i, s, lbl in zip(ids, scores.tolist(), labels, strict=True)],
        }
