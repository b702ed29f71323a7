"""The SME gate and a trigger form through Airflow's real UI: Playwright driving Debian's chromium, headless.

Shares the session's Airflow with the REST suites (``platform``/``airflow``/``store`` in conftest.py). Each SME
scenario clicks exactly what "How an SME approves a model" in the README tells a person to click:
**Browse → Required Actions → the request's subject → Comment (required) → Approve / Reject**.

What Airflow 3.3.2's own Required Action form does, as seen here (the tests pin it):

* it renders the request's stored ``params``; our ``comment`` field (``type: string``) is marked required,
  Approve and Reject stay disabled while it is empty, and emptying it shows "This field is required";
* it shows Approve and Reject enabled to *any* user who can open the page and says nothing about
  ``assigned_users``; a user who is not assigned learns it only from an "Access Denied" toast after the click.
  So the request's first line names the assigned users and says that anyone else is refused;
* after an answer it only shows "Response received at … from <user>": a refusal on resume (an Approve without
  a comment that arrived over REST) shows as the task's **Failed** badge on that page and as the first ERROR
  line of its **Logs** tab.

Gates: one shared by the form, not-assigned and approve scenarios (only the approve answers it), one for
the REST-bypass refusal, one for reject.
"""

from __future__ import annotations

import re
import time
from urllib.parse import unquote

import pytest

from scripts.rest_client import TERMINAL, wait_for
from tests.e2e.conftest import dag_id, use_case_registry

pytestmark = pytest.mark.e2e

USE_CASE = "churn"
DAYS = ["2025-12-31", "2026-01-01", "2026-01-02"]  # labelled history + two days, as in test_1
TRAINING = dag_id("model_training")
ACQUISITION = dag_id("data_acquisition")
GATE = "sme_approval"
COMMENT_FIELD = "Comment (required)"
ASSIGNED = "Assigned to: sme_alice, sme_bob."
OTHERS_REFUSED = "Anyone else who clicks Approve or Reject is refused"


def _expect():
    from playwright.sync_api import expect

    return expect


def _entries(store, version: int, event: str) -> list[dict]:
    return [e for e in use_case_registry(store, USE_CASE).ledger() if e["event"] == event and e["version"] == version]


# -- getting to a pending gate ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def training_data(airflow, store):
    """The partitions training needs; loaded over REST only when an earlier module has not loaded them."""
    def features(day: str) -> str:
        return f"features/{USE_CASE}/date={day}/features.parquet"

    runs = [airflow.trigger(ACQUISITION, user="data_engineer", partition_key=d)
            for d in DAYS if not store.exists(features(d))]
    for run_id in runs:
        assert airflow.wait_run(ACQUISITION, run_id, timeout=400) == "success", airflow.diagnose(ACQUISITION, run_id)
    wait_for(lambda: all(store.exists(features(d)) for d in DAYS), 300, f"features for {DAYS}")
    return DAYS


def _reject_stray_gates(airflow, keep_run: str) -> None:
    """Gates left by earlier modules (a retrain run of the drift scenario) would hold the one training slot."""
    for request in airflow.pending_approvals(TRAINING):
        ti = request["task_instance"]
        if ti["dag_run_id"] != keep_run:
            airflow.answer(TRAINING, ti["dag_run_id"], ti["task_id"], "Reject",
                           "e2e: stray gate cleared before a browser scenario", user="sme_bob",
                           map_index=ti["map_index"])


def train_to_gate(airflow) -> dict:
    """Train once (REST, as a data scientist would trigger it) until the SME gate waits for an answer."""
    run_id = airflow.trigger(TRAINING, {"partition_date": DAYS[-1], "note": "e2e browser",
                                        "approval_timeout_hours": 0.5}, user="admin")
    deadline = time.monotonic() + 900
    while airflow.task_states(TRAINING, run_id).get(GATE) not in ("awaiting_input", "deferred"):
        if time.monotonic() > deadline or airflow.run(TRAINING, run_id)["state"] in TERMINAL:
            raise AssertionError(f"{GATE} never waited for an answer\n{airflow.diagnose(TRAINING, run_id)}")
        _reject_stray_gates(airflow, keep_run=run_id)
        time.sleep(3)
    [request] = airflow.pending_approvals(TRAINING, run_id)
    return {"run_id": run_id, "version": airflow.xcom(TRAINING, run_id, "register")["version"],
            "subject": request["subject"], "request": request}


