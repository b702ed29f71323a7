"""Thin step functions for the training DAG: small JSON-able dicts and store keys in and out.

Each step reads its inputs from the artifact store and writes its outputs there, so a step can run
on any worker, be retried, and hand the next one only keys (never DataFrames) through XCom.
:func:`run_training_lifecycle` chains them in one process for notebooks and for measuring what
Airflow's scheduling costs on top of the work itself.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from include.lifecycle import layout
from include.lifecycle.config import UseCase
from include.lifecycle.model.registry import registry_for
from include.lifecycle.store import ArtifactStore, ConflictError, retry_on_conflict, sha256_bytes


class StepError(RuntimeError):
    """A step's input is missing or inconsistent with what the previous step recorded."""


def _load_verified(store: ArtifactStore, key: str, sha256: str | None) -> tuple[Any, bytes]:
    """The model and its bytes, refusing bytes that changed since the step that wrote them."""
    from include.lifecycle.model.packaging import loads_model

    data = store.read_bytes(key)
    if sha256 and sha256_bytes(data) != sha256:
        raise StepError(f"{store.uri(key)} changed since it was written (sha256 mismatch)")
    return loads_model(data), data


def step_assemble(store: ArtifactStore, uc: UseCase, as_of: date | datetime | str, run_id: str) -> dict[str, Any]:
    """Assemble the training set as of ``as_of`` and persist train / holdout / lineage for the run."""
    from include.lifecycle.model.training import assemble, candidate_grid

    ts = assemble(store, uc, as_of)
    train_sha = store.write_frame(layout.train_set_key(uc, run_id), ts.train)
    holdout_sha = store.write_frame(layout.holdout_key(uc, run_id), ts.holdout)
    lineage = {**ts.lineage, "train_sha256": train_sha, "holdout_sha256": holdout_sha}
    store.write_json(layout.lineage_key(uc, run_id), lineage)
    return {
        "run_id": run_id,
        "as_of": ts.lineage["as_of"],
        "train_key": layout.train_set_key(uc, run_id),
        "holdout_key": layout.holdout_key(uc, run_id),
        "lineage_key": layout.lineage_key(uc, run_id),
        "train_rows": ts.lineage["train_rows"],
        "holdout_rows": ts.lineage["holdout_rows"],
        "lineage_sha256": ts.lineage["lineage_sha256"],
        "candidates": [s["name"] for s in candidate_grid(uc)],
    }


def step_train_candidate(store: ArtifactStore, uc: UseCase, run_id: str, spec_name: str) -> dict[str, Any]:
    """Train one candidate (one mapped task) and store its skops bytes and training record."""
    from include.lifecycle.model.packaging import dumps_model
    from include.lifecycle.model.training import candidate_grid, train_candidate

    specs = {s["name"]: s for s in candidate_grid(uc)}
    if spec_name not in specs:
        raise StepError(f"{uc.name}: no candidate named {spec_name!r} (have {sorted(specs)})")
    train = store.read_frame(layout.train_set_key(uc, run_id))
    lineage = store.read_json(layout.lineage_key(uc, run_id))
    model, record = train_candidate(train, uc, specs[spec_name], lineage=lineage)
    data, digest = dumps_model(model)
    out = layout.candidate_prefix(uc, run_id, spec_name)
    store.write_bytes(f"{out}/model.skops", data)
    record = {**record, "model_sha256": digest, "run_id": run_id}
    store.write_json(f"{out}/record.json", record)
    return {
        "name": spec_name,
        "model_key": f"{out}/model.skops",
        "record_key": f"{out}/record.json",
        "model_sha256": digest,
        "cv_metric": record["cv_metric"],
        "cv_score": record["cv_score"],
        "best_params": record["best_params"],
        "duration_s": record["duration_s"],
    }


