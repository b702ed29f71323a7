"""The console and its API inside the running Airflow: mounted by the plugin, authenticated by Airflow itself.

Reuses the session's champion (test_1 or test_3 promote one); run alone, it loads three days and trains and
approves one over REST first. No dependency override here: tokens come from ``POST /auth/token``.
"""

from __future__ import annotations

import math
import time

import pytest
import requests

from tests.e2e.conftest import dag_id
from tests.e2e.test_3_browser_approval import DAYS, train_to_gate, training_data  # noqa: F401 - fixture reused

pytestmark = pytest.mark.e2e

USE_CASE = "churn"
TRAINING = dag_id("model_training")
ACQUISITION = dag_id("data_acquisition")
TERMINAL = {"success", "failed"}


def _uc():
    from include.lifecycle.config import load_use_case

    return load_use_case(USE_CASE)


@pytest.fixture(scope="module")
def champion(airflow, store, training_data):  # noqa: F811 - the fixture imported above
    """The champion version; trains and approves one (REST, as sme_alice) when the session has none yet."""
    from include.lifecycle.model.registry import registry_for

    registry = registry_for(store, _uc())
    if registry.alias_version("champion") is None:
        run_id = train_to_gate(airflow)["run_id"]
        deadline = time.monotonic() + 600
        # Answer every request of the run: under load Airflow 3.3 can retry a gate whose answer raced its
        # parking (see AirflowClient.answer), and the retry asks again.
        while airflow.run(TRAINING, run_id)["state"] not in TERMINAL and time.monotonic() < deadline:
            for request in airflow.pending_approvals(TRAINING, run_id):
                airflow.answer(TRAINING, run_id, request["task_instance"]["task_id"], "Approve",
                               "e2e console: first champion", user="sme_alice")
            time.sleep(5)
        assert airflow.wait_run(TRAINING, run_id, timeout=60) == "success", airflow.diagnose(TRAINING, run_id)
    return registry.alias_version("champion")


@pytest.fixture(scope="module")
def console(platform):
    """GET/POST under /lifecycle as a user (a real JWT from POST /auth/token), or anonymously."""
    tokens: dict[str, str] = {}

    def call(method: str, path: str, user: str | None = "admin", **kwargs):
        headers = kwargs.pop("headers", {})
        if user:
            tokens.setdefault(user, platform.token(user))
            headers["Authorization"] = f"Bearer {tokens[user]}"
        return requests.request(method, f"{platform.base_url}/lifecycle{path}", headers=headers, timeout=60,
                                allow_redirects=False, **kwargs)

    return call


