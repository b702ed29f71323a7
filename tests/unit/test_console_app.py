"""The console app over HTTP (fastapi.testclient), mounted at /lifecycle as the API server mounts it.

Authentication is Airflow's own: a real SimpleAuthManager issues the JWTs and the real
``airflow.api_fastapi.core_api.security.get_user`` reads them (Bearer header or ``_token`` cookie), so these
tests pin the internal API the console depends on. Only the metadata-DB lookups (a run's partition, the
latest runs) and the store are swapped for local ones.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from include.lifecycle.config import load_use_case
from include.lifecycle.layout import features_key
from include.lifecycle.model.features import clean
from include.lifecycle.serve.scoring import score_partition
from include.lifecycle.store import LocalStore
from tests.unit.console_store import DAY, EVIL, LIVE, build

UC = "churn"


@pytest.fixture(scope="module")
def small(churn_uc, override):
    return override(churn_uc, candidates=[{"name": "logreg", "estimator": "sklearn.linear_model.LogisticRegression",
                                           "params": {"max_iter": 500}, "search": {"C": [1.0]}}],
                    search_cv_folds=2, **{"evaluation.bootstrap": {"samples": 20, "confidence": 0.95, "seed": 7}})


@pytest.fixture(scope="module")
def rows(churn_uc) -> pd.DataFrame:
    return pd.read_csv(churn_uc.data_file, dtype={churn_uc.id_column: str}).sample(n=1100, random_state=11)


@pytest.fixture(scope="module")
def template(tmp_path_factory, small, rows):
    root = tmp_path_factory.mktemp("console-template")
    build(LocalStore(root), small, rows)
    return root


@pytest.fixture
def store(template, tmp_path) -> LocalStore:
    shutil.copytree(template, tmp_path / "store")
    return LocalStore(tmp_path / "store")


@pytest.fixture(scope="module")
def manager():
    """Airflow's SimpleAuthManager and the one metadata table JWT validation reads (revoked tokens)."""
    from airflow import settings
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.models.revoked_token import RevokedToken

    RevokedToken.__table__.create(settings.engine, checkfirst=True)
    return create_auth_manager()


@pytest.fixture(scope="module")
def tokens(manager) -> dict[str, str]:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return {name: manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))
            for name, role in (("alice", "user"), ("viewer", "viewer"), ("nobody", None))}


