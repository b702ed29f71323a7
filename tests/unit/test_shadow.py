"""Shadow evaluation with real models: the challenger's scores kept apart, and the paired live comparison."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from include.lifecycle import layout
from include.lifecycle.model.features import clean
from include.lifecycle.model.registry import registry_for
from include.lifecycle.serve.scoring import score_partition
from include.lifecycle.serve.shadow import compare_in_shadow, resolve_challenger, score_shadow
from include.lifecycle.store import LocalStore, sha256_bytes
from tests.unit.registered import train_and_register

LIVE = [date(2026, 1, 20), date(2026, 1, 21)]
LABELLED = date(2026, 1, 23)


@pytest.fixture(scope="module")
def uc(churn_uc, override):
    return override(churn_uc, candidates=[{"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
                                           "params": {"max_iter": 500}, "search": {"C": [1.0]}}],
                    search_cv_folds=2, **{"evaluation.bootstrap": {"samples": 60, "confidence": 0.95, "seed": 7},
                                          "approval.shadow": {"min_days": 2, "min_labelled_rows": 200}})


@pytest.fixture(scope="module")
def world(tmp_path_factory, uc, churn_uc):
    """v1 champion; v2 (same recipe, more data) a blessed challenger; v3 trained on shuffled labels; two live days
    scored by the champion and shadowed, their labels delivered two days later."""
    rows = pd.read_csv(churn_uc.data_file, dtype={churn_uc.id_column: str}).sample(n=2200, random_state=11)
    store = LocalStore(tmp_path_factory.mktemp("shadow") / "store")
    registry = registry_for(store, uc)
    train_and_register(store, uc, rows.iloc[:800], run_id="run-1")
    registry.promote(1, actor="sme_alice")
    train_and_register(store, uc, rows.iloc[:1400], run_id="run-2", start=date(2026, 1, 3))
    registry.set_alias("challenger", 2, expected_version=None)
    noise = rows.iloc[:800].copy()
    noise[uc.target] = noise[uc.target].sample(frac=1.0, random_state=1).to_numpy()  # a model that learnt nothing
    train_and_register(store, uc, noise, run_id="run-3", start=date(2026, 1, 6))
    live = rows.iloc[1400:]
    for day, part in zip(LIVE, (live.iloc[:400], live.iloc[400:]), strict=True):
        store.write_frame(layout.features_key(uc, day), clean(part.drop(columns=[uc.target]), uc))
        score_partition(store, uc, day, 1)
    store.write_frame(layout.labels_key(uc, LABELLED), live[[uc.id_column, uc.target]])
    return store


def test_only_a_blessed_challenger_that_is_not_the_champion_is_shadowed(world, uc) -> None:
    got = resolve_challenger(world, uc)
    assert got["eligible"] and got["version"] == 2 and got["champion_version"] == 1
    registry = registry_for(world, uc)
    registry.set_alias("challenger", 3, expected_version=2)
    try:
        assert not resolve_challenger(world, uc)["eligible"]  # v3 on shuffled labels was never blessed
        assert "not blessed" in resolve_challenger(world, uc)["reason"]
    finally:
        registry.set_alias("challenger", 2, expected_version=3)


def test_shadow_scores_are_kept_apart_and_marked(world, uc) -> None:
    served_before = {d: sha256_bytes(world.read_bytes(layout.predictions_key(uc, d))) for d in LIVE}
    for day in LIVE:
        out = score_shadow(world, uc, day, resolve_challenger(world, uc))
        assert out["shadow"] and out["predictions_key"] == layout.shadow_predictions_key(uc, day, 2)
        shadow = world.read_frame(out["predictions_key"])
        assert shadow["shadow"].all() and (shadow["model_version"] == 2).all()
        served = world.read_frame(layout.predictions_key(uc, day))
        assert "shadow" not in served.columns and (served["model_version"] == 1).all()
        assert set(shadow[uc.id_column]) == set(served[uc.id_column])
    # the served partitions are byte-for-byte what the champion wrote; nothing under predictions/ is shadow's
    assert {d: sha256_bytes(world.read_bytes(layout.predictions_key(uc, d))) for d in LIVE} == served_before
    assert not [k for k in world.list("predictions/") if "shadow" in k]


def test_paired_comparison_on_the_same_live_rows(world, uc) -> None:
    for day in LIVE:
        score_shadow(world, uc, day, resolve_challenger(world, uc))
    before = compare_in_shadow(world, uc, 2, LIVE[-1])  # no label delivered yet
    assert before["verdict"] == "insufficient" and before["labelled_rows"] == 0 and not before["enough_evidence"]
    result = compare_in_shadow(world, uc, 2, LABELLED)
    assert result["labelled_rows"] == 800 and result["days_with_labels"] == [d.isoformat() for d in LIVE]
    overall = result["overall"]
    assert overall["difference"] == pytest.approx(overall["challenger"] - overall["champion"])
    low, high = overall["difference_ci"]
    assert low <= overall["difference"] <= high and overall["valid_samples"] == 60
    assert overall["cost_difference_ci"][0] <= overall["cost_difference"] <= overall["cost_difference_ci"][1]
    assert result["verdict"] in ("no_clear_difference", "challenger_wins", "challenger_loses")
    assert result["enough_evidence"]  # 2 labelled days >= min_days 2 and 800 rows >= 200
    contract = {s["value"]: s for s in result["slices"]["contract"]}
    assert contract["Month-to-month"]["judged"] and contract["Month-to-month"]["rows"] > 100
    assert sum(s.get("rows", 0) for s in contract.values()) == 800
    assert world.read_json(layout.shadow_comparison_key(uc, 2, LABELLED)) == result


def test_a_challenger_that_learnt_nothing_loses_in_shadow(world, uc) -> None:
    for day in LIVE:
        score_shadow(world, uc, day, {"version": 3})
    result = compare_in_shadow(world, uc, 3, LABELLED)
    assert result["verdict"] == "challenger_loses", result
    assert result["overall"]["difference_ci"][1] < 0 and "worse than the champion" in result["reason"]


def test_labels_delivered_before_a_row_was_scored_do_not_count(world, uc) -> None:
    early = LIVE[0] - timedelta(days=1)
    world.write_frame(layout.labels_key(uc, early), world.read_frame(layout.labels_key(uc, LABELLED)))
    try:
        assert compare_in_shadow(world, uc, 2, LIVE[0])["labelled_rows"] == 0
    finally:
        world.local_path(layout.labels_key(uc, early)).unlink()


def test_the_scoring_task_shadows_after_serving_and_skips_without_a_challenger(world, uc, monkeypatch) -> None:
    """The task body as the batch-scoring DAG calls it (the bundled churn YAML, this store)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from lifecycle_ops.tasks.scoring import shadow_score_day

    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(world.local_path("")))
    context = {"partition_key": LIVE[1].isoformat(), "run_id": "asset_triggered__1", "params": {}}
    out = shadow_score_day(context, "churn", {"version": 1})
    assert out["challenger_version"] == 2 and out["shadow_key"] == layout.shadow_predictions_key(uc, LIVE[1], 2)
    assert out["verdict"] == "insufficient"  # labels for LIVE[1] arrive on LABELLED, after this run's day
    from openlineage.client.serde import Serde

    from lifecycle_ops import lineage

    ins, outs = (([json.loads(Serde.to_json(d)) for d in side]) for side in lineage.datasets(
        "shadow_score_day", uc, world, out))
    assert [d["name"] for d in outs] == [str(world.local_path(k)) for k in (out["shadow_key"], out["comparison_key"])]
    assert outs[0]["facets"]["version"]["datasetVersion"] == sha256_bytes(world.read_bytes(out["shadow_key"]))
    assert outs[0]["outputFacets"]["outputStatistics"]["rowCount"] == out["rows"]
    assert ins[0]["name"] == str(world.local_path(layout.features_key(uc, LIVE[1])))
    assert ins[1]["facets"]["lifecycle_model"]["stage"] == "challenger" and ins[1]["facets"]["version"][
        "datasetVersion"] == "2"
    registry = registry_for(world, uc)
    registry.set_alias("challenger", 1, expected_version=2)  # the champion itself: nothing to shadow
    try:
        with pytest.raises(AirflowSkipException, match="champion already"):
            shadow_score_day(context, "churn", {"version": 1})
    finally:
        registry.set_alias("challenger", 2, expected_version=1)


