"""A real Airflow for end-to-end tests, started with the same Platform class `make run` uses.

The fixture starts the API server, scheduler, DAG processor and triggerer in a temporary home on a free
port, with a temporary artifact store and real SMTP and webhook receivers for alerts. Every wait has a
hard deadline, and the platform is stopped by pid (process groups and descendants) even when a test fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.lifecycle_platform import DEFAULT_USERS, Platform, free_port
from scripts.rest_client import AirflowClient
from tests.integration.receivers import SmtpReceiver, WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
USE_CASES = ("churn", "credit")


def dag_id(stage: str, use_case: str = "churn") -> str:
    """The generated DAG of a use case's stage (one DAG set per use-case YAML)."""
    return f"{use_case}__{stage}"
# mallory can use the UI but is not an assigned SME; devops reads the console's monitoring and alerts
E2E_USERS = {**DEFAULT_USERS, "mallory": "user", "devops": "op"}


@pytest.fixture(scope="session")
def receivers() -> Iterator[tuple[SmtpReceiver, WebhookReceiver]]:
    with SmtpReceiver() as smtp, WebhookReceiver() as hook:
        yield smtp, hook


def use_case_registry(store: Any, name: str) -> Any:
    """The registry the platform writes to for one use case (its name comes from the use case's YAML)."""
    from include.lifecycle.config import load_use_case
    from include.lifecycle.model.registry import registry_for

    return registry_for(store, load_use_case(name))


