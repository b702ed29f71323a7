"""Packaging: safe serialisation (skops), runtime pins, the model card, and risk QA.

Pickle runs arbitrary code on load, so models travel as skops bytes. Loading never passes
``trusted=True``: the types skops cannot vouch for are listed with ``get_untrusted_types`` and every
one must match our allow-list (scikit-learn classes, numpy dtypes/scalars). Anything else — a
function from ``os``, a class from a test module — refuses to load.
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import io
import platform
import re
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from include.lifecycle.config import UseCase
from include.lifecycle.model.evaluation import cost_optimal_threshold, costs, predict_positive
from include.lifecycle.model.training import limited_threads, target_vector
from include.lifecycle.store import sha256_bytes


def _skops_io() -> Any:
    """skops.io, imported on first use: its import walks ``sys.modules`` and, inside an Airflow task, touches
    every deprecated Airflow attribute, each a logged warning (the cost is in bench/RESULTS.md)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import skops.io as sio
    return sio

# Class names in scikit-learn (CamelCase last component) and numpy's dtype / scalar types.
_SKLEARN_CLASS = re.compile(r"^sklearn(\.[A-Za-z_][A-Za-z0-9_]*)*\.[A-Z][A-Za-z0-9_]*$")
_NUMPY_TYPES = {
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.bool_",
    "numpy.int8", "numpy.int16", "numpy.int32", "numpy.int64",
    "numpy.uint8", "numpy.uint16", "numpy.uint32", "numpy.uint64",
    "numpy.float16", "numpy.float32", "numpy.float64",
    "numpy.str_", "numpy.object_",
}
RUNTIME_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "skops")


class UntrustedTypeError(RuntimeError):
    """A serialised model holds a type outside the allow-list; it is not loaded."""


def is_allowed_type(name: str) -> bool:
    return name in _NUMPY_TYPES or bool(_SKLEARN_CLASS.match(name))


def dumps_model(model: Any) -> tuple[bytes, str]:
    """skops bytes and their sha256; refuses to produce bytes it would itself refuse to load."""
    sio = _skops_io()
    data = sio.dumps(model)
    refused = [t for t in sio.get_untrusted_types(data=data) if not is_allowed_type(t)]
    if refused:
        raise UntrustedTypeError(f"model contains types outside the allow-list: {refused}")
    return data, sha256_bytes(data)


def loads_model(data: bytes) -> Any:
    """Load skops bytes, trusting exactly the allow-listed types skops reports (never ``trusted=True``)."""
    sio = _skops_io()
    untrusted = sio.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not is_allowed_type(t)]
    if refused:
        raise UntrustedTypeError(f"refusing to load a model with untrusted types: {refused}")
    return sio.loads(data, trusted=untrusted)


def runtime_requirements() -> dict[str, Any]:
    """Exact versions the model was built with: scoring must run on the same or refuse."""
    versions = {pkg: importlib.metadata.version(pkg) for pkg in RUNTIME_PACKAGES}
    return {
        "python": platform.python_version(),
        "packages": versions,
        "pip": [f"{pkg}=={ver}" for pkg, ver in versions.items()],
    }