@pytest.fixture(scope="module")
def shared_gate(airflow, training_data) -> dict:
    """One pending request for the scenarios that do not answer it, then the approve scenario answers it."""
    return train_to_gate(airflow)


# -- what the SME does in the UI -------------------------------------------------------------------------------

def open_request(page, subject: str) -> None:
    """Browse → Required Actions → the request's subject: the README's steps 2 and 3."""
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Required Actions").click()
    page.get_by_role("link", name=subject, exact=True).click()
    _expect()(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()


def comment_box(page):
    return page.get_by_role("group").filter(has_text=COMMENT_FIELD).get_by_role("textbox")


def answer_in_ui(page, airflow, run_id: str, option: str, comment: str) -> None:
    comment_box(page).fill(comment)
    page.get_by_role("button", name=option, exact=True).click()
    _expect()(page.get_by_text(f"{GATE} response successful").first).to_be_visible()


# -- scenarios -------------------------------------------------------------------------------------------------

def test_the_request_shows_a_required_comment_and_nothing_can_be_sent_without_it(ui, airflow, shared_gate):
    expect = _expect()
    # What the form renders is the stored request, not the operator: the field must be in it.
    comment = shared_gate["request"]["params"]["comment"]
    assert comment["schema"] == {"type": "string", "title": COMMENT_FIELD} and comment["source"] == "task", comment

    page = ui.page("sme_alice")
    open_request(page, shared_gate["subject"])
    expect(page.get_by_text(ASSIGNED)).to_be_visible()
    box = comment_box(page)
    expect(box).to_be_visible()
    expect(box).to_have_value("")
    approve = page.get_by_role("button", name="Approve", exact=True)
    reject = page.get_by_role("button", name="Reject", exact=True)
    expect(approve).to_be_disabled()
    expect(reject).to_be_disabled()
    box.fill("x")
    expect(approve).to_be_enabled()
    box.fill("")
    expect(page.get_by_text("This field is required")).to_be_visible()
    expect(approve).to_be_disabled()
    expect(reject).to_be_disabled()
    assert airflow.pending_approvals(TRAINING, shared_gate["run_id"]), "nothing should have been sent"


def test_a_user_who_is_not_assigned_is_told_so_first_and_cannot_approve(ui, airflow, store, shared_gate):
    expect = _expect()
    page = ui.page("mallory")
    open_request(page, shared_gate["subject"])
    # Told before acting: the subject and the first lines of the request name who may answer.
    assert "Assigned to sme_alice, sme_bob" in shared_gate["subject"]
    expect(page.get_by_text(ASSIGNED)).to_be_visible()
    expect(page.get_by_text(OTHERS_REFUSED)).to_be_visible()
    # Airflow's form still offers the button; the click is refused and nothing is recorded.
    comment_box(page).fill("Looks fine to me.")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_text("Access Denied").first).to_be_visible()
    assert airflow.pending_approvals(TRAINING, shared_gate["run_id"]), "the request must still be pending"
    version = shared_gate["version"]
    assert not [e for e in use_case_registry(store, USE_CASE).ledger() if e["version"] == version
                and e["event"] in ("approved", "rejected", "approval_refused")]


def test_an_assigned_sme_approves_with_a_comment_and_the_champion_moves(ui, airflow, store, shared_gate):
    expect = _expect()
    run_id, version = shared_gate["run_id"], shared_gate["version"]
    comment = "Recall on month-to-month customers is what the retention team needs."
    page = ui.page("sme_alice")
    open_request(page, shared_gate["subject"])
    answer_in_ui(page, airflow, run_id, "Approve", comment)
    assert airflow.wait_run(TRAINING, run_id, timeout=300) == "success", airflow.diagnose(TRAINING, run_id)

    registry = use_case_registry(store, USE_CASE)
    assert registry.alias_version("champion") == version
    [approved] = _entries(store, version, "approved")
    assert approved["actor"] == "sme_alice" and approved["comment"] == comment, approved
    assert approved["hashes"]["model_sha256"] == registry.manifest(version)["model_sha256"]
    assert [e["actor"] for e in _entries(store, version, "promoted")] == ["sme_alice"]
    page.reload()
    expect(page.get_by_text("from sme_alice").first).to_be_visible()


