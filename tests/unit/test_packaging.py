"""skops safety, runtime pins, the model card, and risk QA."""

from __future__ import annotations

import base64
import importlib.metadata
import os
import re

import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from include.lifecycle.model.evaluation import compare
from include.lifecycle.model.packaging import (
    CardEvidence,
    UntrustedTypeError,
    dumps_model,
    is_allowed_type,
    loads_model,
    model_card,
    risk_qa,
    runtime_requirements,
)
from tests.unit.conftest import override


def _double(x):
    return x * 2


def test_skops_round_trip_keeps_predictions_and_hashes_the_bytes(split, fitted) -> None:
    _, holdout = split
    model, _ = fitted["hgb"]
    data, digest = dumps_model(model)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert np.array_equal(loads_model(data).predict_proba(holdout), model.predict_proba(holdout))


def test_skops_refuses_types_outside_the_allow_list(split) -> None:
    train, _ = split
    sneaky = Pipeline([("f", FunctionTransformer(_double)), ("m", LogisticRegression())])
    sneaky.fit(train[["tenure"]], train["churn"])
    with pytest.raises(UntrustedTypeError, match="test_packaging._double"):
        dumps_model(sneaky)
    data = sio.dumps(sneaky)  # bytes made elsewhere, e.g. by an attacker or a careless notebook
    with pytest.raises(UntrustedTypeError, match="refusing to load"):
        loads_model(data)
    evil = sio.dumps(FunctionTransformer(os.system))
    with pytest.raises(UntrustedTypeError, match="system"):
        loads_model(evil)


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
        ("sklearn.linear_model._logistic.LogisticRegression", True),
        ("numpy.dtype", True),
        ("numpy.load", False),
        ("builtins.eval", False),
        ("posix.system", False),
        ("sklearn.utils._testing.assert_run_python_script_without_output", False),
        ("sklearnx.Evil", False),
    ],
)
def test_allow_list(name: str, allowed: bool) -> None:
    assert is_allowed_type(name) is allowed


def test_runtime_requirements_pin_the_installed_versions() -> None:
    req = runtime_requirements()
    assert req["packages"]["scikit-learn"] == importlib.metadata.version("scikit-learn")
    assert set(req["packages"]) == {"scikit-learn", "numpy", "scipy", "pandas", "skops"}
    assert all(re.fullmatch(r"[a-z-]+==[0-9][0-9a-z.]*", line) for line in req["pip"])
    assert re.fullmatch(r"3\.\d+\.\d+", req["python"])


def test_risk_qa_passes_a_sound_model_with_values_and_bounds(split, small_uc, fitted) -> None:
    _, holdout = split
    model, _ = fitted["logreg"]
    qa = risk_qa(model, holdout, small_uc, threshold=0.2)
    assert qa["passed"]
    assert set(qa["checks"]) == {"fairness", "invariance", "latency"}
    for check in qa["checks"].values():
        assert {"value", "bound", "passed"} <= set(check)
    assert qa["checks"]["invariance"]["value"] == 0.0
    groups = qa["checks"]["fairness"]["groups"]
    y, senior = holdout["churn"].to_numpy(), holdout["senior_citizen"].astype(str).to_numpy()
    p = model.predict_proba(holdout)[:, 1]
    recall = {g: ((p >= 0.2) & (y == 1) & (senior == g)).sum() / ((y == 1) & (senior == g)).sum() for g in "01"}
    assert groups["0"]["recall"] == pytest.approx(recall["0"])
    assert qa["checks"]["fairness"]["value"] == pytest.approx(abs(recall["0"] - recall["1"]))


def _id_reading_model(train):
    """A model that memorises customer ids: renaming them moves its predictions."""
    return Pipeline([
        ("pre", ColumnTransformer([("id", OneHotEncoder(handle_unknown="ignore"), ["customer_id"]),
                                   ("t", "passthrough", ["tenure"])])),
        ("m", LogisticRegression(max_iter=500)),
    ]).fit(train, train["churn"])