# -- risk QA ----------------------------------------------------------------------------------
def risk_qa(model: Any, holdout_df: pd.DataFrame, uc: UseCase, threshold: float | None = None,
            scores: np.ndarray | None = None) -> dict[str, Any]:
    """Fairness gap, id invariance and latency, each with value, bound and verdict.

    ``scores``: this model's positive-class probabilities for ``holdout_df``'s rows when the caller already has
    them (the evaluation step's, verified by the model's sha256), so the holdout is not scored twice.
    """
    qa = uc.section("qa")
    X = holdout_df.drop(columns=[uc.target])
    y = target_vector(holdout_df, uc)
    if scores is not None and len(scores) != len(X):
        raise ValueError(f"risk QA got {len(scores)} scores for {len(X)} holdout rows")
    p = predict_positive(model, X) if scores is None else np.asarray(scores, dtype="float64")
    if threshold is None:
        threshold = cost_optimal_threshold(y, p, costs(uc))
    checks: dict[str, dict[str, Any]] = {}

    fair = qa.get("fairness") or {}
    if fair.get("slice"):
        col = fair["slice"]
        min_pos = int(fair.get("min_positives", 10))
        groups = {}
        for value in sorted(X[col].dropna().astype(str).unique()):
            mask = (X[col].astype(str) == value).to_numpy()
            positives = int(y[mask].sum())
            recall = float(((p[mask] >= threshold) & (y[mask] == 1)).sum() / positives) if positives else None
            groups[value] = {"rows": int(mask.sum()), "positives": positives, "recall": recall,
                             "judged": positives >= min_pos}
        judged = [g["recall"] for g in groups.values() if g["judged"]]
        gap = float(max(judged) - min(judged)) if len(judged) >= 2 else None
        bound = float(fair.get("max_gap", 0.2))
        checks["fairness"] = {
            "metric": f"{fair.get('metric', 'recall')} gap across {col}",
            "value": gap,
            "bound": bound,
            "passed": gap is None or gap <= bound,
            "groups": groups,
            "threshold": threshold,
            "note": None if gap is not None else f"fewer than two {col} groups with >= {min_pos} positives",
        }

    rows = int(qa.get("invariance_rows", 50_000))
    picked = np.sort(np.random.default_rng(0).choice(len(X), rows, replace=False)) if len(X) > rows else None
    sample = X if picked is None else X.iloc[picked]
    shuffled = sample.copy()
    shuffled[uc.id_column] = [f"QA-{i:09d}" for i in range(len(sample))][::-1]
    before = p if picked is None else p[picked]
    diff = float(np.max(np.abs(predict_positive(model, shuffled) - before))) if len(sample) else 0.0
    checks["invariance"] = {
        "metric": f"max abs change in prediction when {uc.id_column} changes"
                  + ("" if picked is None else f" (seeded sample of {rows:,} of {len(X):,} rows)"),
        "rows": int(len(sample)),
        "value": diff,
        "bound": float(qa.get("invariance_max_abs_diff", 1e-9)),
        "passed": diff <= float(qa.get("invariance_max_abs_diff", 1e-9)),
    }

    batch = X.sample(n=1000, replace=len(X) < 1000, random_state=0)
    runs = []
    with limited_threads():  # as batch scoring runs it: one native thread per task
        model.predict_proba(batch)  # warm-up: the first call pays lazy imports and caches
        for _ in range(int(qa.get("latency_runs", 5))):
            started = time.perf_counter()
            model.predict_proba(batch)
            runs.append((time.perf_counter() - started) * 1000)
    median = float(np.median(runs))
    bound = float(qa.get("latency_ms_per_1000_rows", 250))
    checks["latency"] = {"metric": "median ms per 1,000 rows", "value": round(median, 3), "bound": bound,
                         "passed": median <= bound, "runs_ms": [round(r, 3) for r in runs]}
    return {"passed": all(c["passed"] for c in checks.values()), "checks": checks}


