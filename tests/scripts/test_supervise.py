"""scripts/supervise.py with real processes: what restarts, what does not, and that a stop leaves nothing running.

The child is a small script whose n-th run does what its plan says (crash after a while, exit cleanly, run on),
so each case is decided by exit codes and signals, not by mocks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.platform_core import Platform, live_pids, pid_alive, stop_tree
from scripts.production import SUPERVISOR, production_platform

CHILD = """
import os, sys, time, pathlib
runs = pathlib.Path(sys.argv[1])
n = int(runs.read_text()) + 1 if runs.exists() else 1
for path, text in ((pathlib.Path(f"{runs}.{n}"), str(os.getpid())), (runs, str(n))):
    pathlib.Path(f"{path}.tmp").write_text(text)
    os.replace(f"{path}.tmp", path)  # the test reads these while the child runs: never half-written
plan = sys.argv[2].split(",")
what, _, secs = plan[min(n, len(plan)) - 1].partition(":")
if what == "forever":
    time.sleep(600)
time.sleep(float(secs or 0))
sys.exit(0 if what == "clean" else 3)
"""


class Supervised:
    """One supervisor in its own session (as the platform starts components), its log, its child's runs."""

    def __init__(self, tmp: Path, plan: str, backoff: float = 0.2, healthy_after: float = 1.5) -> None:
        (tmp / "child.py").write_text(CHILD)
        self.runs, self.log_path = tmp / "runs", tmp / "component.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(SUPERVISOR), "--name", "demo", "--backoff", str(backoff), "--healthy-after",
                 str(healthy_after), "--", sys.executable, str(tmp / "child.py"), str(self.runs), plan],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def count(self) -> int:
        return int(self.runs.read_text()) if self.runs.exists() else 0

    def child_pid(self, n: int) -> int:
        path = Path(f"{self.runs}.{n}")
        return int(path.read_text()) if path.exists() else 0

    def log(self) -> str:
        return self.log_path.read_text()

    def wait(self, predicate, timeout: float = 30, what: str = "") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()}")

    def kill(self) -> None:
        with_group = {self.proc.pid} | {self.child_pid(n) for n in range(1, self.count() + 1)}
        for pid in live_pids(with_group - {0}):
            os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def supervised(tmp_path):
    made: list[Supervised] = []

    def make(plan: str, **kwargs) -> Supervised:
        made.append(Supervised(tmp_path, plan, **kwargs))
        return made[-1]

    yield make
    for sup in made:
        if sup.proc.poll() is None:
            sup.kill()


def test_a_component_in_a_crash_loop_is_given_up_after_the_start_limit(supervised):
    from scripts.supervise import START_LIMIT

    sup = supervised("crash:0")
    assert sup.proc.wait(timeout=30) == 3  # its code, so wait_ready reports the component as exited
    assert sup.count() == START_LIMIT
    assert f"the {START_LIMIT}th run in a row to fail within 1.5s; a crash loop, giving up" in sup.log()


def test_a_young_component_that_dies_once_is_restarted(supervised):
    """A worker started seconds before a PostgreSQL restart dies before it counts as healthy: it must come back."""
    sup = supervised("crash:0.3,crash:0,forever")
    sup.wait(lambda: sup.count() == 3 and pid_alive(sup.child_pid(3)), 30, "the third run")
    assert "giving up" not in sup.log() and sup.proc.poll() is None


def test_a_crash_is_restarted_with_a_growing_backoff_and_a_stop_leaves_nothing(supervised):
    sup = supervised("crash:2,crash:0,crash:0,forever")
    sup.wait(lambda: sup.count() == 4 and pid_alive(sup.child_pid(4)), 60, "the fourth run")
    log = sup.log()
    assert "demo: exited with code 3 after 2s up; restart 1 in 0.2s" in log, log
    assert "restart 2 in 0.4s" in log and "restart 3 in 0.8s" in log, log
    children = {sup.child_pid(n) for n in range(1, 5)}
    stop_tree({sup.proc.pid}, deadline=15)  # what `make stop` does to a component's process group
    assert sup.proc.wait(timeout=10) == 0
    assert not live_pids(children | {sup.proc.pid})
    time.sleep(1.5)
    assert sup.count() == 4, "a stopped component was started again"


def test_a_killed_component_is_restarted_and_a_signal_to_the_supervisor_alone_stops_both(supervised):
    sup = supervised("forever", healthy_after=0.5)
    sup.wait(lambda: pid_alive(sup.child_pid(1)), 30, "the first run")
    time.sleep(0.7)  # up long enough to count as having come up
    os.kill(sup.child_pid(1), signal.SIGKILL)  # the OOM killer, say
    sup.wait(lambda: pid_alive(sup.child_pid(2)), 30, "the restart")
    assert "demo: killed by SIGKILL" in sup.log()
    os.kill(sup.proc.pid, signal.SIGTERM)  # `kill <pid>`: only the supervisor gets it
    assert sup.proc.wait(timeout=15) == 0
    sup.wait(lambda: not pid_alive(sup.child_pid(2)), 10, "the component to stop with its supervisor")
    assert sup.count() == 2


def test_a_clean_exit_is_not_restarted(supervised):
    sup = supervised("clean:0.8", healthy_after=0.5)
    assert sup.proc.wait(timeout=30) == 0
    assert sup.count() == 1 and "exited cleanly" in sup.log()


def test_only_production_mode_supervises_its_components(tmp_path):
    embedded = Platform(home=tmp_path / "embedded", port=8080)
    assert all(embedded.launch_command(c) == embedded.component_command(c) for c in embedded.components
               if c != "alert-inbox")  # its command needs the ports start() allocates
    plat = production_platform(tmp_path / "production", 8080, s3_endpoint="http://127.0.0.1:9")
    assert len(plat.components) >= 6
    for component in plat.components:
        cmd = plat.launch_command(component)
        assert cmd[1:5] == [str(SUPERVISOR), "--name", component, "--"], cmd
        assert cmd[5:] == plat.component_command(component)
