"""Start, stop and inspect the lifecycle platform: one Airflow installation run from this project.

    python scripts/lifecycle_platform.py start [--port 8080] [--mode embedded|production]
    python scripts/lifecycle_platform.py stop | status | env

``start`` creates a git-ignored Airflow home (``.airflow/`` by default), migrates the metadata DB,
applies ``airflow_settings.yaml``, and starts the API server, scheduler, DAG processor and triggerer
(the SME approval gate needs the triggerer), each in its own process group with a pid file. It waits
until the API answers and every lifecycle DAG is parsed and unpaused, then prints the UI address and
the logins. ``stop`` stops exactly the process groups it started (TERM, a deadline, then KILL) and
checks that the port is free again. Starting twice does not start a second copy.

The same :class:`Platform` class is what the end-to-end and production tests use, with their own
home, port and environment, so the tests exercise the commands a user runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
EMBEDDED_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DEFAULT_USERS = {"admin": "admin", "sme_alice": "user", "sme_bob": "user", "data_engineer": "op"}


class PlatformError(RuntimeError):
    """Start/stop could not do what was asked; the message says why and what to do."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, pgid, state) for every process, read from /proc."""
    table = {}
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            fields = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(proc_dir.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def _process_tree(roots: set[int]) -> set[int]:
    """The roots, every member of their process groups, and all descendants (live, not zombies)."""
    table = _proc_table()
    found = {pid for pid in roots if pid in table}
    found |= {pid for pid, (_, pgid, _) in table.items() if pgid in roots}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return {pid for pid in found if table[pid][2] != "Z"}


def _live(pids: set[int]) -> set[int]:
    table = _proc_table()
    return {pid for pid in pids if pid in table and table[pid][2] != "Z"}


@dataclass
class Platform:
    """One Airflow installation: a home directory, a port, an environment and the processes it runs."""

    home: Path = PROJECT_ROOT / ".airflow"
    port: int = 8080
    mode: str = "embedded"
    extra_env: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    components: tuple[str, ...] = EMBEDDED_COMPONENTS
    settings_file: Path = PROJECT_ROOT / "airflow_settings.yaml"

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs" / "platform"

    # -- environment --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    def _secrets(self) -> dict[str, str]:
        """Per-home secrets made once: shared by every component, never committed, never printed."""
        path = self.home / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        self.home.mkdir(parents=True, exist_ok=True)
        from cryptography.fernet import Fernet

        data = {"jwt_secret": secrets.token_urlsafe(32), "fernet_key": Fernet.generate_key().decode(),
                "api_secret_key": secrets.token_urlsafe(32)}
        path.write_text(json.dumps(data))
        path.chmod(0o600)
        return data

    def secret_commands(self) -> dict[str, str]:
        """``*_CMD`` settings that read the secrets from the home, for a shell that runs the airflow CLI."""
        sec = self._secrets()
        names = {"fernet_key": "AIRFLOW__CORE__FERNET_KEY_CMD", "jwt_secret": "AIRFLOW__API_AUTH__JWT_SECRET_CMD",
                 "api_secret_key": "AIRFLOW__API__SECRET_KEY_CMD"}
        out = {}
        for key, var in names.items():
            file = self.home / "secrets" / key
            if not file.exists():
                file.parent.mkdir(mode=0o700, exist_ok=True)
                file.write_text(sec[key])
                file.chmod(0o600)
            out[var] = f"cat {file}"
        return out

    def ensure_passwords(self) -> dict[str, str]:
        """Random passwords for the configured users, kept in the home (mode 600), made once."""
        existing: dict[str, str] = {}
        if self.passwords_file.exists():
            existing = json.loads(self.passwords_file.read_text())
        changed = False
        for user in self.users:
            if user not in existing:
                existing[user] = secrets.token_urlsafe(9)
                changed = True
        if changed or not self.passwords_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            self.passwords_file.write_text(json.dumps(existing, indent=2))
            self.passwords_file.chmod(0o600)
        return existing

    def env(self) -> dict[str, str]:
        sec = self._secrets()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        # Every task is a new process: without bytecode caching each one recompiles its imports (7-15 s).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        pythonpath = f"{PROJECT_ROOT}{os.pathsep}{PROJECT_ROOT / 'plugins'}"
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "PYTHONPATH": pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
            "AIRFLOW__CORE__FERNET_KEY": sec["fernet_key"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in self.users.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__SECRET_KEY": sec["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
            "LIFECYCLE_ARTIFACT_ROOT": env.get("LIFECYCLE_ARTIFACT_ROOT", str(PROJECT_ROOT / ".artifacts")),
            # No network at run time: Great Expectations would otherwise try to send usage analytics.
            "GX_ANALYTICS_ENABLED": "False",
            "NO_PROXY": "*",
            "no_proxy": "*",
        })
        env.update(self.extra_env)
        return env

    # -- process bookkeeping --------------------------------------------------------------------
    def _pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def running(self) -> dict[str, int]:
        alive = {}
        for component in self.components:
            pid_file = self._pid_file(component)
            if pid_file.exists():
                try:
                    pid = int(pid_file.read_text().strip())
                except ValueError:
                    continue
                if pid_alive(pid):
                    alive[component] = pid
        return alive

    def airflow(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(VENV_BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, cwd=PROJECT_ROOT)
        if check and proc.returncode != 0:
            raise PlatformError(f"`airflow {' '.join(args)}` failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc

    # -- lifecycle ------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Migrate the DB and apply airflow_settings.yaml; safe to repeat."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.ensure_passwords()
        check = subprocess.run([str(VENV_BIN / "python"), str(PROJECT_ROOT / "scripts" / "apply_settings.py"),
                                str(self.settings_file), "--check"], env=self.env(), capture_output=True, text=True)
        if check.returncode != 0:
            raise PlatformError(check.stderr.strip() or check.stdout.strip())
        self.airflow("db", "migrate")
        applied = subprocess.run([str(VENV_BIN / "python"), str(PROJECT_ROOT / "scripts" / "apply_settings.py"),
                                  str(self.settings_file)], env=self.env(), capture_output=True, text=True)
        if applied.returncode != 0:
            raise PlatformError(applied.stderr.strip()[-2000:])
        print(applied.stdout.strip())

    def start(self, wait: bool = True, timeout: float = 240) -> None:
        alive = self.running()
        if alive and set(alive) == set(self.components):
            print(f"already running ({', '.join(f'{c}={p}' for c, p in alive.items())}) at {self.base_url}")
            return
        if alive:
            print(f"some components are running without the others ({alive}); restarting them all")
            self.stop()
        if port_in_use(self.port):
            raise PlatformError(
                f"port {self.port} is already in use by another program; stop it or choose another port "
                f"(make run PORT=8081)")
        self.prepare()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        for component in self.components:
            cmd = self.component_command(component)
            log = open(self.log_dir / f"{component}.log", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=PROJECT_ROOT, start_new_session=True)
            log.close()
            self._pid_file(component).write_text(str(proc.pid))
        if wait:
            try:
                self.wait_ready(timeout=timeout)
            except BaseException:
                self.stop()
                raise

    def component_command(self, component: str) -> list[str]:
        airflow = str(VENV_BIN / "airflow")
        if component.startswith("celery-worker"):
            # Each worker gets its own Celery node name and, through LIFECYCLE_WORKER_NAME (read by the
            # hostname callable of production mode), its own task-instance hostname. Concurrency comes from
            # AIRFLOW__CELERY__WORKER_CONCURRENCY, as in deploy/docker-compose.yaml.
            name = component.removeprefix("celery-worker-") or "1"
            return ["env", f"LIFECYCLE_WORKER_NAME=celery-worker-{name}", airflow, "celery", "worker",
                    "--celery-hostname", f"celery-worker-{name}@%h", "--skip-serve-logs"]
        return [airflow, component]

    def stop(self, deadline: float = 20) -> list[str]:
        """Stop every process this platform started: each component's process group and all their
        descendants (task supervisors may start their own groups). TERM, wait, then KILL."""
        pids = {}
        for component in self.components:
            pid_file = self._pid_file(component)
            if pid_file.exists():
                with contextlib.suppress(ValueError):
                    pids[component] = int(pid_file.read_text().strip())
        targets = _process_tree(set(pids.values()))
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + deadline
        while time.monotonic() < end and _live(targets):
            time.sleep(0.3)
        for pid in _live(targets | _process_tree(set(pids.values()))):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for component, pid in pids.items():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            self._pid_file(component).unlink(missing_ok=True)
        end = time.monotonic() + 10
        while port_in_use(self.port) and time.monotonic() < end:
            time.sleep(0.3)
        return list(pids)

    # -- API ------------------------------------------------------------------------------------
    def token(self, user: str = "admin", password: str | None = None) -> str:
        import requests

        password = password or self.ensure_passwords()[user]
        resp = requests.post(f"{self.base_url}/auth/token", json={"username": user, "password": password}, timeout=10)
        if resp.status_code not in (200, 201):
            raise PlatformError(f"login as {user} failed: {resp.status_code} {resp.text[:200]}")
        return resp.json()["access_token"]

    def api(self, method: str, path: str, user: str = "admin", **kwargs: Any) -> Any:
        import requests

        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return requests.request(method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=30, **kwargs)

    def expected_dags(self) -> list[str]:
        """Every DAG the factory builds for the valid use cases of this platform's config folder."""
        from include.lifecycle.config import load_all
        from lifecycle_ops.factory import STAGES, dag_id

        folder = self.env().get("LIFECYCLE_CONFIG_DIR")
        good, _ = load_all(Path(folder) if folder else None)
        return [dag_id(name, stage) for name in sorted(good) for stage in STAGES]

    def wait_ready(self, timeout: float = 240, dags: list[str] | None = None) -> None:
        import requests

        dags = dags if dags is not None else self.expected_dags()

        end = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < end:
            dead = [c for c in self.components if c not in self.running()]
            if dead:
                tail = ""
                log = self.log_dir / f"{dead[0]}.log"
                if log.exists():
                    tail = log.read_text(errors="replace")[-2500:]
                raise PlatformError(f"{', '.join(dead)} exited during start; last log lines:\n{tail}")
            try:
                health = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=3)
                if health.status_code == 200:
                    resp = self.api("GET", "/dags", params={"limit": 1000})
                    if resp.status_code == 200:
                        found = {d["dag_id"]: d for d in resp.json()["dags"]}
                        missing = [d for d in dags if d not in found]
                        if not missing:
                            for dag_id in dags:
                                if found[dag_id]["is_paused"]:
                                    self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
                            errors = self.api("GET", "/importErrors").json()
                            if errors.get("total_entries"):
                                raise PlatformError(f"DAG import errors: {json.dumps(errors)[:2000]}")
                            return
                        last = f"waiting for DAGs {missing}"
                    else:
                        last = f"GET /dags -> {resp.status_code}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(1.5)
        raise PlatformError(f"platform not ready after {timeout:.0f}s ({last}); logs in {self.log_dir}")

    def describe(self) -> str:
        pw = self.ensure_passwords()
        lines = [f"Airflow UI: {self.base_url}  (mode: {self.mode}, home: {self.home})", "Logins:"]
        lines += [f"  {u:<14} {pw[u]:<14} role {r}" for u, r in self.users.items()]
        lines.append(f"(passwords are in {self.passwords_file}; stop with `make stop`)")
        return "\n".join(lines)


def platform_from_env(port: int | None = None, mode: str | None = None) -> Platform:
    mode = mode or os.environ.get("LIFECYCLE_MODE", "embedded")
    port = port or int(os.environ.get("PORT", "8080"))
    default_home = PROJECT_ROOT / (".airflow-production" if mode == "production" else ".airflow")
    home = Path(os.environ.get("LIFECYCLE_AIRFLOW_HOME", default_home))
    if mode == "production":
        from scripts.production import production_platform

        return production_platform(home=home, port=port, workers=int(os.environ.get("LIFECYCLE_WORKERS", "2")))
    return Platform(home=home, port=port, mode=mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the lifecycle platform")
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--mode", choices=["embedded", "production"], default=None)
    args = parser.parse_args(argv)
    platform = platform_from_env(args.port, args.mode)
    try:
        if args.command == "start":
            started = time.monotonic()
            platform.start()
            print(f"ready in {time.monotonic() - started:.0f}s")
            print(platform.describe())
        elif args.command == "stop":
            stopped = platform.stop()
            print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
            if port_in_use(platform.port):
                print(f"warning: port {platform.port} is still in use by another program", file=sys.stderr)
                return 1
        elif args.command == "status":
            alive = platform.running()
            for component in platform.components:
                print(f"{component:<16} {'running pid ' + str(alive[component]) if component in alive else 'stopped'}")
            return 0 if len(alive) == len(platform.components) else 3
        elif args.command == "env":
            # Secrets are not printed: the *_CMD settings read them from files in the home instead.
            for key, value in sorted({**platform.env(), **platform.secret_commands()}.items()):
                secret = key.endswith(("FERNET_KEY", "JWT_SECRET", "SECRET_KEY"))
                if key.startswith(("AIRFLOW", "PYTHONPATH", "LIFECYCLE", "GX_")) and not secret:
                    # Database/broker URLs may carry a password: print them with it masked.
                    shown = re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", value)
                    print(f"export {key}={json.dumps(shown)}")
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    # Run the importable module's main, not this __main__ copy: scripts.production subclasses the
    # importable Platform, and its PlatformError must be the one main() catches.
    from scripts.lifecycle_platform import main as _main

    sys.exit(_main())