# -- model card -------------------------------------------------------------------------------
def _png(draw: Any) -> bytes:
    """Render with the Agg canvas directly: no global backend switch, safe in workers and threads."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 3.6), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    draw(ax)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plots(evaluation: dict[str, Any], champion: dict[str, Any] | None = None) -> dict[str, bytes]:
    """ROC, precision-recall and calibration PNGs from the stored curves (candidate vs champion)."""
    series = [("candidate", evaluation.get("curves") or {})]
    if champion and champion.get("curves"):
        series.append((f"champion v{champion.get('model_version', '?')}", champion["curves"]))
    if not series[0][1]:
        return {}

    def roc(ax: Any) -> None:
        for label, c in series:
            ax.plot(c["roc"]["fpr"], c["roc"]["tpr"], label=label)
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")

    def pr(ax: Any) -> None:
        for label, c in series:
            ax.plot(c["pr"]["recall"], c["pr"]["precision"], label=label)
        ax.axhline(series[0][1]["pr"]["base_rate"], linestyle=":", color="grey", label="base rate")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")

    def calibration(ax: Any) -> None:
        for label, c in series:
            ax.plot(c["calibration"]["mean_predicted"], c["calibration"]["fraction_positive"], marker="o", label=label)
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
        ax.set(xlabel="mean predicted probability", ylabel="observed churn rate", title="Calibration")

    return {"roc": _png(roc), "precision_recall": _png(pr), "calibration": _png(calibration)}


def _metric_rows(evaluation: dict[str, Any], champion: dict[str, Any] | None) -> list[list[str]]:
    rows = []
    for name, value in evaluation["metrics"].items():
        champ = (champion or {}).get("metrics", {}).get(name)
        rows.append([name, _f(value), _f(champ) if champion else "—"])
    return rows


def _slice_rows(evaluation: dict[str, Any], comparison: dict[str, Any]) -> list[list[str]]:
    """Each slice's value with its bootstrap interval and the verdict of its own threshold."""
    metric = evaluation["slice_metric"]
    own: dict[str, list[str]] = {}
    for c in comparison.get("checks", []):
        if c["kind"] == "slice_value":
            own.setdefault(c["slice"], []).append(f"{c['metric']} {c['comparison']} {c['bound']:g}: {c['status']}")
    rows = [["slice", "rows", "positives", metric, "CI", "judged", "own threshold"]]
    for entries in evaluation["slices"].values():
        for s in entries:
            name = f"{s['column']}={s['value']}"
            ci = (s.get("ci") or {}).get(metric) or {}
            interval = f"{_f(ci['low'])}–{_f(ci['high'])}" if ci.get("low") is not None else "—"
            rows.append([name, str(s["rows"]), str(s["positives"]), _f(s.get(metric)), interval,
                         "yes" if s["judged"] else "no", "; ".join(own.get(name, [])) or "—"])
    return rows


def _f(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2e}" if value and abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


@dataclass(frozen=True)
class CardEvidence:
    """What a model card is built from: the evaluation step's outputs, risk QA, the training record and lineage."""

    evaluation: dict[str, Any]
    comparison: dict[str, Any]
    qa: dict[str, Any]
    record: dict[str, Any]
    lineage: dict[str, Any]
    champion: dict[str, Any] | None = None
    requirements: dict[str, Any] | None = None


