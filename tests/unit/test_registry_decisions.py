"""What the registry decides on the way to production, one behaviour a test, on function-scoped stores.

Promotion re-hashes the stored evidence, aliases move only by compare-and-swap, the ledger replays who was
champion at an exact instant, and the manifest says what the SME was shown (blessed, QA, lineage).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest

from include.lifecycle.model.registry import (
    CHAMPION_EVENTS,
    IntegrityError,
    ModelRegistry,
    RegistryError,
    main,
    parse_time,
    registry_for,
    utc_now,
)
from include.lifecycle.store import ConflictError

EVALUATION = {"metrics": {"roc_auc": 0.84, "recall": 0.7}, "primary_metric": "roc_auc", "threshold": 0.15,
              "rows": 400, "holdout_sha256": "h" * 64,
              "bootstrap": {"point": 0.84, "low": 0.81, "high": 0.87, "confidence": 0.95}}
CHAMPION = {"metrics": {"roc_auc": 0.82}}
FAILED = {"kind": "value", "status": "fail", "detail": "recall too low"}
COMPARISON = {"blessed": True, "reasons": ["Blessed: all 3 judged checks passed."], "champion_version": 4,
              "checks": [{"kind": "value", "status": "pass"}, {"kind": "slice", "status": "skipped"}]}
QA = {"passed": True, "checks": {"latency": {"value": 20.0, "bound": 250.0, "passed": True, "unit": "ms"}}}
LINEAGE = {"as_of": "2026-01-09", "features": ["f1"], "labels": ["l1"], "joined_rows": 900, "train_rows": 700,
           "holdout_rows": 200, "lineage_sha256": "l" * 64, "extra": "not in the manifest"}
RECORD = {"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression", "best_params": {"C": 1.0},
          "cv_metric": "roc_auc", "cv_score": 0.83, "config_sha256": "c" * 64, "code_version": "abc123",
          "other": "x"}


def register(registry: ModelRegistry, model: bytes = b"model-1", **changes) -> dict:
    kwargs = {"evaluation": EVALUATION, "comparison": COMPARISON, "qa": QA, "lineage": LINEAGE, "record": RECORD,
              "run_id": "run-1", **changes}
    return registry.register(model, **kwargs)


@pytest.fixture
def registry(store) -> ModelRegistry:
    return ModelRegistry(store, "churn")


def test_the_manifest_says_what_the_sme_is_shown(registry) -> None:
    m = register(registry, champion_evaluation=CHAMPION, requirements={"packages": {"x": "1"}}, actor="trainer")
    assert (m["model"], m["version"], m["created_by"], m["run_id"]) == ("churn", 1, "trainer", "run-1")
    assert m["blessing"] == {"blessed": True, "reasons": COMPARISON["reasons"], "failed_checks": []}
    assert m["qa"] == {"passed": True, "checks": {"latency": {"value": 20.0, "bound": 250.0, "passed": True}}}
    assert m["lineage"] == {k: LINEAGE[k] for k in ("as_of", "features", "labels", "joined_rows", "train_rows",
                                                    "holdout_rows")}
    assert m["lineage_sha256"] == "l" * 64 and m["config_sha256"] == "c" * 64 and m["code_version"] == "abc123"
    assert m["candidate"] == {k: RECORD[k] for k in ("name", "estimator", "best_params", "cv_metric", "cv_score")}
    assert m["metrics"] == EVALUATION["metrics"]
    assert m["evaluation_summary"] == {"primary_metric": "roc_auc", "value": 0.84, "ci": [0.81, 0.87],
                                       "confidence": 0.95, "threshold": 0.15, "holdout_rows": 400,
                                       "holdout_sha256": "h" * 64, "champion_version": 4,
                                       "champion_metrics": {"roc_auc": 0.82}}
    assert m["runtime_requirements"] == {"packages": {"x": "1"}}
    assert abs(parse_time(m["created_at"]) - parse_time(utc_now())) < timedelta(minutes=1)


def test_an_unblessed_failing_candidate_is_recorded_as_such(registry) -> None:
    m = register(registry, comparison={**COMPARISON, "blessed": False, "checks": [FAILED, {"status": "pass"}]},
                 qa={"passed": False, "checks": {}}, record=None)
    assert m["blessing"]["blessed"] is False and m["blessing"]["failed_checks"] == [FAILED]
    assert m["qa"] == {"passed": False, "checks": {}}
    assert m["code_version"] == "unknown" and m["config_sha256"] is None
    assert "training_record.json" not in m["artifacts"] and m["runtime_requirements"] == {}
    entry = registry.ledger()[-1]
    assert entry["event"] == "registered" and entry["details"] == {"blessed": False, "qa_passed": False}
    assert entry["comment"] == "registered from run run-1" and entry["actor"] == "lifecycle"


def test_stored_evidence_is_what_was_registered(registry) -> None:
    register(registry, champion_evaluation=CHAMPION, model_card={"markdown": "# card", "html": "<h1>card</h1>"})
    assert json.loads(registry.artifact(1, "evaluation.json")) == {"candidate": EVALUATION, "champion": CHAMPION,
                                                                   "comparison": COMPARISON}
    assert json.loads(registry.artifact(1, "qa.json")) == QA
    assert json.loads(registry.artifact(1, "lineage.json")) == LINEAGE
    assert json.loads(registry.artifact(1, "training_record.json")) == RECORD
    assert registry.artifact(1, "model.skops") == b"model-1"
    assert registry.artifact(1, "model_card.html") == b"<h1>card</h1>"
    art = registry.manifest(1)["artifacts"]["qa.json"]
    assert art["bytes"] == len(registry.store.read_bytes(art["key"]))
    with pytest.raises(RegistryError, match="has no artifact 'nope.json'"):
        registry.artifact(1, "nope.json")


def test_evidence_hashes_bind_every_piece(registry) -> None:
    m = register(registry)
    hashes = registry.evidence_hashes(1)
    assert hashes == {"manifest_sha256": registry.store.sha256(f"{registry.prefix}/versions/1/manifest.json"),
                      "model_sha256": m["model_sha256"],
                      "evaluation_sha256": m["artifacts"]["evaluation.json"]["sha256"],
                      "qa_sha256": m["artifacts"]["qa.json"]["sha256"], "lineage_sha256": "l" * 64}
    assert registry.ledger()[0]["hashes"] == hashes


@pytest.mark.parametrize("artifact", ["model.skops", "evaluation.json", "qa.json"])
def test_evidence_hashes_verify_the_stored_bytes(registry, artifact) -> None:
    register(registry)
    key = registry.manifest(1)["artifacts"][artifact]["key"]
    registry.store.write_bytes(key, b"{}")
    assert registry.evidence_hashes(1, verify=False)["model_sha256"]  # the recorded hashes, unchecked
    with pytest.raises(IntegrityError, match="sha256 differs"):
        registry.evidence_hashes(1)


@pytest.mark.parametrize("move", ["promote", "rollback"])
def test_promotion_re_hashes_stored_bytes_even_without_expected_hashes(registry, move) -> None:
    register(registry)
    register(registry, b"model-2")
    key = registry.manifest(2)["artifacts"]["qa.json"]["key"]
    registry.store.write_bytes(key, json.dumps({"passed": True, "checks": {}}).encode())
    with pytest.raises(IntegrityError):
        getattr(registry, move)(2, actor="sme_alice")
    assert registry.alias_version("champion") is None
    refused = registry.ledger()[-1]
    assert refused["event"] == "promotion_refused" and refused["version"] == 2
    assert refused["details"]["attempted_event"] == ("promoted" if move == "promote" else "rolled_back")


@pytest.mark.parametrize("move", ["promote", "rollback"])
def test_promotion_and_rollback_check_the_approved_hashes(registry, move) -> None:
    register(registry)
    seen = registry.evidence_hashes(1)
    with pytest.raises(IntegrityError, match=r"evidence changed since approval: \['qa_sha256'\]"):
        getattr(registry, move)(1, actor="sme", expected_hashes={**seen, "qa_sha256": "0" * 64})
    assert registry.alias_version("champion") is None
    entry = getattr(registry, move)(1, actor="sme", comment="ok", expected_hashes=seen, approval={"run": "r"})
    assert entry["event"] == ("promoted" if move == "promote" else "rolled_back")
    assert entry["hashes"] == seen and entry["comment"] == "ok" and entry["actor"] == "sme"
    assert entry["details"] == {"previous_version": None, "approval": {"run": "r"}}
    assert registry.alias_version("champion") == 1 and set(CHAMPION_EVENTS) == {"promoted", "rolled_back"}


def test_a_stale_expected_champion_is_refused_and_recorded(registry) -> None:
    register(registry)
    register(registry, b"model-2")
    registry.promote(1, actor="sme")
    with pytest.raises(ConflictError, match="points to v1, expected vNone"):
        registry.promote(2, actor="sme", expected_champion=None)
    refused = registry.ledger()[-1]
    assert refused["event"] == "promotion_refused" and refused["details"]["expected_champion"] is None
    assert registry.alias_version("champion") == 1
    entry = registry.promote(2, actor="sme", expected_champion=1)
    assert entry["details"]["previous_version"] == 1
    alias = registry.get_alias("champion")
    assert (alias["version"], alias["previous_version"], alias["set_by"]) == (2, 1, "sme")


def test_champion_at_the_exact_instant_of_a_promotion(registry) -> None:
    register(registry)
    register(registry, b"model-2")
    first = registry.promote(1, actor="sme")
    second = registry.rollback(2, actor="sme")
    t1, t2 = parse_time(first["at"]), parse_time(second["at"])
    assert registry.champion_at(t1 - timedelta(microseconds=1)) is None
    assert registry.champion_at(t1) == 1  # the promotion instant already counts
    assert registry.champion_at(t2 - timedelta(microseconds=1)) == 1
    assert registry.champion_at(t2) == 2
    assert registry.champion_at(first["at"].replace("+00:00", "Z")) == 1
    assert registry.champion_at(t2.replace(tzinfo=None)) == 2  # naive = UTC


def test_refusals_and_registrations_never_count_as_champion(registry) -> None:
    register(registry)
    registry.append("promotion_refused", 1, "sme")
    registry.append("approved", 1, "sme")
    assert registry.champion_at(parse_time(utc_now()) + timedelta(days=1)) is None


def test_aliases_lists_every_alias(registry) -> None:
    register(registry)
    register(registry, b"model-2")
    assert registry.aliases() == {}
    registry.promote(2, actor="sme")
    registry.set_alias("shadow", 1)
    registry.store.write_bytes(f"{registry.prefix}/aliases/README.txt", b"ignored")
    assert registry.aliases() == {"champion": 2, "shadow": 1}
    with pytest.raises(RegistryError, match="is not a valid name"):
        registry.set_alias("Bad Alias", 1)
    with pytest.raises(RegistryError, match="has no version 9"):
        registry.set_alias("shadow", 9)


def test_set_alias_compare_and_swap(registry) -> None:
    register(registry)
    register(registry, b"model-2")
    doc = registry.set_alias("canary", 1, expected_version=None, actor="ops")
    assert (doc["alias"], doc["version"], doc["previous_version"], doc["set_by"]) == ("canary", 1, None, "ops")
    with pytest.raises(ConflictError):
        registry.set_alias("canary", 2, expected_version=None)
    assert registry.set_alias("canary", 2, expected_version=1)["previous_version"] == 1
    assert registry.set_alias("canary", 1)["version"] == 1  # no expectation: whatever it points to


def test_registry_for_uses_the_model_name_else_the_use_case(store) -> None:
    assert registry_for(store, SimpleNamespace(name="churn", raw={})).name == "churn"
    named = registry_for(store, SimpleNamespace(name="churn", raw={"model_name": "churn_model"}))
    assert named.name == "churn_model" and named.prefix.startswith("models/churn_model") and named.store is store
    with pytest.raises(RegistryError, match="not key-safe"):
        ModelRegistry(store, "bad/name")


def test_versions_latest_and_find_by_run(registry) -> None:
    assert registry.versions() == [] and registry.latest_version() is None
    register(registry, run_id="a")
    register(registry, b"model-2", run_id="b")
    register(registry, b"model-3", run_id="a")  # a retried run: the newest version answers
    assert registry.versions() == [1, 2, 3] and registry.latest_version() == 3
    assert registry.find_by_run("a") == 3 and registry.find_by_run("b") == 2 and registry.find_by_run("c") is None


def test_ledger_entries_and_event_names(registry) -> None:
    entry = registry.append("approved", 3, "sme_alice", comment="fine", hashes={"h": "1"}, details={"d": 2})
    assert {k: entry[k] for k in ("model", "seq", "event", "version", "actor", "comment", "hashes", "details")} == \
        {"model": "churn", "seq": 1, "event": "approved", "version": 3, "actor": "sme_alice", "comment": "fine",
         "hashes": {"h": "1"}, "details": {"d": 2}}
    second = registry.append("note", None, "ops")
    assert second["seq"] == 2 and second["version"] is None and second["hashes"] == {} and second["details"] == {}
    assert [e["seq"] for e in registry.ledger()] == [1, 2]
    with pytest.raises(RegistryError, match="not a valid name"):
        registry.append("Bad-Event", 1, "x")


def test_the_cli_lists_versions_and_aliases_and_names_its_commands(registry, capsys) -> None:
    register(registry)
    registry.promote(1, actor="sme")
    root = str(registry.store.base)
    assert main(["versions", "--model", "churn", "--root", root]) == 0
    assert json.loads(capsys.readouterr().out) == {"model": "churn", "versions": [1], "aliases": {"champion": 1}}
    main(["ledger", "--model", "churn", "--root", root])
    ledger = json.loads(capsys.readouterr().out)
    assert [e["event"] for e in ledger] == ["registered", "promoted"]
    assert set(ledger[0]) == {"seq", "at", "event", "version", "actor", "comment"}
    at = registry.ledger()[-1]["at"]
    main(["champion-at", "--model", "churn", "--root", root, "--at", at])
    assert json.loads(capsys.readouterr().out) == {"model": "churn", "at": parse_time(at).isoformat(),
                                                   "champion_version": 1}


def _usage(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit):
        main(argv)
    return capsys.readouterr().out


def test_the_cli_says_what_each_command_and_option_is_for(capsys) -> None:
    top = _usage(capsys, ["--help"])
    assert top.startswith("usage: python -m include.lifecycle.model.registry [-h]")
    assert "\nRead the model registry: champion at a time, the ledger.\n" in top
    for line in (r"\s+champion-at\s+which version was champion at a time\n", r"\s+ledger\s+print the ledger, oldest first\n",
                 r"\s+versions\s+list versions and aliases\n"):
        assert re.search(line, top), line
    sub = _usage(capsys, ["champion-at", "--help"])
    assert re.search(r"\s--at AT\s+ISO time, e.g. 2026-01-05T00:00Z\n", sub)
    assert re.search(r"\s--root ROOT\s+artifact store root \(default \$LIFECYCLE_ARTIFACT_ROOT\)\n", sub)
    assert "--at" not in _usage(capsys, ["ledger", "--help"])


@pytest.mark.parametrize(("argv", "missing"), [
    ([], "command"), (["ledger"], "--model"), (["champion-at", "--model", "churn"], "--at")])
def test_the_cli_refuses_missing_arguments(capsys, argv, missing) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "the following arguments are required: " + missing in capsys.readouterr().err


def _skops() -> bytes:
    from sklearn.linear_model import LogisticRegression

    from include.lifecycle.model.packaging import dumps_model

    return dumps_model(LogisticRegression(C=0.25))[0]


def test_load_model_by_version_or_alias_only_with_matching_bytes(registry) -> None:
    from include.lifecycle.model.packaging import runtime_requirements

    register(registry, _skops(), requirements=runtime_requirements())
    assert registry.load_model(1).C == 0.25
    with pytest.raises(RegistryError, match="^load_model needs a version or an alias$"):
        registry.load_model()
    with pytest.raises(RegistryError, match="model 'churn' has no 'champion' alias"):
        registry.load_model(alias="champion")
    registry.promote(1, actor="sme")
    assert registry.load_model(alias="champion").C == 0.25
    key = registry.manifest(1)["artifacts"]["model.skops"]["key"]
    registry.store.write_bytes(key, _skops()[:-1] + b"x")
    with pytest.raises(IntegrityError, match="model 'churn' v1: model.skops sha256 differs from the manifest"):
        registry.load_model(1)


def test_load_model_warns_when_built_with_other_packages(registry, caplog) -> None:
    from include.lifecycle.model.packaging import runtime_requirements

    have = runtime_requirements()["packages"]
    register(registry, _skops(), requirements={"packages": {**have, "scikit-learn": "0.0.1"}})
    register(registry, _skops(), requirements={"packages": have})
    with caplog.at_level("WARNING", logger="include.lifecycle.model.registry"):
        registry.load_model(2)
        assert caplog.records == []
        registry.load_model(1)
    (record,) = caplog.records
    assert record.getMessage() == (f"model churn v1 was built with other package versions: "
                                   f"{{'scikit-learn': ('0.0.1', '{have['scikit-learn']}')}}")


def test_parse_time_keeps_offsets_and_takes_naive_as_utc() -> None:
    from datetime import UTC, datetime

    assert parse_time("2026-01-05T01:00:00+01:00") == datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    assert parse_time(" 2026-01-05T00:00:00Z ") == datetime(2026, 1, 5, tzinfo=UTC)
    assert parse_time("2026-01-05T00:00:00").tzinfo == UTC
    aware = datetime(2026, 1, 5, 3, tzinfo=UTC)
    assert parse_time(aware) is aware and parse_time(datetime(2026, 1, 5)) == datetime(2026, 1, 5, tzinfo=UTC)


def test_a_refused_promotion_records_who_and_why(registry) -> None:
    register(registry)
    key = registry.manifest(1)["artifacts"]["qa.json"]["key"]
    registry.store.write_bytes(key, b"{}")
    with pytest.raises(IntegrityError) as exc:
        registry.promote(1, actor="sme_alice")
    refused = registry.ledger()[-1]
    assert (refused["actor"], refused["comment"]) == ("sme_alice", str(exc.value))
    assert refused["details"] == {"attempted_event": "promoted", "expected_champion": None}


def test_defaults_of_promotion_alias_and_ledger_entries(registry) -> None:
    register(registry)
    assert registry.promote(1, actor="sme")["comment"] == ""
    assert registry.rollback(1, actor="sme")["comment"] == ""
    doc = registry.set_alias("shadow", 1)
    assert doc["set_by"] == "lifecycle" and abs(parse_time(doc["set_at"]) - parse_time(utc_now())) < timedelta(minutes=1)
    for entry in registry.ledger():
        assert entry["key"].startswith(f"{registry.prefix}/ledger/") and entry["key"].endswith(f"{entry['id']}.json")


def test_each_upload_has_its_own_folder_and_the_card_is_stored(registry) -> None:
    m = register(registry, model_card={"markdown": "# card é", "html": "<h1>card é</h1>"})
    assert registry.artifact(1, "model_card.md") == "# card é".encode()
    for name, art in m["artifacts"].items():
        assert re.fullmatch(rf"models/churn/versions/1/[0-9a-f]{{12}}/{re.escape(name)}", art["key"]), art["key"]
    assert len({a["key"].rsplit("/", 1)[0] for a in m["artifacts"].values()}) == 1


def test_registration_gives_up_when_every_version_is_taken(tmp_path) -> None:
    from include.lifecycle.store import LocalStore

    class Taken(LocalStore):
        def create(self, key, data):
            if key.endswith("manifest.json"):
                raise ConflictError(f"{key} exists")
            super().create(key, data)

    registry = ModelRegistry(Taken(tmp_path / "taken"), "churn")
    with pytest.raises(RegistryError, match=r"^model 'churn': no free version after 50 attempts$"):
        register(registry)
    assert registry.store.list(f"{registry.prefix}/versions/") == []  # every attempt's uploads removed


def test_versions_are_per_model(store) -> None:
    churn, credit = ModelRegistry(store, "churn"), ModelRegistry(store, "credit")
    register(churn)
    register(credit)
    register(credit, b"model-2")
    assert churn.versions() == [1] and credit.versions() == [1, 2]


def test_a_registration_with_sparse_evidence_records_empty_fields_not_missing_ones(registry) -> None:
    m = register(registry, evaluation={"primary_metric": "roc_auc"}, comparison={"blessed": False},
                 qa={"passed": False}, record=None)
    assert m["blessing"] == {"blessed": False, "reasons": [], "failed_checks": []}
    assert m["qa"] == {"passed": False, "checks": {}} and m["metrics"] == {}
    assert m["evaluation_summary"]["value"] is None and m["evaluation_summary"]["ci"] == [None, None]
    assert m["evaluation_summary"]["primary_metric"] == "roc_auc"


def test_a_model_registered_without_requirements_loads_without_a_warning(registry, caplog) -> None:
    register(registry, _skops())
    with caplog.at_level("WARNING", logger="include.lifecycle.model.registry"):
        assert registry.load_model(1).C == 0.25
    assert caplog.records == []


def test_model_names_may_hold_capitals_digits_dots_and_dashes(store) -> None:
    registry = ModelRegistry(store, "Churn-V2.1_eu")
    assert register(registry)["model"] == "Churn-V2.1_eu" and registry.versions() == [1]


def test_a_ledger_entry_has_its_own_id_a_utc_time_and_an_empty_default_comment(registry) -> None:
    entry = registry.append("note", None, "ops")
    assert entry["comment"] == "" and re.fullmatch(r"[0-9a-f]{32}", entry["id"])
    assert entry["at"].endswith("+00:00") and utc_now().endswith("+00:00")
    (stored,) = registry.ledger()
    assert stored["key"] == f"{registry.prefix}/ledger/00000001-{entry['id']}.json"
    assert {k: v for k, v in stored.items() if k != "key"} == entry


def test_a_ledger_that_cannot_be_appended_to_says_so(tmp_path) -> None:
    from include.lifecycle.store import LocalStore

    class Busy(LocalStore):
        def create(self, key, data):
            if "/ledger/" in key:
                raise ConflictError("taken")
            super().create(key, data)

    registry = ModelRegistry(Busy(tmp_path / "busy"), "churn")
    with pytest.raises(RegistryError) as exc:
        registry.append("note", None, "ops")
    assert str(exc.value) == ("model 'churn': could not append to the ledger (the ledger of 'churn': gave up "
                              "after 20 concurrent updates (taken))")


def _racing_store(path, rivals: int):
    """A LocalStore whose first manifest create lets ``rivals`` other writers register first (a lost race)."""
    from include.lifecycle.store import LocalStore

    class Racing(LocalStore):
        pending = rivals

        def create(self, key, data):
            if key.endswith("/manifest.json") and self.pending:
                count, self.pending = self.pending, 0
                rival = ModelRegistry(LocalStore(self.base), "churn")
                for i in range(count):
                    register(rival, f"rival-{i}".encode(), run_id=f"rival-{i}")
            super().create(key, data)

    return Racing(path)


def test_a_registration_that_lost_the_race_takes_the_next_version_and_leaves_the_winner_intact(tmp_path) -> None:
    registry = ModelRegistry(_racing_store(tmp_path / "race", 1), "churn")
    m = register(registry, b"ours", run_id="ours")
    assert m["version"] == 2 and registry.versions() == [1, 2]
    assert registry.artifact(1, "model.skops") == b"rival-0" and registry.artifact(2, "model.skops") == b"ours"
    assert len({k.rsplit("/", 1)[0] for k in registry.store.list(f"{registry.prefix}/versions/1/")}) == 2
    assert [(e["event"], e["version"], e["comment"]) for e in registry.ledger()] == [
        ("registered", 1, "registered from run rival-0"), ("registered", 2, "registered from run ours")]


def test_a_registration_that_lost_to_two_rivals_skips_both_versions_at_once(tmp_path) -> None:
    registry = ModelRegistry(_racing_store(tmp_path / "race", 2), "churn")
    assert register(registry, b"ours", max_attempts=2)["version"] == 3  # v1 lost, then straight to v3
    assert registry.versions() == [1, 2, 3]


def test_a_version_taken_but_not_yet_listed_is_skipped_not_retried(tmp_path) -> None:
    from include.lifecycle.store import LocalStore

    class Unlisted(LocalStore):  # v1's manifest exists elsewhere: create refuses it, the listing does not show it
        def create(self, key, data):
            if key.endswith("/versions/1/manifest.json"):
                raise ConflictError(f"{key} exists")
            super().create(key, data)

    registry = ModelRegistry(Unlisted(tmp_path / "unlisted"), "churn")
    assert register(registry)["version"] == 2 and registry.versions() == [2]
    assert registry.store.list(f"{registry.prefix}/versions/1/") == []  # the lost attempt's uploads removed


def test_the_cli_prints_indented_json(registry, capsys) -> None:
    register(registry)
    main(["versions", "--model", "churn", "--root", str(registry.store.base)])
    assert capsys.readouterr().out == '{\n  "model": "churn",\n  "versions": [\n    1\n  ],\n  "aliases": {}\n}\n'
