"""The MLOps console through Airflow's real UI (Playwright + Debian's chromium), as the people who use it.

* sme_alice: Required Actions -> the request's model card link -> back -> comment -> Approve; the console's
  registry page (opened from Airflow's navigation, rendered inside the UI) shows the new champion and the
  ledger entry with her comment.
* data_engineer: from an acquisition task's page, the "Validation report" and "Quarantined rows" buttons open
  the partition's Great Expectations report and its validation with the quarantined rows, and from there the
  partition's EDA profile.
* devops: the monitoring page charts the drift scenario's jump (plotly, served by the console), and every alert
  the console lists links to a page that opens.

Reuses the session's state: the partitions test_1/test_3/test_6 load, and the drift days test_2 monitors.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest

from tests.e2e.conftest import dag_id, use_case_registry
from tests.e2e.test_3_browser_approval import (  # noqa: F401 - training_data is a fixture reused here
    _expect,
    answer_in_ui,
    open_request,
    train_to_gate,
    training_data,
)

pytestmark = pytest.mark.e2e

USE_CASE = "churn"
TRAINING = dag_id("model_training")
ACQUISITION = dag_id("data_acquisition")


def console_frame(page):
    """The console as Airflow renders it: an iframe inside the plugin's page."""
    return page.frame_locator("iframe").first


def test_sme_follows_the_model_card_link_approves_and_sees_it_in_the_registry(ui, airflow, store, platform,
                                                                               training_data):  # noqa: F811
    expect = _expect()
    gate = train_to_gate(airflow)
    run_id, version = gate["run_id"], gate["version"]
    page = ui.page("sme_alice")
    open_request(page, gate["subject"])

    link = page.get_by_role("link", name=f"{USE_CASE} v{version}", exact=True)
    href = link.get_attribute("href")
    assert href == f"{platform.base_url}/lifecycle/uc/{USE_CASE}/models/{version}", href
    if link.get_attribute("target") == "_blank":
        with page.expect_popup() as popup:
            link.click()
        card = popup.value
    else:
        link.click()
        card = page
    expect(card.get_by_role("heading", name=f"{USE_CASE}: model v{version}")).to_be_visible()
    expect(card.locator("iframe#model-card")).to_be_visible()
    expect(card.frame_locator("iframe#model-card").locator("body")).to_contain_text("Model card")
    if card is page:
        page.go_back()
    else:
        card.close()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()

    comment = f"Card read; v{version} holds recall on month-to-month customers."
    answer_in_ui(page, airflow, run_id, "Approve", comment)
    assert airflow.wait_run(TRAINING, run_id, timeout=400) == "success", airflow.diagnose(TRAINING, run_id)
    assert use_case_registry(store, USE_CASE).alias_version("champion") == version

    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="MLOps console").click()
    frame = console_frame(page)
    frame.get_by_role("link", name=USE_CASE, exact=True).click()
    frame.get_by_role("link", name="Registry", exact=True).click()
    row = frame.locator(f"#versions tr#v{version}")
    expect(row.locator(".alias", has_text="champion")).to_be_visible()
    latest = frame.locator("#timeline tr").nth(1)  # newest move first
    expect(latest).to_contain_text(f"v{version}")
    expect(latest.locator(".actor")).to_have_text("sme_alice")
    expect(latest.locator(".comment")).to_have_text(comment)


def test_data_engineer_opens_the_gx_report_and_quarantine_from_the_task_page(ui, airflow, platform, store,
                                                                              training_data):  # noqa: F811
    expect = _expect()
    run = next(r for r in airflow.runs(ACQUISITION) if r["state"] == "success")
    day = run.get("partition_key") or (run.get("conf") or {}).get("partition_date")
    page = ui.page("data_engineer")
    task_page = f"{platform.base_url}/dags/{ACQUISITION}/runs/{quote(run['dag_run_id'], safe='')}/tasks/validate"
    page.goto(f"{task_page}/details")  # Airflow 3.3 shows a task's extra links on its Details tab
    page.get_by_role("link", name="Validation report").click()
    expect(page.locator("h1")).to_have_text(f"Batch validation: {USE_CASE} / {day}")
    expect(page.locator("body")).to_contain_text("expect_column")  # the suite's expectations, as GX judged them
    assert page.url.endswith(f"/lifecycle/uc/{USE_CASE}/data/{day}/report.html"), page.url
    page.go_back()
    page.get_by_role("link", name="Quarantined rows").click()
    validation = page
    expect(validation.get_by_role("heading", name=f"{USE_CASE}: partition {day}")).to_be_visible()
    result = store.read_json(f"validation/{USE_CASE}/date={day}/result.json")
    expect(validation.locator("main")).to_contain_text(f"{result['quarantined']} quarantined")
    if result["quarantined"]:
        expect(validation.locator("#quarantined tr")).to_have_count(min(result["quarantined"], 200) + 1)
        csv = validation.request.get(validation.locator("#quarantine-csv").get_attribute("href"))
        assert csv.ok and len(csv.text().splitlines()) == result["quarantined"] + 1
    # The analyst's exploratory profile of the same partition, one click from its validation page.
    summary = store.read_json(f"profiles/{USE_CASE}/date={day}/profile.json")
    assert summary["status"] == "ok", summary
    validation.locator("#data-profile").click()
    expect(validation.locator("body")).to_contain_text(summary["sampling_text"][0])
    assert validation.url.endswith(f"/lifecycle/uc/{USE_CASE}/data/{day}/profile.html"), validation.url


def test_devops_sees_the_drift_jump_and_every_alert_links_to_its_page(ui, platform, store):
    expect = _expect()
    from include.lifecycle.config import load_use_case
    from include.lifecycle.watch.settings import settings

    series = _timeseries(store)
    threshold = settings(load_use_case(USE_CASE))["drift_share_threshold"]
    if not any(r["drift_share"] >= threshold for r in series):
        pytest.fail("no drifted day monitored yet: run tests/e2e/test_2_monitoring_chain.py first (drift scenario)")
    page = ui.page("devops")
    page.goto(f"{platform.base_url}/lifecycle/uc/{USE_CASE}/monitoring")
    chart = page.locator("#chart-drift-share")
    expect(chart).to_have_attribute("data-drawn", "1")
    expect(chart.locator(".main-svg").first).to_be_visible()  # plotly drew it
    figure = json.loads(chart.get_attribute("data-figure"))
    shares = [y for y in figure["data"][0]["y"] if y is not None]
    assert min(shares) < threshold <= max(shares), shares  # the jump, across the threshold line
    assert figure["layout"]["shapes"][0]["y0"] == threshold

    page.goto(f"{platform.base_url}/lifecycle/alerts")
    rows = page.locator("#sent tr.alert")
    expect(rows.first).to_be_visible()
    links = page.locator("#sent tr.alert td a")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    console = {h for h in hrefs if "/lifecycle/" in h}
    assert console, hrefs
    for href in sorted(console):
        answer = page.request.get(href)
        assert answer.status == 200, (href, answer.status)
    for i in range(rows.count()):  # every alert sent links at least one console page
        assert rows.nth(i).locator("a[href*='/lifecycle/']").count() >= 1, rows.nth(i).inner_text()
    assert any(re.search(r"/monitoring/\d{4}-\d{2}-\d{2}/report\.html$", h) for h in console), console


def _timeseries(store):
    from include.lifecycle.config import load_use_case
    from include.lifecycle.watch.timeseries import read_timeseries

    table = read_timeseries(store, load_use_case(USE_CASE))
    return table.to_dict("records")