def step_select_best(
    store: ArtifactStore, uc: UseCase, run_id: str, candidate_results: list[dict[str, Any]],
    profile: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Pick the best candidate by cross-validated score (the holdout stays untouched for the final verdict),
    and write the run's experiment record."""
    results = [r for r in candidate_results if r]
    if not results:
        raise StepError(f"{uc.name} run {run_id}: no candidate finished training")
    ranking = sorted(results, key=lambda r: r["cv_score"], reverse=True)
    best = {**ranking[0], "ranking": [{"name": r["name"], "cv_score": r["cv_score"]} for r in ranking]}
    store.write_json(layout.best_key(uc, run_id), best)
    store.write_json(layout.experiment_key(uc, run_id), experiment_record(store, uc, run_id, ranking, profile))
    return best


def experiment_record(store: ArtifactStore, uc: UseCase, run_id: str, ranking: list[dict[str, Any]],
                      profile: dict[str, Any] | None) -> dict[str, Any]:
    """The run's candidates side by side, the data they saw (hash, rows), the code version, and the training
    set's EDA profile (its keys, or the note saying why there is none)."""
    lineage = store.read_json(layout.lineage_key(uc, run_id))
    rows = []
    for r in ranking:
        record = store.read_json(r["record_key"]) if r.get("record_key") and store.exists(r["record_key"]) else {}
        rows.append({"name": r["name"], "estimator": record.get("estimator"), "best_params": r.get("best_params"),
                     "cv_metric": r.get("cv_metric"), "cv_score": r.get("cv_score"),
                     "cv_folds": record.get("cv_folds"), "duration_s": r.get("duration_s"),
                     "model_sha256": r.get("model_sha256"), "code_version": record.get("code_version")})
    profile_keys = {"html_key": layout.training_profile_key(uc, run_id),
                    "summary_key": layout.training_profile_summary_key(uc, run_id)}
    return {
        "run_id": run_id, "use_case": uc.name, "as_of": lineage.get("as_of"), "config_sha256": uc.sha256,
        "code_version": next((r["code_version"] for r in rows if r["code_version"]), None),
        "data": {k: lineage.get(k) for k in ("lineage_sha256", "train_sha256", "holdout_sha256", "train_rows",
                                             "holdout_rows")},
        "candidates": rows, "best": ranking[0]["name"],
        "profile": {**profile_keys, **({k: profile.get(k) for k in ("status", "error", "rows_profiled", "rows_total",
                                                                     "reference") if k in profile}
                                       if profile else {"status": "not built"})},
    }


def step_evaluate(store: ArtifactStore, uc: UseCase, run_id: str, best: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the best candidate and the current champion on the same holdout, then compare."""
    import pandas as pd

    from include.lifecycle.model.evaluation import compare, evaluate, predict_positive

    holdout = store.read_frame(layout.holdout_key(uc, run_id))
    model, data = _load_verified(store, best["model_key"], best.get("model_sha256"))
    scores = predict_positive(model, holdout.drop(columns=[uc.target]))
    candidate_eval = evaluate(model, holdout, uc, scores=scores)
    scores_sha = store.write_frame(layout.holdout_scores_key(uc, run_id), pd.DataFrame({"score": scores}))
    candidate_eval["scores"] = {"key": layout.holdout_scores_key(uc, run_id), "sha256": scores_sha,
                                "model_sha256": sha256_bytes(data), "rows": int(len(scores))}
    registry = registry_for(store, uc)
    champion_version = registry.alias_version("champion")
    champion_eval = None
    if champion_version is not None:
        champion = registry.load_model(champion_version)
        champion_eval = {**evaluate(champion, holdout, uc), "model_version": champion_version}
    comparison = compare(candidate_eval, champion_eval, uc)
    store.write_json(layout.evaluation_key(uc, run_id, "candidate"), candidate_eval)
    store.write_json(layout.evaluation_key(uc, run_id, "champion"), champion_eval)
    store.write_json(layout.evaluation_key(uc, run_id, "comparison"), comparison)
    primary = candidate_eval["primary_metric"]
    return {
        "blessed": comparison["blessed"],
        "reasons": comparison["reasons"],
        "candidate": best["name"],
        "champion_version": champion_version,
        "primary_metric": primary,
        "candidate_value": candidate_eval["metrics"].get(primary),
        "champion_value": (champion_eval or {}).get("metrics", {}).get(primary),
        "evaluation_key": layout.evaluation_key(uc, run_id, "candidate"),
        "champion_evaluation_key": layout.evaluation_key(uc, run_id, "champion"),
        "comparison_key": layout.evaluation_key(uc, run_id, "comparison"),
    }


def step_package(store: ArtifactStore, uc: UseCase, run_id: str, best: dict[str, Any]) -> dict[str, Any]:
    """Risk QA, model card and the exact skops bytes that will be registered."""
    from include.lifecycle.model.packaging import CardEvidence, model_card, risk_qa, runtime_requirements

    holdout = store.read_frame(layout.holdout_key(uc, run_id))
    model, data = _load_verified(store, best["model_key"], best.get("model_sha256"))
    evaluation = store.read_json(layout.evaluation_key(uc, run_id, "candidate"))
    champion_eval = store.read_json(layout.evaluation_key(uc, run_id, "champion"))
    comparison = store.read_json(layout.evaluation_key(uc, run_id, "comparison"))
    record = store.read_json(best["record_key"])
    lineage = store.read_json(layout.lineage_key(uc, run_id))
    qa = risk_qa(model, holdout, uc, threshold=evaluation["threshold"],
                 scores=_evaluated_scores(store, evaluation, sha256_bytes(data), len(holdout)))
    requirements = runtime_requirements()
    card = model_card(uc, CardEvidence(evaluation, comparison, qa, record, lineage, champion=champion_eval,
                                       requirements=requirements))
    digest = sha256_bytes(data)  # the very bytes that were evaluated are the ones registered
    pkg = layout.package_prefix(uc, run_id)
    store.write_bytes(f"{pkg}/model.skops", data)
    store.write_json(f"{pkg}/qa.json", qa)
    store.write_json(f"{pkg}/requirements.json", requirements)
    store.write_text(f"{pkg}/model_card.md", card["markdown"])
    store.write_text(f"{pkg}/model_card.html", card["html"])
    store.write_json(f"{pkg}/package.json", {"candidate": best["name"], "record_key": best["record_key"],
                                             "model_sha256": digest})
    return {
        "package_prefix": pkg,
        "model_sha256": digest,
        "qa_passed": qa["passed"],
        "qa": {k: {"value": v["value"], "bound": v["bound"], "passed": v["passed"]} for k, v in qa["checks"].items()},
        "model_card_key": f"{pkg}/model_card.html",
    }


def _evaluated_scores(store: ArtifactStore, evaluation: dict[str, Any], model_sha256: str, rows: int) -> Any:
    """The evaluation step's holdout scores when they are this model's and intact, else None (QA re-scores)."""
    ref = evaluation.get("scores") or {}
    if ref.get("model_sha256") != model_sha256 or ref.get("rows") != rows or not store.exists(ref.get("key", "")):
        return None
    data = store.read_bytes(ref["key"])
    if sha256_bytes(data) != ref.get("sha256"):
        return None
    import io

    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))["score"].to_numpy(dtype="float64")


def step_register(store: ArtifactStore, uc: UseCase, run_id: str, actor: str = "data-scientist") -> dict[str, Any]:
    """Register the packaged candidate; make it ``challenger`` when blessed and QA passed. Idempotent per run."""
    pkg = layout.package_prefix(uc, run_id)
    registry = registry_for(store, uc)
    comparison = store.read_json(layout.evaluation_key(uc, run_id, "comparison"))
    qa = store.read_json(f"{pkg}/qa.json")
    version = registry.find_by_run(run_id)
    if version is None:
        package = store.read_json(f"{pkg}/package.json")
        model_bytes = store.read_bytes(f"{pkg}/model.skops")
        if sha256_bytes(model_bytes) != package["model_sha256"]:
            raise StepError(f"{store.uri(pkg + '/model.skops')} changed since packaging (sha256 mismatch)")
        manifest = registry.register(
            model_bytes,
            evaluation=store.read_json(layout.evaluation_key(uc, run_id, "candidate")),
            champion_evaluation=store.read_json(layout.evaluation_key(uc, run_id, "champion")),
            comparison=comparison,
            qa=qa,
            lineage=store.read_json(layout.lineage_key(uc, run_id)),
            record=store.read_json(package["record_key"]),
            model_card={"markdown": store.read_text(f"{pkg}/model_card.md"),
                        "html": store.read_text(f"{pkg}/model_card.html")},
            requirements=store.read_json(f"{pkg}/requirements.json"),
            actor=actor,
            run_id=run_id,
        )
        version = manifest["version"]
    eligible = bool(comparison["blessed"]) and bool(qa["passed"])
    challenger_set = False
    if eligible:
        challenger_set = _set_challenger(registry, version, actor)
    reasons = list(comparison["reasons"]) + [
        f"Risk QA check {name} failed: {c['value']} against bound {c['bound']}."
        for name, c in qa["checks"].items() if not c["passed"]
    ]
    result = {"version": version, "blessed": bool(comparison["blessed"]), "qa_passed": bool(qa["passed"]),
              "challenger": challenger_set, "reasons": reasons, "model": registry.name,
              "manifest_key": f"{registry.prefix}/versions/{version}/manifest.json"}
    store.write_json(layout.registered_key(uc, run_id), result)
    return result


def _set_challenger(registry: Any, version: int, actor: str) -> bool:
    """Move ``challenger`` to ``version`` unless a newer version already holds it (CAS, re-read on conflict)."""

    def attempt() -> bool:
        current = registry.alias_version("challenger")
        if current is not None and current >= version:
            return current == version
        registry.set_alias("challenger", version, expected_version=current, actor=actor)
        registry.append("challenger_set", version, actor, comment="blessed and passed risk QA",
                        details={"previous_version": current})
        return True

    try:
        return retry_on_conflict(attempt, attempts=5, what="the challenger alias")
    except ConflictError:
        return False


def _profile_or_note(store: ArtifactStore, uc: UseCase, run_id: str) -> dict[str, Any]:
    from include.lifecycle.data import profile

    try:
        return profile.profile_training_set(store, uc, run_id)
    except Exception as exc:  # noqa: BLE001 - as in the DAG: a missing profile is noted, never fatal
        return profile.record_failure(store, layout.training_profile_summary_key(uc, run_id), run_id, exc)


def run_training_lifecycle(
    store: ArtifactStore, uc: UseCase, as_of: date | datetime | str, run_id: str
) -> dict[str, Any]:
    """Every training step in one process, with the seconds each took."""
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        started = time.perf_counter()
        out = fn(*args)
        timings[name] = round(time.perf_counter() - started, 3)
        return out

    assembled = timed("assemble", step_assemble, store, uc, as_of, run_id)
    candidates = [timed(f"train[{name}]", step_train_candidate, store, uc, run_id, name)
                  for name in assembled["candidates"]]
    profiled = timed("profile", _profile_or_note, store, uc, run_id)
    best = timed("select_best", step_select_best, store, uc, run_id, candidates, profiled)
    evaluation = timed("evaluate", step_evaluate, store, uc, run_id, best)
    package = timed("package", step_package, store, uc, run_id, best)
    registered = timed("register", step_register, store, uc, run_id)
    return {"run_id": run_id, "assemble": assembled, "profile": profiled, "candidates": candidates, "best": best,
            "evaluation": evaluation, "package": package, "register": registered, "timings_s": timings,
            "total_s": round(sum(timings.values()), 3)}
