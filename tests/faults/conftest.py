"""Faults injected for real into a running embedded Airflow (the platform ``make run`` starts).

One platform per module, on a free port with its own home, store and alert receivers. Components are killed
by the process group their pid file names (SIGKILL: no clean-up runs) and restarted the way the platform
starts them. Every wait has a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.lifecycle_platform import Platform, free_port
from scripts.platform_core import live_pids, pid_alive, signal_tree
from scripts.rest_client import wait_for  # noqa: F401 - the fault tests import it from here
from tests.e2e.conftest import E2E_USERS, AirflowClient, e2e_config_dir
from tests.integration.receivers import SmtpReceiver, WebhookReceiver


class PatientClient(AirflowClient):
    """The e2e REST client with a 120 s answer deadline: on a starved 2-core machine a healthy API server was seen
    taking over 30 s for one answer while its process got a few percent of a core."""

    def request(self, method: str, path: str, user: str = "admin", **kwargs: Any):
        import requests

        if user not in self._tokens:
            self._tokens[user] = self.platform.token(user)
        headers = {"Authorization": f"Bearer {self._tokens[user]}"}
        return requests.request(method, f"{self.platform.base_url}/api/v2{path}", headers=headers,
                                timeout=kwargs.pop("timeout", 120), **kwargs)


def kill_component(plat: Platform, component: str) -> set[int]:
    """SIGKILL a component's process group and every descendant (its task processes too), as a crash would."""
    pid = int(plat._pid_file(component).read_text().strip())
    targets = signal_tree({pid}, signal.SIGKILL)
    wait_for(lambda: not live_pids(targets), 15, f"{component} to die")
    pid_alive(pid)  # reap our child
    assert component not in plat.running()
    return targets


def restart_component(plat: Platform, component: str) -> None:
    plat.start_components((component,))
    wait_for(lambda: component in plat.running(), 15, f"{component} to start")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("faults-home")
    artifacts = tmp_path_factory.mktemp("faults-artifacts")
    config = e2e_config_dir(tmp_path_factory)
    smtp_password = secrets.token_urlsafe(12)  # the security scan looks for it everywhere
    with SmtpReceiver(login="alerts", password=smtp_password) as smtp, WebhookReceiver() as hook:
        plat = Platform(home=home, port=free_port(), users=dict(E2E_USERS), extra_env={
            "LIFECYCLE_ARTIFACT_ROOT": str(artifacts),
            "LIFECYCLE_CONFIG_DIR": str(config),
            "ALERT_SMTP_HOST": "127.0.0.1", "ALERT_SMTP_PORT": str(smtp.port), "ALERT_WEBHOOK_URL": hook.url,
            "ALERT_SMTP_USER": "alerts", "ALERT_SMTP_PASSWORD": smtp_password,
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # A task whose supervisor died with the scheduler is failed (and retried) after 40 s, not 300 s.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "40",
            # ...and a task the dead scheduler had queued is reset by the new one within 15 s, not 300 s.
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
        })
        started = time.monotonic()
        try:
            plat.start(timeout=400)
            print(f"fault platform ready in {time.monotonic() - started:.0f}s")
            from include.lifecycle.store import open_store

            yield {"platform": plat, "api": PatientClient(plat), "store": open_store(str(artifacts)),
                   "smtp": smtp, "hook": hook, "state": {}}
        finally:
            plat.stop()
            assert not plat.running(), f"processes left running: {plat.running()}"


# -- library-level faults: the unit suite's real moto server, use cases and sample rows -------------------------
from tests.unit.conftest import churn_csv, churn_uc, moto_endpoint, sample, small_uc  # noqa: E402, F401
