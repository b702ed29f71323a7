"""The retraining policy against a really trained version registered through the real registry.

The monitoring results fed in are plain dicts shaped like ``monitor()``'s output (the policy only reads
``date``, ``version``, ``breaches`` and ``breach_details``), so these tests do not pay for Evidently.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from include.lifecycle.model.registry import parse_time, registry_for
from include.lifecycle.store import LocalStore
from include.lifecycle.watch.retraining import decide_retrain, decision_history, last_training_at
from tests.unit.registered import train_and_register

AS_OF = date(2026, 1, 2)


@pytest.fixture(scope="module")
def uc(churn_uc, override):
    return override(churn_uc, candidates=[{"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
                                           "params": {"max_iter": 500}, "search": {"C": [1.0]}}],
                    search_cv_folds=2, **{"evaluation.bootstrap": {"samples": 20, "confidence": 0.95, "seed": 7}})


@pytest.fixture(scope="module")
def template(tmp_path_factory, uc, churn_uc) -> Path:
    """v1 trained on labels delivered up to AS_OF, promoted; then 350 new labels delivered on Jan 10 and 12."""
    rows = pd.read_csv(churn_uc.data_file, dtype={uc.id_column: str}).sample(n=1250, random_state=2)
    root = tmp_path_factory.mktemp("retraining-template")
    store = LocalStore(root)
    manifest = train_and_register(store, uc, rows.iloc[:900])
    assert manifest["lineage"]["as_of"] == AS_OF.isoformat()
    registry_for(store, uc).promote(1, actor="sme_alice")
    new = rows.iloc[900:][[uc.id_column, uc.target]]
    store.write_frame(f"labels/{uc.name}/date=2026-01-10/labels.parquet", new.iloc[:200])
    store.write_frame(f"labels/{uc.name}/date=2026-01-12/labels.parquet", new.iloc[200:])
    return root


@pytest.fixture
def store(template, tmp_path) -> LocalStore:
    shutil.copytree(template, tmp_path / "store")
    return LocalStore(tmp_path / "store")


BREACH = {"date": "2026-01-12", "version": 1, "breaches": ["prediction_drift"], "result_key": "monitoring/x.json",
          "breach_details": [{"kind": "prediction_drift", "detail": "Score distribution moved: PSI 0.18 >= 0.1."}]}
QUIET = {**BREACH, "breaches": [], "breach_details": []}


@pytest.fixture
def trained_at(store, uc):
    return last_training_at(registry_for(store, uc))


def test_last_training_time_comes_from_the_ledger(store, uc, trained_at) -> None:
    registered = [e for e in registry_for(store, uc).ledger() if e["event"] == "registered"]
    assert trained_at == parse_time(registered[-1]["at"])


def test_all_conditions_met_requests_retraining_and_records_it(store, uc, trained_at) -> None:
    out = decide_retrain(store, uc, trained_at + timedelta(hours=25), BREACH, training_pending=False)
    assert out["retrain"] is True and out["blocked_by"] == []
    assert out["checks"]["new_labels"]["rows"] == 350 and out["checks"]["new_labels"]["after"] == "2026-01-02"
    assert any("PSI 0.18" in r for r in out["reasons"])
    assert store.read_json(out["decision_key"]) == {**{k: v for k, v in out.items() if k != "decision_key"},
                                                    "key": out["decision_key"]}


@pytest.mark.parametrize(
    ("case", "blocker"),
    [("no_breach", "breach"), ("cooldown", "cooldown"), ("few_labels", "new_labels"), ("pending", "training_pending")],
)
def test_each_condition_blocks_on_its_own(store, uc, override, trained_at, case, blocker) -> None:
    later = trained_at + timedelta(hours=25)
    kwargs = {"now": later, "monitoring_result": BREACH, "training_pending": False}
    policy = uc
    if case == "no_breach":
        kwargs["monitoring_result"] = QUIET
    elif case == "cooldown":
        kwargs["now"] = trained_at + timedelta(hours=23)
    elif case == "few_labels":
        policy = override(uc, **{"retraining.min_new_labelled_rows": 351})
    else:
        kwargs["training_pending"] = True
    out = decide_retrain(store, policy, **kwargs)
    assert out["retrain"] is False and out["blocked_by"] == [blocker]
    assert decision_history(store, uc)[-1]["blocked_by"] == [blocker]


def test_labels_delivered_after_now_do_not_count(store, uc, trained_at) -> None:
    # On Jan 11 only the 200 labels of Jan 10 exist: below the 300 the config asks for.
    out = decide_retrain(store, uc, "2026-01-11T09:00:00Z", BREACH, training_pending=False)
    assert out["checks"]["new_labels"]["rows"] == 200 and "new_labels" in out["blocked_by"]


def test_decisions_are_appended_never_overwritten(store, uc, trained_at) -> None:
    first = decide_retrain(store, uc, trained_at + timedelta(hours=1), BREACH, training_pending=False)
    before = store.read_bytes(first["decision_key"])
    second = decide_retrain(store, uc, trained_at + timedelta(hours=1), BREACH, training_pending=False)
    third = decide_retrain(store, uc, trained_at + timedelta(hours=30), BREACH, training_pending=False)
    history = decision_history(store, uc)
    assert [d["retrain"] for d in history] == [False, False, True]
    assert len({first["decision_key"], second["decision_key"], third["decision_key"]}) == 3
    assert store.read_bytes(first["decision_key"]) == before