def test_the_gate_opens_on_enough_evidence_and_never_for_a_loser(world, uc, override) -> None:
    from include.lifecycle.serve.shadow import shadow_gate

    off = shadow_gate(world, override(uc, **{"approval.shadow": None}), 2)
    assert off["ready"] and not off["required"] and "opens at once" in off["reason"]
    assert not shadow_gate(world, uc, 1)["ready"]  # v1 was never shadowed: no comparison, keep waiting
    for key in [k for k in world.list("shadow/") if "/comparison/" in k]:  # earlier tests' comparisons
        world.local_path(key).unlink()
    for version in (2, 3):
        for day in LIVE:
            score_shadow(world, uc, day, {"version": version})
        compare_in_shadow(world, uc, version, LIVE[-1])
    waiting = shadow_gate(world, uc, 2)
    assert not waiting["ready"] and "0 labelled live rows" in waiting["reason"]
    for version in (2, 3):
        compare_in_shadow(world, uc, version, LABELLED)
    ready = shadow_gate(world, uc, 2)
    assert ready["ready"] and not ready["lost"] and ready["date"] == LABELLED.isoformat()
    assert ready["comparison_sha256"] == sha256_bytes(world.read_bytes(ready["comparison_key"]))
    lost = shadow_gate(world, uc, 3)
    assert lost["ready"] and lost["lost"] and lost["verdict"] == "challenger_loses"