def test_risk_qa_catches_a_model_that_reads_the_id(split, small_uc, override) -> None:
    train, holdout = split
    leaky = _id_reading_model(train)
    qa = risk_qa(leaky, train.head(300), small_uc)  # ids the model memorised, then renamed
    assert not qa["passed"] and not qa["checks"]["invariance"]["passed"]
    assert qa["checks"]["invariance"]["value"] > 0.01
    impatient = override(small_uc, **{"qa.latency_ms_per_1000_rows": 1e-6})
    slow = risk_qa(leaky, holdout, impatient)
    assert not slow["checks"]["latency"]["passed"] and len(slow["checks"]["latency"]["runs_ms"]) == 5


def test_risk_qa_on_a_large_holdout_samples_the_id_check_and_still_catches_a_leak(split, small_uc, override) -> None:
    train, _ = split
    leaky = _id_reading_model(train)
    capped = override(small_uc, **{"qa.invariance_rows": 100})
    qa = risk_qa(leaky, train, capped)
    check = qa["checks"]["invariance"]
    assert check["rows"] == 100 and f"seeded sample of 100 of {len(train):,} rows" in check["metric"]
    assert not check["passed"] and check["value"] > 0.01
    assert risk_qa(leaky, train, capped)["checks"]["invariance"]["value"] == check["value"]  # seeded: repeatable


def test_risk_qa_given_the_evaluation_scores_decides_as_if_it_scored_itself(split, small_uc, fitted) -> None:
    _, holdout = split
    model, _ = fitted["hgb"]
    own = risk_qa(model, holdout, small_uc, threshold=0.3)
    scores = model.predict_proba(holdout.drop(columns=["churn"]))[:, 1]
    given = risk_qa(model, holdout, small_uc, threshold=0.3, scores=scores)
    assert given["checks"]["fairness"] == own["checks"]["fairness"]
    assert given["checks"]["invariance"] == own["checks"]["invariance"]
    with pytest.raises(ValueError, match=f"risk QA got 10 scores for {len(holdout)} holdout rows"):
        risk_qa(model, holdout, small_uc, scores=scores[:10])


def test_model_card_tells_the_story_from_the_evidence(split, small_uc, fitted, evals) -> None:
    _, holdout = split
    cand, record = fitted["hgb"]
    ev = evals["hgb"]
    champ_ev = {**evals["logreg"], "model_version": 4}
    comparison = compare(ev, champ_ev, small_uc)
    qa = risk_qa(cand, holdout, small_uc, threshold=ev["threshold"])
    lineage = {"as_of": "2026-01-09", "features": [{}] * 3, "labels": [{}] * 2, "joined_rows": 1600,
               "train_rows": 1200, "holdout_rows": 400, "lineage_sha256": "ab" * 32}
    card = model_card(small_uc, CardEvidence(ev, comparison, qa, record, lineage, champion=champ_ev,
                                             requirements=runtime_requirements()))
    md, html = card["markdown"], card["html"]
    assert "Which customers will churn next period" in md
    assert "| roc_auc | " + f"{ev['metrics']['roc_auc']:.4f} | {champ_ev['metrics']['roc_auc']:.4f} |" in md
    assert "champion v4" in md and "contract=Month-to-month" in md and "senior_citizen" in md
    assert ("NOT BLESSED" in md) != comparison["blessed"]
    # The intended use is the YAML's own words (the retention team for churn), not one text for every use case.
    assert "retention team's offer" in md and "Predict `churn`" not in md
    generic = model_card(override(small_uc, intended_use=""), CardEvidence(ev, comparison, qa, record, lineage))
    assert "Predict `churn` for the records of the `churn` use case" in generic["markdown"]
    for heading in ("Data lineage", "Intended use", "Limits", "Risk QA", "Slices"):
        assert f"## {heading}" in md and f"<h2>{heading}</h2>" in html
    assert "2026-01-09" in md and "scikit-learn==" in md
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(pngs) == 3
    assert all(base64.b64decode(p).startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