def test_an_approve_without_comment_sent_over_rest_is_refused_where_the_sme_looks(ui, airflow, store, receivers,
                                                                                  training_data):
    expect = _expect()
    smtp, hook = receivers
    champion_before = use_case_registry(store, USE_CASE).alias_version("champion")
    gate = train_to_gate(airflow)
    run_id, version = gate["run_id"], gate["version"]
    # A client that bypasses the form: Airflow's API accepts any params_input (200).
    resp = airflow.answer(TRAINING, run_id, GATE, "Approve", "", user="sme_alice")
    assert resp.status_code == 200, resp.text
    assert airflow.wait_run(TRAINING, run_id, timeout=300) == "failed", airflow.diagnose(TRAINING, run_id)
    states = airflow.task_states(TRAINING, run_id)
    assert states[GATE] == "failed" and states["promote"] == "upstream_failed", states
    assert use_case_registry(store, USE_CASE).alias_version("champion") == champion_before

    why = f"APPROVAL REFUSED: sme_alice's Approve of churn v{version} was not accepted because an approval must " \
          "carry a comment"
    [refused] = _entries(store, version, "approval_refused")
    assert refused["actor"] == "sme_alice" and "comment" in refused["details"]["refusal"], refused
    assert not _entries(store, version, "approved") and not _entries(store, version, "rejected")
    ti = airflow.ok("GET", f"/dags/{TRAINING}/dagRuns/{run_id}/taskInstances/{GATE}")
    log = airflow.log(TRAINING, run_id, GATE, try_number=ti["try_number"])
    assert why in log and log.index(why) < log.index("Task failed with exception"), log[-2000:]
    wait_for(lambda: [m for m in smtp.messages if why in m.body], 60, "the refusal e-mail")
    wait_for(lambda: [r for r in hook.requests if why in r.body.decode(errors="replace")], 60, "the refusal webhook")

    # Where the SME looks: the request's page shows the task Failed, and its log says why in plain words.
    page = ui.page("sme_alice")
    open_request(page, gate["subject"])
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    page.get_by_role("link", name="Logs", exact=True).click()
    expect(page.get_by_text(why).first).to_be_visible()


def test_an_sme_rejects_with_a_comment_and_nothing_is_promoted(ui, airflow, store, training_data):
    champion_before = use_case_registry(store, USE_CASE).alias_version("champion")
    gate = train_to_gate(airflow)
    run_id, version = gate["run_id"], gate["version"]
    comment = "Not before the pricing change in March."
    page = ui.page("sme_bob")
    open_request(page, gate["subject"])
    answer_in_ui(page, airflow, run_id, "Reject", comment)
    assert airflow.wait_run(TRAINING, run_id, timeout=300) == "success", airflow.diagnose(TRAINING, run_id)
    assert airflow.task_states(TRAINING, run_id)["promote"] == "skipped"
    assert use_case_registry(store, USE_CASE).alias_version("champion") == champion_before
    [rejected] = _entries(store, version, "rejected")
    assert rejected["actor"] == "sme_bob" and rejected["comment"] == comment, rejected


def trigger_with_partition_key(page, base_url: str, dag: str, day: str) -> str:
    """The trigger form, in one place: DAG page → Trigger → Advanced Options → Partition Key → Trigger.

    Returns the new run's id. Acquisition runs are partitioned: the day to load is the run's partition key.
    """
    page.goto(f"{base_url}/dags/{dag}")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog").filter(has_text=f"Trigger Dag - {dag}")
    form.get_by_text("Advanced Options").click()
    form.get_by_label("Partition Key").fill(day)
    form.get_by_role("button", name="Trigger", exact=True).click()
    _expect()(page.get_by_text("Dag run has been successfully triggered.").first).to_be_visible()
    page.wait_for_url(re.compile(rf"/dags/{re.escape(dag)}/runs/[^/]+$"))
    return unquote(page.url.rsplit("/runs/", 1)[1])


def test_a_data_engineer_triggers_acquisition_for_a_day_in_the_form(ui, airflow, store, training_data):
    # Re-loads a day that is already loaded: idempotent, and nothing new cascades into the other scenarios.
    day = DAYS[-1]
    page = ui.page("data_engineer")
    run_id = trigger_with_partition_key(page, ui.platform.base_url, ACQUISITION, day)
    run = airflow.run(ACQUISITION, run_id)
    assert run["partition_key"] == day and run["triggering_user_name"] == "data_engineer", run
    assert airflow.wait_run(ACQUISITION, run_id, timeout=400) == "success", airflow.diagnose(ACQUISITION, run_id)
    result = store.read_json(f"validation/{USE_CASE}/date={day}/result.json")
    assert result["received"] > 0 and result["received"] == result["accepted"] + result["quarantined"], result
