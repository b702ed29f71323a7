"""The run command's guard rails that need no running Airflow."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(args, home, timeout=120):
    env = dict(os.environ, LIFECYCLE_AIRFLOW_HOME=str(home))
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "lifecycle_platform.py"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_start_on_a_taken_port_says_so_and_exits_non_zero(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        proc = _cli(["start", "--port", str(port)], tmp_path / "home")
    assert proc.returncode == 1
    assert f"port {port} is already in use" in proc.stderr
    assert not (tmp_path / "home" / "run").exists() or not list((tmp_path / "home" / "run").glob("*.pid"))


def test_stop_when_nothing_runs_is_harmless(tmp_path):
    proc = _cli(["stop", "--port", "1"], tmp_path / "home")
    assert proc.returncode == 0 and "nothing was running" in proc.stdout


def test_status_reports_stopped_components(tmp_path):
    proc = _cli(["status"], tmp_path / "home")
    assert proc.returncode == 3
    assert "scheduler" in proc.stdout and "stopped" in proc.stdout


def test_broken_settings_file_stops_the_start_before_anything_runs(tmp_path):
    bad = tmp_path / "settings.yaml"
    bad.write_text("airflow:\n  pools:\n    - {pool_name: p}\n")
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from pathlib import Path\n"
        "from scripts.lifecycle_platform import Platform, PlatformError, free_port\n"
        f"p = Platform(home=Path({str(tmp_path / 'home')!r}), port=free_port(), settings_file=Path({str(bad)!r}))\n"
        "try:\n    p.start()\nexcept PlatformError as e:\n    print('ERR', e); sys.exit(1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "pool p: pool_slot must be a whole number" in proc.stdout
    assert not list((tmp_path / "home").glob("run/*.pid"))