class _TI:
    """What the sensor reads from the run: the register task's result."""

    def __init__(self, registered: dict) -> None:
        self.registered = registered

    def xcom_pull(self, task_ids: str, **_: object) -> dict:
        assert task_ids == "register"
        return self.registered


def test_the_sensor_refuses_a_loser_unless_forced_with_a_reason(world, uc, tmp_path, monkeypatch) -> None:
    import yaml
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.lifecycle.config import PROJECT_ROOT
    from include.lifecycle.serve.shadow import latest_comparison
    from lifecycle_ops.evidence_tables import shadow_section
    from lifecycle_ops.tasks.training import shadow_evidence

    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(world.local_path("")))
    for version in (2, 3):
        if latest_comparison(world, uc, version)[1] is None or \
                latest_comparison(world, uc, version)[1]["date"] != LABELLED.isoformat():
            for day in LIVE:
                score_shadow(world, uc, day, {"version": version})
            compare_in_shadow(world, uc, version, LABELLED)
    # The bundled YAML has no approval.shadow: the sensor is done at once.
    done = shadow_evidence({"ti": _TI({"version": 3, "eligible": True}), "params": {}}, "churn")
    assert done.is_done and done.xcom_value["required"] is False
    raw = yaml.safe_load((PROJECT_ROOT / "include" / "config" / "churn.yaml").read_text())
    raw["approval"]["shadow"] = {"min_days": 2, "min_labelled_rows": 200}
    (tmp_path / "churn.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("LIFECYCLE_CONFIG_DIR", str(tmp_path))
    registry = registry_for(world, uc)

    context = {"ti": _TI({"version": 3, "eligible": True}), "params": {}, "run_id": "manual__t",
               "partition_key": LABELLED.isoformat()}
    with pytest.raises(AirflowSkipException, match="lost in shadow and is not put to the SME"):
        shadow_evidence(context, "churn")
    assert [e for e in registry.ledger() if e["event"] == "shadow_lost" and e["version"] == 3]
    alerts = [world.read_json(k) for k in world.list("alerts/sent/")]
    assert any("shadow_lost" in str(a) for a in alerts)

    with pytest.raises(AirflowFailException, match="needs a force_reason"):
        shadow_evidence({**context, "params": {"force_without_shadow": True}}, "churn")
    forced = shadow_evidence({**context, "params": {"force_without_shadow": True,
                                                    "force_reason": "the live window was a holiday week"}}, "churn")
    assert forced.is_done and forced.xcom_value["forced"]
    overridden = [e for e in registry.ledger() if e["event"] == "shadow_overridden"]
    assert overridden[-1]["comment"] == "the live window was a holiday week" and overridden[-1]["version"] == 3

    waiting = shadow_evidence({**context, "ti": _TI({"version": 1, "eligible": True})}, "churn")
    assert waiting.is_done is False  # nothing shadowed for v1 yet: poke again later

    ready = shadow_evidence({**context, "ti": _TI({"version": 2, "eligible": True})}, "churn")
    assert ready.is_done and ready.xcom_value["ready"] and not ready.xcom_value["lost"]
    comparison = world.read_json(ready.xcom_value["comparison_key"])
    text = "\n".join(shadow_section(comparison, ready.xcom_value))
    o = comparison["overall"]
    assert f"on {comparison['labelled_rows']} matured live rows" in text and "| roc_auc |" in text
    assert f"{o['difference_ci'][0]:.4f}" in text and ready.xcom_value["comparison_sha256"][:16] in text


def test_without_a_champion_the_gate_opens_at_once(tmp_path, uc) -> None:
    from include.lifecycle.serve.shadow import shadow_gate
    from include.lifecycle.store import LocalStore

    gate = shadow_gate(LocalStore(tmp_path / "empty"), uc, 1)
    assert gate["required"] and gate["ready"] and "no champion" in gate["reason"]


def test_credit_asks_for_shadow_evidence_and_churn_does_not() -> None:
    from include.lifecycle.config import load_use_case

    assert load_use_case("credit").raw["approval"]["shadow"] == {"min_days": 7, "min_labelled_rows": 300,
                                                                 "max_wait_days": 14, "check_every_minutes": 30}
    assert "shadow" not in load_use_case("churn").raw["approval"]


class _GateTI:
    """What the promote task reads from the run: the SME gate's decision."""

    def __init__(self, decision: dict) -> None:
        self.decision = decision

    def xcom_pull(self, task_ids: str, **_: object) -> dict:
        assert task_ids == "approve"
        return self.decision


def test_promotion_refuses_a_shadow_result_rewritten_after_the_request(world, uc, tmp_path, monkeypatch) -> None:
    """The request binds the live comparison it shows; a rewrite before promotion (a rerun on corrected labels)
    refuses the move with a reason naming the shadow result, and a new request on the current one promotes."""
    import shutil

    from airflow.sdk.exceptions import AirflowFailException

    from include.lifecycle.serve.shadow import shadow_gate
    from lifecycle_ops.approval import apply_decision, bind_shadow

    shutil.copytree(world.local_path(""), tmp_path / "store")  # this test moves the champion: work on a copy
    store = LocalStore(tmp_path / "store")
    monkeypatch.setenv("LIFECYCLE_ARTIFACT_ROOT", str(store.local_path("")))
    for key in [k for k in store.list("shadow/") if "/comparison/" in k]:
        store.local_path(key).unlink()
    for day in LIVE:
        score_shadow(store, uc, day, {"version": 2})
    compare_in_shadow(store, uc, 2, LABELLED)
    registry = registry_for(store, uc)

    def request() -> dict:
        gate = shadow_gate(store, uc, 2)
        assert gate["ready"] and not gate["lost"]
        hashes, shown = bind_shadow(store, registry.evidence_hashes(2), gate)
        assert hashes["shadow_comparison_sha256"] == sha256_bytes(store.read_bytes(gate["comparison_key"]))
        assert f"**{gate['verdict']}**" in shown and hashes["shadow_comparison_sha256"][:16] in shown
        return {"decision": "approved", "version": 2, "actor": "sme_alice", "comment": "live evidence holds",
                "hashes": hashes, "ledger_entry": "e1", "action": "promote", "expected_champion": 1,
                "shadow_comparison_key": gate["comparison_key"]}

    decision = request()
    shown_before = store.read_json(decision["shadow_comparison_key"])
    labels = store.read_frame(layout.labels_key(uc, LABELLED))  # a label correction, then the day's comparison rerun
    labels[uc.target] = labels[uc.target].sample(frac=1.0, random_state=3).to_numpy()
    store.write_frame(layout.labels_key(uc, LABELLED), labels)
    assert compare_in_shadow(store, uc, 2, LABELLED)["overall"] != shown_before["overall"]
    context = {"ti": _GateTI(decision), "run_id": "manual__promote", "params": {}}
    with pytest.raises(AirflowFailException, match="shadow result") as refused:
        apply_decision(context, "approve", "churn")
    assert "shadow_comparison_sha256" in str(refused.value)
    assert registry.alias_version("champion") == 1
    assert "shadow result" in [e for e in registry.ledger() if e["event"] == "promotion_refused"][-1]["comment"]

    renewed = request()  # asked again: the SME now sees (and binds) the rewritten comparison
    assert renewed["hashes"]["shadow_comparison_sha256"] != decision["hashes"]["shadow_comparison_sha256"]
    moved = apply_decision({**context, "ti": _GateTI(renewed)}, "approve", "churn")
    assert moved["event"] == "promoted" and moved["previous"] == 1 and registry.alias_version("champion") == 2
