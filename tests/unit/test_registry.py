"""The registry on a LocalStore and on a real moto S3 server: versions, integrity, aliases, the ledger."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from include.lifecycle.config import PROJECT_ROOT
from include.lifecycle.model.packaging import dumps_model
from include.lifecycle.model.registry import IntegrityError, ModelRegistry, RegistryError, main
from include.lifecycle.store import ArtifactStore, ConflictError


def _evidence(blessed: bool = True) -> dict:
    return {
        "evaluation": {"metrics": {"roc_auc": 0.84}, "primary_metric": "roc_auc", "threshold": 0.15, "rows": 400,
                       "holdout_sha256": "h" * 64, "bootstrap": {"point": 0.84, "low": 0.81, "high": 0.87,
                                                                 "confidence": 0.95}},
        "comparison": {"blessed": blessed, "reasons": ["Blessed: all 3 judged checks passed."], "checks": []},
        "qa": {"passed": True, "checks": {"latency": {"value": 20.0, "bound": 250.0, "passed": True}}},
        "lineage": {"as_of": "2026-01-09", "features": [{"key": "features/churn/date=2026-01-01/features.parquet",
                                                         "sha256": "f" * 64, "rows": 100}],
                    "labels": [], "lineage_sha256": "l" * 64},
        "record": {"name": "logreg", "config_sha256": "c" * 64, "code_version": "unknown"},
    }


def _model_bytes(c: float) -> bytes:
    return dumps_model(LogisticRegression(C=c))[0]


def _register(registry: ModelRegistry, c: float = 1.0, **kw) -> dict:
    return registry.register(_model_bytes(c), **_evidence(), run_id=kw.pop("run_id", f"run-{c}"), **kw)


def test_register_writes_artifacts_first_and_a_complete_manifest(store) -> None:
    registry = ModelRegistry(store, "churn")
    manifest = _register(registry, 0.5, model_card={"markdown": "# card", "html": "<h1>card</h1>"})
    assert manifest["version"] == 1 and registry.versions() == [1]
    for field in ("created_at", "metrics", "evaluation_summary", "blessing", "qa", "lineage", "config_sha256",
                  "code_version", "model_sha256", "runtime_requirements", "artifacts", "lineage_sha256"):
        assert field in manifest, field
    assert set(manifest["artifacts"]) >= {"model.skops", "model_card.md", "model_card.html", "evaluation.json",
                                          "qa.json"}
    for art in manifest["artifacts"].values():
        assert art["key"].startswith("models/churn/versions/1/")
        assert store.sha256(art["key"]) == art["sha256"]
    assert registry.manifest(1) == manifest
    assert registry.load_model(1).C == 0.5
    assert registry.artifact(1, "model_card.md") == b"# card"
    assert [e["event"] for e in registry.ledger()] == ["registered"]
    hashes = registry.evidence_hashes(1)
    assert hashes["model_sha256"] == manifest["model_sha256"] == registry.ledger()[0]["hashes"]["model_sha256"]
    assert hashes["lineage_sha256"] == "l" * 64
    assert registry.find_by_run("run-0.5") == 1 and registry.find_by_run("nope") is None
    with pytest.raises(RegistryError, match="no version 7"):
        registry.manifest(7)


def test_load_model_refuses_a_tampered_artifact(store) -> None:
    registry = ModelRegistry(store, "churn")
    manifest = _register(registry, 1.0)
    key = manifest["artifacts"]["model.skops"]["key"]
    store.write_bytes(key, _model_bytes(99.0))  # a valid model, but not the one that was approved
    with pytest.raises(IntegrityError, match="sha256"):
        registry.load_model(1)
    store.write_bytes(manifest["artifacts"]["evaluation.json"]["key"], b'{"metrics": {"roc_auc": 0.99}}')
    with pytest.raises(IntegrityError):
        registry.evidence_hashes(1)


def test_concurrent_registrations_get_distinct_versions(store) -> None:
    registry = ModelRegistry(store, "churn")
    blobs = {c: _model_bytes(c) for c in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)}
    barrier = threading.Barrier(len(blobs))
    got: dict[float, int] = {}
    errors: list[BaseException] = []

    def worker(c: float) -> None:
        try:
            barrier.wait()
            got[c] = ModelRegistry(store, "churn").register(blobs[c], **_evidence(), run_id=f"r{c}")["version"]
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got.values()) == [1, 2, 3, 4, 5, 6]
    for c, version in got.items():
        assert registry.load_model(version).C == c  # each version holds its own writer's bytes
    # losers cleaned up their uploads: one upload folder per version
    uploads = {k.rsplit("/", 2)[0] for k in store.list("models/churn/versions/") if k.endswith("model.skops")}
    assert len(uploads) == 6
    assert len([e for e in registry.ledger() if e["event"] == "registered"]) == 6


def test_alias_compare_and_swap(store) -> None:
    registry = ModelRegistry(store, "churn")
    for c in (1.0, 2.0, 3.0):
        _register(registry, c)
    registry.set_alias("champion", 1, expected_version=None)
    with pytest.raises(ConflictError, match="expected vNone"):
        registry.set_alias("champion", 2, expected_version=None)
    registry.set_alias("champion", 2, expected_version=1)
    with pytest.raises(ConflictError):
        registry.set_alias("champion", 3, expected_version=1)  # somebody moved it to 2 meanwhile
    assert registry.alias_version("champion") == 2
    assert registry.get_alias("champion")["previous_version"] == 1
    with pytest.raises(RegistryError, match="no version 9"):
        registry.set_alias("champion", 9, expected_version=2)

    # two racing writers that both read v2: exactly one wins
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def mover(target: int) -> None:
        barrier.wait()
        try:
            ModelRegistry(store, "churn").set_alias("champion", target, expected_version=2)
            outcomes.append(f"won {target}")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=mover, args=(v,)) for v in (1, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "conflict" and sorted(outcomes)[1].startswith("won")
    assert registry.alias_version("champion") == int(sorted(outcomes)[1].split()[1])


def test_ledger_is_append_only_and_ordered(store) -> None:
    registry = ModelRegistry(store, "churn")
    _register(registry, 1.0)
    first_key = registry.ledger()[0]["key"]
    before = store.read_bytes(first_key)
    threads = [threading.Thread(target=registry.append, args=("approved", 1, f"sme_{i}"), kwargs={"comment": "ok"})
               for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = registry.ledger()
    assert len(entries) == 6 and entries[0]["event"] == "registered"
    assert {e["actor"] for e in entries[1:]} == {f"sme_{i}" for i in range(5)}  # no append was lost
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    assert store.read_bytes(first_key) == before
    with pytest.raises(ConflictError):
        store.create(first_key, b"{}")  # entries are created, never overwritten
    for entry in entries:
        assert datetime.fromisoformat(entry["at"]).tzinfo is not None
        assert {"event", "version", "actor", "at", "comment", "hashes", "details"} <= set(entry)
    with pytest.raises(RegistryError):
        registry.append("Promoted; rm -rf", 1, "x")


def _tick() -> datetime:
    time.sleep(0.002)
    now = datetime.now(UTC)
    time.sleep(0.002)
    return now


def _promotion_history(registry: ModelRegistry) -> list[tuple[datetime, int | None]]:
    for c in (1.0, 2.0, 3.0):
        _register(registry, c)
    history = [(_tick(), None)]
    registry.promote(1, actor="sme_alice", comment="first")
    history.append((_tick(), 1))
    registry.promote(2, actor="sme_bob", comment="better", approval={"hitl_run": "r2"})
    history.append((_tick(), 2))
    registry.promote(3, actor="sme_alice", comment="even better")
    history.append((_tick(), 3))
    registry.rollback(2, actor="devops", comment="v3 misbehaves")
    history.append((_tick(), 2))
    return history


def test_champion_at_replays_promotions_and_rollbacks(store) -> None:
    registry = ModelRegistry(store, "churn")
    history = _promotion_history(registry)
    for moment, expected in history:
        assert registry.champion_at(moment) == expected
        assert registry.champion_at(moment.isoformat().replace("+00:00", "Z")) == expected
    assert registry.alias_version("champion") == 2
    assert registry.load_model(3).C == 3.0  # a previous champion stays available
    promoted = [e for e in registry.ledger() if e["event"] == "promoted"]
    assert promoted[1]["details"] == {"previous_version": 1, "approval": {"hitl_run": "r2"}}
    assert promoted[1]["hashes"] == registry.evidence_hashes(2)
    # a stale promotion is refused and the refusal is on the record
    with pytest.raises(ConflictError):
        registry.promote(1, actor="sme_bob", expected_champion=3)
    assert registry.ledger()[-1]["event"] == "promotion_refused"
    assert registry.alias_version("champion") == 2
    # a promotion bound to evidence that has changed since it was approved is refused too
    seen = registry.evidence_hashes(3)
    with pytest.raises(IntegrityError, match="evidence changed"):
        registry.promote(3, actor="sme_bob", expected_hashes={**seen, "evaluation_sha256": "0" * 64})
    assert registry.ledger()[-1]["event"] == "promotion_refused"
    assert registry.promote(3, actor="sme_bob", expected_hashes=seen)["hashes"] == seen


def test_cli_answers_champion_at_and_prints_the_ledger(store, capsys) -> None:
    registry = ModelRegistry(store, "churn")
    history = _promotion_history(registry)
    root = str(store.base)
    assert main(["champion-at", "--model", "churn", "--at", history[2][0].isoformat(), "--root", root]) == 0
    assert json.loads(capsys.readouterr().out)["champion_version"] == 2
    before_all = (history[0][0] - timedelta(days=1)).strftime("%Y-%m-%dT%H:%MZ")
    main(["champion-at", "--model", "churn", "--at", before_all, "--root", root])
    assert json.loads(capsys.readouterr().out)["champion_version"] is None
    out = subprocess.run([sys.executable, "-m", "include.lifecycle.model.registry", "ledger", "--model", "churn",
                          "--root", root], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60, check=True)
    events = [e["event"] for e in json.loads(out.stdout)]
    assert events == ["registered"] * 3 + ["promoted"] * 3 + ["rolled_back"]


def _exercise(store: ArtifactStore) -> None:
    registry = ModelRegistry(store, "churn")
    barrier = threading.Barrier(3)
    versions: list[int] = []

    def worker(c: float) -> None:
        barrier.wait()
        versions.append(ModelRegistry(store, "churn").register(_model_bytes(c), **_evidence(), run_id=str(c))
                        ["version"])

    threads = [threading.Thread(target=worker, args=(c,)) for c in (1.0, 2.0, 3.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == [1, 2, 3]
    t0 = _tick()
    registry.promote(1, actor="sme_alice")
    t1 = _tick()
    with pytest.raises(ConflictError):
        registry.set_alias("champion", 2, expected_version=None)
    registry.promote(2, actor="sme_bob", expected_champion=1)
    assert (registry.champion_at(t0), registry.champion_at(t1), registry.champion_at(_tick())) == (None, 1, 2)
    model = registry.load_model(alias="champion")
    assert isinstance(model, LogisticRegression) and np.isfinite(model.C)
    key = registry.manifest(2)["artifacts"]["model.skops"]["key"]
    store.write_bytes(key, _model_bytes(42.0))
    with pytest.raises(IntegrityError):
        registry.load_model(2)


def test_registry_over_s3_on_a_moto_server(s3_store) -> None:
    _exercise(s3_store)
    assert s3_store.list("models/churn/aliases/") == ["models/churn/aliases/champion.json"]
    assert s3_store.uri("models/churn/versions/1/manifest.json").startswith("s3://registry-")


def test_same_behaviour_on_a_local_store(store) -> None:
    _exercise(store)