def model_card(uc: UseCase, evidence: CardEvidence) -> dict[str, str]:
    """Markdown and self-contained HTML (plots inlined as base64 PNG) from the evaluation evidence."""
    evaluation, comparison, qa, record, lineage = (evidence.evaluation, evidence.comparison, evidence.qa,
                                                   evidence.record, evidence.lineage)
    champion, requirements = evidence.champion, evidence.requirements
    ci = evaluation["bootstrap"]
    title = f"Model card — {uc.name} / {record['name']}"
    sections: list[tuple[str, list[str] | list[list[str]], str]] = []
    sections.append(("Business question", [" ".join(str(uc.raw.get("description", "")).split())], "text"))
    sections.append(("Model", [
        f"Candidate `{record['name']}` ({record['estimator']}), best parameters {record['best_params']}, "
        f"cross-validated {record['cv_metric']} {record['cv_score']:.4f} over {record['cv_folds']} folds "
        f"on {record['train_rows']} training rows.",
        f"Config sha256 `{record['config_sha256'][:12]}`, code version `{record['code_version']}`, "
        f"trained at {record['trained_at']}.",
    ], "text"))
    verdict = "BLESSED" if comparison["blessed"] else "NOT BLESSED"
    sections.append(("Decision evidence", [f"**{verdict}**. " + " ".join(comparison["reasons"]),
                                           f"Primary metric {ci['metric']} = {_f(ci['point'])} "
                                           f"({ci['confidence']:.0%} bootstrap interval {_f(ci['low'])}–"
                                           f"{_f(ci['high'])}, {ci['valid_samples']} resamples).",
                                           f"Decision threshold {evaluation['threshold']:.2f} "
                                           f"({evaluation['threshold_rule']}); costs {evaluation['costs']}."],
                     "text"))
    champ_label = f"champion v{champion.get('model_version')}" if champion else "champion"
    sections.append(("Metrics on the holdout", [["metric", "candidate", champ_label],
                                                *_metric_rows(evaluation, champion)], "table"))
    sections.append(("Checks", [["kind", "metric / slice", "observed", "bound", "status"]] + [
        [c["kind"], c.get("slice") or c["metric"], _f(c["observed"]), _f(c["bound"]), c["status"]]
        for c in comparison["checks"] if c["kind"] != "holdout"], "table"))
    sections.append(("Slices", _slice_rows(evaluation, comparison), "table"))
    sections.append(("Risk QA", [["check", "what", "value", "bound", "passed"]] + [
        [name, c["metric"], _f(c["value"]), _f(c["bound"]), "yes" if c["passed"] else "NO"]
        for name, c in qa["checks"].items()], "table"))
    sections.append(("Data lineage", [
        f"As of {lineage.get('as_of')}: {len(lineage.get('features', []))} features partitions and "
        f"{len(lineage.get('labels', []))} labels partitions, {lineage.get('joined_rows')} labelled rows "
        f"({lineage.get('train_rows')} train / {lineage.get('holdout_rows')} holdout, id-hashed), "
        f"lineage sha256 `{str(lineage.get('lineage_sha256', ''))[:16]}`.",
    ], "text"))
    sections.append(("Intended use", [" ".join(str(uc.raw.get("intended_use") or (
        f"Predict `{uc.target}` for the records of the `{uc.name}` use case, scoring daily batches with the "
        f"contract in its YAML; a decision support for the people named in it, not an automated decision "
        "about an individual.")).split())], "text"))
    sections.append(("Limits", [
        "Trained on a static public snapshot replayed as daily batches; real drift will differ.",
        "The threshold is tuned on the same holdout it is reported on, so the expected cost is optimistic.",
        "Slices below the minimum row count are reported but not judged; a small slice can hide a regression.",
        "Associations, not causes: a feature's effect on risk says nothing about what an intervention will do.",
    ], "text"))
    if requirements:
        sections.append(("Runtime", [f"python {requirements['python']}; " + ", ".join(requirements["pip"])], "text"))

    md = [f"# {title}", ""]
    for head, body, kind in sections:
        md += [f"## {head}", ""]
        if kind == "table":
            md.append("| " + " | ".join(body[0]) + " |")
            md.append("|" + "---|" * len(body[0]))
            md += ["| " + " | ".join(r) + " |" for r in body[1:]]
        else:
            md += [str(line) for line in body]
        md.append("")
    md.append("Plots (ROC, precision-recall, calibration) are embedded in model_card.html.")

    images = plots(evaluation, champion)
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}.fail{color:#b00}</style></head><body>",
             f"<h1>{esc(title)}</h1><p><small>generated {datetime.now(UTC).isoformat()}</small></p>"]
    for head, body, kind in sections:
        parts.append(f"<h2>{esc(head)}</h2>")
        if kind == "table":
            parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in body[0]) + "</tr>")
            for r in body[1:]:
                cls = " class='fail'" if any(c in ("fail", "NO", "warn") or c.endswith((": fail", ": warn"))
                                             for c in r) else ""
                parts.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
            parts.append("</table>")
        else:
            parts += [f"<p>{esc(str(line)).replace('**', '')}</p>" for line in body]
    if images:
        parts.append("<h2>Plots</h2><div>")
        for name, png in images.items():
            parts.append(f"<img alt='{esc(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
        parts.append("</div>")
    parts.append("</body></html>")
    return {"markdown": "\n".join(md) + "\n", "html": "\n".join(parts)}