@pytest.fixture
def client(store, manager, tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lifecycle_ops.console import deps
    from lifecycle_ops.console.app import URL_PREFIX, create_app

    app = create_app()
    inbox = tmp_path / "inbox"
    app.dependency_overrides.update({
        deps.get_store: lambda: store,
        deps.partition_of_run: lambda: (lambda dag_id, run_id: DAY),
        deps.latest_runs: lambda: (lambda dag_ids: {dag_ids[0]: {"run_id": "r1", "state": "success"}}),
        deps.inbox_folder: lambda: inbox,
    })
    deps._PREDICTORS.clear()
    parent = FastAPI()
    parent.mount(URL_PREFIX, app)
    with TestClient(parent) as http:
        http.app_under_test = app
        yield http


def get(client, path, user="alice", **kw):
    headers = kw.pop("headers", {})
    if user:
        headers["Authorization"] = f"Bearer {client.tokens[user]}"
    return client.get(f"/lifecycle{path}", headers=headers, **kw)


@pytest.fixture(autouse=True)
def _tokens(request, tokens):
    if "client" in request.fixturenames:
        request.getfixturevalue("client").tokens = tokens


PAGES = ["/", f"/uc/{UC}/", f"/uc/{UC}/registry", f"/uc/{UC}/registry?at=2100-01-01T00:00:00Z",
         f"/uc/{UC}/models/1", f"/uc/{UC}/models/1/evaluation", f"/uc/{UC}/models/2", f"/uc/{UC}/models/2/evaluation",
         f"/uc/{UC}/compare?a=2&b=1", f"/uc/{UC}/data",
         f"/uc/{UC}/data/{DAY}", f"/uc/{UC}/monitoring", f"/uc/{UC}/experiments", "/alerts",
         f"/task/{UC}__data_acquisition/r1/validate", f"/run/{UC}__model_monitoring/r1"]
REPORTS = [f"/uc/{UC}/models/1/card.html", f"/uc/{UC}/data/{DAY}/report.html",
           f"/uc/{UC}/monitoring/{DAY}/report.html", f"/uc/{UC}/data/{DAY}/profile.html",
           f"/uc/{UC}/experiments/run-2/profile.html"]
API = ["/api/v1/use-cases", f"/api/v1/use-cases/{UC}/versions", f"/api/v1/use-cases/{UC}/versions/1",
       f"/api/v1/use-cases/{UC}/versions/1/model-card", f"/api/v1/use-cases/{UC}/versions/2/shadow",
       f"/api/v1/use-cases/{UC}/champion",
       f"/api/v1/use-cases/{UC}/champion-at?at=2100-01-01T00:00:00Z", f"/api/v1/use-cases/{UC}/ledger",
       f"/uc/{UC}/data/{DAY}/quarantine.csv"]


@pytest.mark.parametrize("path", PAGES + REPORTS + API)
def test_every_route_answers_a_reader_and_refuses_anyone_else(client, path) -> None:
    assert get(client, path).status_code == 200, get(client, path).text[:500]
    assert get(client, path, user=None).status_code == 401
    assert get(client, path, user="nobody").status_code in (403, 200 if path in ("/", "/alerts",
                                                                                 "/api/v1/use-cases") else 403)
    bad = get(client, path, user=None, headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 403


def test_the_ui_cookie_is_accepted_like_a_bearer_token(client, tokens) -> None:
    client.cookies.set("_token", tokens["viewer"])
    try:
        answer = client.get(f"/lifecycle/uc/{UC}/registry")
    finally:
        client.cookies.clear()
    assert answer.status_code == 200
    assert "signed in as viewer" in answer.text


def test_a_user_without_access_sees_no_use_case(client) -> None:
    assert get(client, "/api/v1/use-cases", user="nobody").json() == []
    assert get(client, "/api/v1/use-cases").json() == ["churn", "credit"]


def test_access_is_decided_per_use_case_by_the_auth_manager(client) -> None:
    from lifecycle_ops.console.auth import auth_manager

    class OnlyCredit:
        def is_authorized_dag(self, *, method, user, details=None, access_entity=None):
            return method == "GET" and str(details.id).startswith("credit__")

    client.app_under_test.dependency_overrides[auth_manager] = OnlyCredit
    assert get(client, f"/api/v1/use-cases/{UC}/versions").status_code == 403
    assert get(client, "/api/v1/use-cases").json() == ["credit"]
    assert get(client, "/api/v1/use-cases/credit/versions").json() == []


@pytest.mark.parametrize("path", [
    f"/uc/{UC}/data/..%2F..%2Fmodels/report.html", f"/uc/{UC}/data/2026-13-01/report.html",
    f"/uc/{UC}/data/%2e%2e/report.html", f"/uc/{UC}/monitoring/..%2F..%2Fetc/report.html",
    "/uc/..%2Fmodels/registry", "/uc/nope/registry", f"/uc/{UC}/models/99", f"/uc/{UC}/models/99/card.html",
    "/static/..%2Fapp.py", "/static/deps.py", f"/uc/{UC}/data/2026-01-09", f"/uc/{UC}/data/2026-01-09/quarantine.csv",
    f"/api/v1/use-cases/{UC}/versions/42", "/api/v1/use-cases/nope/ledger", f"/api/v1/use-cases/{UC}/versions/1/shadow",
    f"/task/{UC}__model_training/r1/train?go=model_card", "/task/other_dag/r1/t",
])
def test_unknown_or_traversing_paths_are_404(client, path) -> None:
    assert get(client, path).status_code == 404


def test_reports_are_sandboxed_and_pages_escape_every_value(client) -> None:
    answer = get(client, f"/uc/{UC}/data/{DAY}/report.html")
    csp = answer.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts") and "allow-same-origin" not in csp
    assert "connect-src 'none'" in csp
    page = get(client, f"/uc/{UC}/data/{DAY}")
    assert EVIL not in page.text and "&lt;script&gt;alert(" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    registry = get(client, f"/uc/{UC}/registry")
    assert EVIL not in registry.text and "first champion &lt;script&gt;" in registry.text
    assert EVIL not in get(client, "/alerts").text


def test_registry_page_shows_versions_champion_timeline_and_champion_at(client) -> None:
    page = get(client, f"/uc/{UC}/registry").text
    assert 'id="v1"' in page and 'id="v2"' in page
    assert '<strong class="alias">champion</strong>' in page
    assert '<td class="actor">sme_alice</td>' in page
    before = get(client, f"/uc/{UC}/registry?at=2000-01-01T00:00:00Z").text
    assert "no champion</span>" not in before and "no champion" in before
    assert f'href="/lifecycle/uc/{UC}/models/1">v1</a> at' in get(client, f"/uc/{UC}/registry?at=2100-01-01T00:00Z").text
    assert get(client, f"/uc/{UC}/registry?at=yesterday").status_code == 422


def test_overview_counts_quarantine_and_shows_open_approval_and_drift(client) -> None:
    page = get(client, f"/uc/{UC}/").text
    assert "3 rows" in page and "v2 · promote" in page and "dataset_drift" in page


def test_quarantined_rows_download_as_csv_with_reasons(client) -> None:
    answer = get(client, f"/uc/{UC}/data/{DAY}/quarantine.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    frame = pd.read_csv(pd.io.common.StringIO(answer.text))
    assert len(frame) == 3 and frame["_reasons"].iloc[0] == "tenure: -5 < 0"


def test_monitoring_page_charts_with_plotly_served_locally(client) -> None:
    page = get(client, f"/uc/{UC}/monitoring").text
    assert page.count("data-figure=") == 3 and "/lifecycle/static/plotly.min.js" in page
    assert "cdn" not in page.lower()
    js = get(client, "/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and js.headers["content-type"].startswith("text/j")


def test_task_tab_links_and_redirects_to_what_the_run_produced(client) -> None:
    page = get(client, f"/task/{UC}__data_acquisition/r1/validate").text
    assert f"/lifecycle/uc/{UC}/data/{DAY}/report.html" in page
    go = get(client, f"/task/{UC}__model_monitoring/r1/monitor?go=drift_report", follow_redirects=False)
    assert go.status_code == 303 and go.headers["location"] == f"/lifecycle/uc/{UC}/monitoring/{DAY}/report.html"
    card = get(client, f"/task/{UC}__model_training/run-2/register?go=model_card", follow_redirects=False)
    assert card.headers["location"] == f"/lifecycle/uc/{UC}/models/2"
    profile = get(client, f"/task/{UC}__data_acquisition/r1/profile?go=profile", follow_redirects=False)
    assert profile.headers["location"] == f"/lifecycle/uc/{UC}/data/{DAY}/profile.html"
    assert get(client, profile.headers["location"][len("/lifecycle"):]).text.count(f"EDA profile {DAY}") == 1
    trained = get(client, f"/task/{UC}__model_training/run-2/profile_training_set?go=training_profile",
                  follow_redirects=False)
    assert trained.headers["location"] == f"/lifecycle/uc/{UC}/experiments/run-2/profile.html"
    # run-1 has no stored profile, so its task page offers none rather than a dead link
    assert "Training-set profile" not in get(client, f"/task/{UC}__model_training/run-1/register").text


def test_eda_profiles_are_reachable_from_the_data_and_experiments_pages(client) -> None:
    data = get(client, f"/uc/{UC}/data").text
    assert f'href="/lifecycle/uc/{UC}/data/{DAY}/profile.html"' in data
    partition = get(client, f"/uc/{UC}/data/{DAY}").text
    assert 'id="data-profile"' in partition and "all 97 rows profiled (no sampling)" in partition
    assert EVIL not in partition  # the summary's text is escaped like every other value
    runs = get(client, f"/uc/{UC}/experiments").text
    assert runs.count('class="training-profile"') == 1  # run-2 has one, run-1 none
    assert f'href="/lifecycle/uc/{UC}/experiments/run-2/profile.html"' in runs
    sandboxed = get(client, f"/uc/{UC}/experiments/run-2/profile.html")
    assert "sandbox" in sandboxed.headers["content-security-policy"]
    assert get(client, f"/uc/{UC}/experiments/run-9/profile.html").status_code == 404


def _table(page: str, table_id: str) -> str:
    return page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]


def test_a_shadowed_version_shows_its_live_comparison_per_day_beside_the_holdout(client, store, small) -> None:
    from include.lifecycle.layout import shadow_comparison_key

    page = get(client, f"/uc/{UC}/models/2").text
    assert 'href="#shadow"' in page and 'id="shadow"' in page and "lost-in-shadow" not in page
    latest = store.read_json(shadow_comparison_key(small, 2, LIVE[-1]))
    o = latest["overall"]
    assert f"As of {LIVE[-1]}: <strong>{latest['verdict']}</strong>" in page
    days = _table(page, "shadow-days")
    assert days.count("<tr>") == 1 + len(LIVE)  # the header and one row per compared day, newest first
    assert days.index(LIVE[2]) < days.index(LIVE[1]) < days.index(LIVE[0])
    assert f"<td>{LIVE[0]}</td><td>0</td>" in days and f"<td>{LIVE[2]}</td><td>200</td><td>2</td>" in days
    assert f"<td>{o['difference']:.4f}</td><td>[{o['difference_ci'][0]:.4f}, {o['difference_ci'][1]:.4f}]</td>" in days
    assert f"<td>{o['cost_difference']:.2f}</td><td>[{o['cost_difference_ci'][0]:.2f}, " in days
    import json

    from include.lifecycle.model.registry import registry_for

    ev = json.loads(registry_for(store, small).artifact(2, "evaluation.json"))  # the holdout row beside the live one
    held = ev["candidate"]["metrics"]["roc_auc"] - ev["champion"]["metrics"]["roc_auc"]
    beside = _table(page, "shadow-vs-holdout")
    assert "holdout, against v1" in beside and f"<td>{held:.4f}</td>" in beside
    assert f"live, as of {LIVE[-1]}</td><td>200</td><td>{o['difference']:.4f}</td>" in beside
    slices = _table(page, "shadow-slices")
    judged = [(col, e) for col, entries in latest["slices"].items() for e in entries if e["judged"]]
    assert judged
    for col, e in judged:
        assert f"<td>{col}={e['value']}</td><td>{e['rows']}</td><td>{e['difference']:.4f}</td>" in slices
    assert f"Slices as of {LIVE[1]} (100 labelled rows)" in page  # the earlier day's slices, folded
    assert 'id="shadow-days"' in get(client, f"/uc/{UC}/models/2/evaluation").text
    assert 'id="shadow"' not in get(client, f"/uc/{UC}/models/1").text  # v1 never shadowed: no section


def test_a_challenger_worse_on_live_rows_shows_lost_in_shadow(client, store, small) -> None:
    """Labels that agree with the champion's own decisions: the challenger can only lose on them."""
    from include.lifecycle.layout import labels_key, predictions_key
    from include.lifecycle.serve.shadow import compare_in_shadow

    served = pd.concat([store.read_frame(predictions_key(small, d)) for d in LIVE], ignore_index=True)
    store.write_frame(labels_key(small, "2026-01-13"), served[[small.id_column, "predicted_label"]].rename(
        columns={"predicted_label": small.target}))
    result = compare_in_shadow(store, small, 2, "2026-01-13")
    assert result["verdict"] == "challenger_loses", result["reason"]
    page = get(client, f"/uc/{UC}/models/2").text
    assert 'id="lost-in-shadow"' in page and "Lost in shadow as of 2026-01-13" in page
    assert "live comparison (shadow): lost</a>" in page
    assert '<td class="bad">challenger_loses' in _table(page, "shadow-days")
    assert get(client, f"/api/v1/use-cases/{UC}/versions/2/shadow").json()["lost"] is True


def test_api_versions_champion_ledger(client) -> None:
    versions = get(client, f"/api/v1/use-cases/{UC}/versions").json()
    assert [v["version"] for v in versions] == [2, 1] and versions[1]["aliases"] == ["champion"]
    assert versions[0]["blessing"].keys() >= {"blessed", "reasons"} and "roc_auc" in versions[0]["metrics"]
    assert get(client, f"/api/v1/use-cases/{UC}/champion").json()["champion_version"] == 1
    assert get(client, f"/api/v1/use-cases/{UC}/champion-at?at=2000-01-01T00:00:00Z").json()["champion_version"] is None
    assert get(client, f"/api/v1/use-cases/{UC}/champion-at?at=soon").status_code == 422
    events = [e["event"] for e in get(client, f"/api/v1/use-cases/{UC}/ledger").json()]
    assert events[0] == "registered" and "promoted" in events and events.count("registered") == 2
    assert get(client, f"/api/v1/use-cases/{UC}/versions/1/model-card").text.startswith("#")
    assert "/api/v1/use-cases/{uc}/predict" in get(client, "/openapi.json", user=None).json()["paths"]


def _post(client, rows, user="alice", **body):
    return client.post(f"/lifecycle/api/v1/use-cases/{UC}/predict", json={"rows": rows, **body},
                       headers={"Authorization": f"Bearer {client.tokens[user]}"} if user else {})


def _json_rows(uc, frame: pd.DataFrame) -> list[dict]:
    cols = [uc.id_column, *uc.columns]
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in frame[cols].to_dict("records")]


def test_predict_scores_like_batch_scoring(client, store, rows) -> None:
    uc = load_use_case(UC)
    batch = rows.iloc[800:900]
    store.write_frame(features_key(uc, "2026-02-01"), clean(batch.drop(columns=[uc.target]), uc))
    score_partition(store, uc, "2026-02-01", 1)
    expected = store.read_frame(f"predictions/{UC}/date=2026-02-01/predictions.parquet")
    answer = _post(client, _json_rows(uc, batch))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == 1 and len(body["model_sha256"]) == 64
    got = pd.DataFrame(body["predictions"])
    assert got["id"].tolist() == expected[uc.id_column].tolist()
    np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=1e-12)
    assert got["label"].tolist() == expected["predicted_label"].tolist()


def test_predict_loads_once_per_version_and_follows_the_champion(client, rows) -> None:
    from include.lifecycle.model.registry import registry_for
    from lifecycle_ops.console import deps

    uc = load_use_case(UC)
    one = _json_rows(uc, rows.iloc[900:901])
    for _ in range(3):
        assert _post(client, one).json()["model_version"] == 1
    predictor = next(iter(deps._PREDICTORS.values()))
    assert predictor.loads == 1
    assert _post(client, one, version=2).json()["model_version"] == 2
    registry_for(predictor.store, uc).promote(2, actor="sme_bob", comment="v2")
    assert _post(client, one).json()["model_version"] == 2 and predictor.loads == 2
    assert _post(client, one, version=7).status_code == 404


def test_predict_names_each_bad_field(client, rows) -> None:
    uc = load_use_case(UC)
    [row] = _json_rows(uc, rows.iloc[:1])
    bad = {**row, "tenure": "ten", "contract": "Forever", "colour": "red"}
    del bad["monthly_charges"]
    answer = _post(client, [row, bad])
    assert answer.status_code == 422
    fields = {tuple(d["loc"][2:]): d["msg"] for d in answer.json()["detail"]}
    assert set(fields) == {(1, "tenure"), (1, "contract"), (1, "colour"), (1, "monthly_charges")}
    assert "one of" in fields[(1, "contract")] and fields[(1, "monthly_charges")] == "field required"
    assert _post(client, []).status_code == 422
    assert _post(client, [row], user=None).status_code == 401
    assert _post(client, [row], user="nobody").status_code == 403


def test_predict_accepts_only_json_so_a_cookie_alone_cannot_post_a_form(client, tokens, rows) -> None:
    client.cookies.set("_token", tokens["alice"])
    try:
        answer = client.post(f"/lifecycle/api/v1/use-cases/{UC}/predict", data={"rows": "x"})
    finally:
        client.cookies.clear()
    assert answer.status_code in (415, 422)
    assert answer.status_code != 200


def test_the_approval_body_links_to_the_model_card_and_evaluation_pages(client, store) -> None:
    from airflow.configuration import conf

    from include.lifecycle.model.registry import registry_for
    from lifecycle_ops.approval import evidence_body

    uc = load_use_case(UC)
    body = evidence_body(uc, registry_for(store, uc), 2, "promote")
    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    assert f"({base}/lifecycle/uc/{UC}/models/2)" in body
    assert f"({base}/lifecycle/uc/{UC}/models/2/evaluation)" in body
    # the same paths answer in the console
    assert get(client, f"/uc/{UC}/models/2").status_code == get(client, f"/uc/{UC}/models/2/evaluation").status_code == 200


def test_task_extra_links_only_on_stages_that_have_the_page() -> None:
    from types import SimpleNamespace

    from lifecycle_ops.links import CONSOLE_LINKS

    def links(dag_id: str) -> dict[str, str]:
        key = SimpleNamespace(dag_id=dag_id, run_id="manual__2026-01-05T00:00:00+00:00", task_id="t", map_index=-1)
        return {link.name: link.get_link(None, ti_key=key) for link in CONSOLE_LINKS}

    acquisition = links(f"{UC}__data_acquisition")
    assert acquisition["Validation report"].endswith(
        f"/lifecycle/task/{UC}__data_acquisition/manual__2026-01-05T00%3A00%3A00%2B00%3A00/t?go=validation_report")
    assert acquisition["Model card"] == "" and acquisition["Drift report"] == ""
    assert acquisition["Data profile (EDA)"].endswith("?go=profile")
    assert links(f"{UC}__model_training")["Data profile (EDA)"] == ""
    assert links(f"{UC}__model_training")["Model card"].endswith("?go=model_card")
    assert links(f"{UC}__model_monitoring")["Drift report"].endswith("?go=drift_report")
    assert set(links("some_other_dag").values()) == {""}