def test_the_plugin_is_loaded_with_its_views_and_links(airflow):
    plugins = {p["name"]: p for p in airflow.ok("GET", "/plugins")["plugins"]}
    plugin = plugins["lifecycle_console"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/lifecycle"]
    assert {v["destination"] for v in plugin["external_views"]} == {"nav", "dag", "dag_run", "task_instance"}
    links = " ".join(plugin["global_operator_extra_links"])
    for cls in ("ValidationReportLink", "QuarantineLink", "DataProfileLink", "ModelCardLink", "DriftReportLink"):
        assert cls in links, plugin["global_operator_extra_links"]


def test_no_credentials_401_a_forged_token_403(console, champion):
    for path in ("/", f"/uc/{USE_CASE}/registry", "/api/v1/use-cases", f"/api/v1/use-cases/{USE_CASE}/champion"):
        assert console("GET", path, user=None).status_code == 401, path
        forged = console("GET", path, user=None, headers={"Authorization": "Bearer eyJhbGciOiJIUzUxMiJ9.e30.x"})
        assert forged.status_code == 403, path
    assert console("POST", f"/api/v1/use-cases/{USE_CASE}/predict", user=None, json={"rows": []}).status_code == 401


def test_registry_api_answers_what_the_registry_holds(console, store, champion):
    from include.lifecycle.model.registry import registry_for

    registry = registry_for(store, _uc())
    assert USE_CASE in console("GET", "/api/v1/use-cases", user="sme_alice").json()
    versions = console("GET", f"/api/v1/use-cases/{USE_CASE}/versions").json()
    assert [v["version"] for v in versions] == sorted(registry.versions(), reverse=True)
    assert console("GET", f"/api/v1/use-cases/{USE_CASE}/champion").json()["champion_version"] == champion
    [promoted, *_] = [e for e in reversed(registry.ledger()) if e["event"] in ("promoted", "rolled_back")]
    at = console("GET", f"/api/v1/use-cases/{USE_CASE}/champion-at", params={"at": promoted["at"]}).json()
    assert at["champion_version"] == registry.champion_at(promoted["at"])
    ledger = console("GET", f"/api/v1/use-cases/{USE_CASE}/ledger").json()
    assert len(ledger) == len(registry.ledger())
    card = console("GET", f"/api/v1/use-cases/{USE_CASE}/versions/{champion}/model-card")
    assert card.status_code == 200 and card.text.startswith("#")
    assert console("GET", "/openapi.json", user=None).json()["info"]["title"].startswith("ML lifecycle")


def test_predict_matches_batch_scoring_and_names_bad_fields(console, store, champion):
    from include.lifecycle.layout import features_key
    from include.lifecycle.model.registry import registry_for
    from include.lifecycle.serve.scoring import decision_threshold, label_values, score_frame_chunks

    uc = _uc()
    frame = store.read_frame(features_key(uc, DAYS[-1])).head(25)
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame[[uc.id_column, *uc.columns]].to_dict("records")]
    answer = console("POST", f"/api/v1/use-cases/{USE_CASE}/predict", json={"rows": rows}, user="sme_alice")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    registry = registry_for(store, uc)
    assert body["model_version"] == champion and body["model_sha256"] == registry.manifest(champion)["model_sha256"]
    [batch] = list(score_frame_chunks(registry.load_model(champion), [frame], id_column=uc.id_column,
                                      threshold=decision_threshold(registry, champion), labels=label_values(uc),
                                      model_version=champion))
    assert [p["id"] for p in body["predictions"]] == batch[uc.id_column].tolist()
    assert [p["label"] for p in body["predictions"]] == batch["predicted_label"].tolist()
    assert max(abs(p["score"] - s) for p, s in zip(body["predictions"], batch["score"], strict=True)) < 1e-12

    bad = console("POST", f"/api/v1/use-cases/{USE_CASE}/predict",
                  json={"rows": [{**rows[0], "tenure": "long", "contract": "Lifetime"}]})
    assert bad.status_code == 422
    assert {tuple(d["loc"][-2:]) for d in bad.json()["detail"]} == {(0, "tenure"), (0, "contract")}
    pinned = console("POST", f"/api/v1/use-cases/{USE_CASE}/predict", json={"rows": rows[:1], "version": 10_000})
    assert pinned.status_code == 404


def test_unknown_use_cases_and_traversal_are_404(console, champion):
    for path in ("/uc/nope/registry", f"/uc/{USE_CASE}/data/..%2F..%2Fmodels/report.html",
                 f"/uc/{USE_CASE}/monitoring/%2e%2e/report.html", "/static/..%2F..%2Fapp.py",
                 f"/uc/{USE_CASE}/models/10000/card.html", "/api/v1/use-cases/nope/versions"):
        assert console("GET", path).status_code == 404, path


def test_a_task_extra_link_leads_to_its_sandboxed_report(airflow, console, champion):
    run = next(r for r in airflow.runs(ACQUISITION) if r["state"] == "success")
    tis = airflow.task_instances(ACQUISITION, run["dag_run_id"])
    assert "validate" in {t["task_id"] for t in tis}
    links = airflow.ok("GET", f"/dags/{ACQUISITION}/dagRuns/{run['dag_run_id']}/taskInstances/validate/links")
    url = links["extra_links"]["Validation report"]
    assert url and "/lifecycle/task/" in url and url.endswith("?go=validation_report"), links
    assert links["extra_links"]["Model card"] is None, links  # not a training task: greyed out
    hop = requests.get(url, headers={"Authorization": f"Bearer {airflow.platform.token('data_engineer')}"},
                       allow_redirects=False, timeout=60)
    assert hop.status_code == 303, hop.text
    report = console("GET", hop.headers["location"].removeprefix("/lifecycle"), user="data_engineer")
    assert report.status_code == 200 and "sandbox allow-scripts" in report.headers["content-security-policy"]