def e2e_config_dir(tmp_path_factory) -> Path:
    """The bundled YAMLs with a compressed calendar, as a deployment would keep its own config folder.

    The replay's days are short (~66 churn rows), so the e2e world moves faster than production: labels arrive a
    day later, the drift scenario starts on day 3, the retraining policy needs fewer new labels and no
    cooldown, monitoring windows need fewer rows, and stray approval gates time out in minutes.
    """
    import yaml

    out = tmp_path_factory.mktemp("config")
    for name in USE_CASES:
        raw = yaml.safe_load((ROOT / "include" / "config" / f"{name}.yaml").read_text())
        raw["replay"]["label_delay_days"] = 1
        raw["replay"]["drift"]["start_day"] = 3
        raw["retraining"].update({"cooldown_hours": 0, "min_new_labelled_rows": 50})
        raw["monitoring"].update({"min_current_rows": 150, "window_days": 3})
        raw["approval"]["timeout_hours"] = 0.1
        # The e2e flows ask the SME within minutes; waiting days for shadow evidence is unit-tested instead.
        raw["approval"].pop("shadow", None)
        # ~180-row holdouts: one customer moves AUC by ~0.01, so change thresholds get the matching tolerance.
        for spec in raw["evaluation"]["thresholds"].values():
            if "max_drop" in spec:
                spec["max_drop"] = max(float(spec["max_drop"]), 0.05)
        raw["evaluation"]["slice_max_drop"] = 0.15
        # No nightly training inside a test session: a run started by the clock would hold the one training slot
        # and the retraining policy would rightly refuse to queue another.
        raw.setdefault("schedules", {})["training"] = None
        (out / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


@pytest.fixture(scope="session")
def platform(tmp_path_factory, receivers) -> Iterator[Platform]:
    smtp, hook = receivers
    home = tmp_path_factory.mktemp("airflow-home")
    artifacts = tmp_path_factory.mktemp("artifacts")
    config = e2e_config_dir(tmp_path_factory)
    plat = Platform(home=home, port=free_port(), users=dict(E2E_USERS), extra_env={
        "LIFECYCLE_ARTIFACT_ROOT": str(artifacts),
        "LIFECYCLE_CONFIG_DIR": str(config),
        "ALERT_SMTP_HOST": "127.0.0.1",
        "ALERT_SMTP_PORT": str(smtp.port),
        "ALERT_WEBHOOK_URL": hook.url,
        # Faster hand-offs than a production default; the behaviour under test is unchanged.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("E2E_PARALLELISM", "4"),
    })
    try:
        plat.start(timeout=300)
        yield plat
    finally:
        plat.stop()
        assert not plat.running(), f"processes left running: {plat.running()}"


@pytest.fixture(scope="session")
def airflow(platform) -> AirflowClient:
    return AirflowClient(platform)


@pytest.fixture(scope="session")
def store(platform):
    from include.lifecycle.store import open_store

    return open_store(platform.extra_env["LIFECYCLE_ARTIFACT_ROOT"])


# -- a real browser against the running Airflow ----------------------------------------------------------------

BROWSER_ARTIFACTS = ROOT / "test-artifacts" / "browser"
# Debian's chromium, headless, with nothing that phones home (no network at test time).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UI_TIMEOUT_MS = 30_000
_OPEN_UIS: list[BrowserUsers] = []


def chromium_executable() -> str:
    """Debian's ``chromium`` (installed by scripts/setup.sh); never a browser downloaded by Playwright."""
    import shutil

    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("chromium is not installed: run `make setup` as root, or "
                    "`sudo apt-get install -y --no-install-recommends chromium`", pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the session; every user gets a fresh, isolated context in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class BrowserUsers:
    """Logged-in pages, one fresh browser context (cookies, storage) per user, for one test."""

    def __init__(self, browser: Any, platform: Platform, test_name: str) -> None:
        self.browser = browser
        self.platform = platform
        self.test_name = test_name
        self._contexts: dict[str, Any] = {}
        self.pages: dict[str, Any] = {}

    def page(self, user: str) -> Any:
        """A page logged in as ``user`` through Airflow's own login form (simple auth manager)."""
        if user in self.pages:
            return self.pages[user]
        password = self.platform.ensure_passwords()[user]
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US",
                                           timezone_id="UTC")
        context.set_default_timeout(UI_TIMEOUT_MS)
        self._contexts[user] = context
        page = context.new_page()
        self.pages[user] = page
        page.goto(f"{self.platform.base_url}/")
        page.locator("input").first.fill(user)
        page.locator("input[type=password]").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url, timeout=UI_TIMEOUT_MS)
        page.get_by_role("button", name="Browse").wait_for()  # the app shell is there
        return page

    def save_artifacts(self) -> list[Path]:
        """A full-page screenshot and the HTML of every open page, named after the test and the user."""
        import re

        BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", self.test_name)[-120:]
        saved: list[Path] = []
        for user, page in self.pages.items():
            png, html = BROWSER_ARTIFACTS / f"{stem}-{user}.png", BROWSER_ARTIFACTS / f"{stem}-{user}.html"
            try:
                page.screenshot(path=str(png), full_page=True, timeout=10_000)
                saved.append(png)
                html.write_text(f"<!-- {page.url} -->\n{page.content()}")
                saved.append(html)
            except Exception as exc:  # a crashed page must not hide the test's own failure
                (BROWSER_ARTIFACTS / f"{stem}-{user}.txt").write_text(f"could not save {page.url}: {exc!r}\n")
        return saved

    def close(self) -> None:
        for context in self._contexts.values():
            try:
                context.close()
            except Exception:  # the browser may already be gone at session end
                pass
        self._contexts.clear()
        self.pages.clear()


@pytest.fixture
def ui(browser, platform, request) -> Iterator[BrowserUsers]:
    """``ui.page("sme_alice")``: a page logged in as that user; screenshots are kept if the test fails."""
    from playwright.sync_api import expect

    users = BrowserUsers(browser, platform, request.node.nodeid)
    _OPEN_UIS.append(users)
    # Assertions wait as long as actions (30 s, not Playwright's 5 s): a page still loading its task instance
    # on a busy CI machine is slow, not wrong.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    try:
        yield users
    finally:
        expect.set_options(timeout=5_000)
        _OPEN_UIS.remove(users)
        users.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test fails, save what every open browser page showed into test-artifacts/browser/."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for users in list(_OPEN_UIS):
            saved = users.save_artifacts()
            if saved:
                report.sections.append(("browser artifacts", "\n".join(str(p) for p in saved)))
