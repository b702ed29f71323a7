"""The lifecycle platform: one Airflow installation run from this project (the CLI is ``lifecycle_platform.py``).

:class:`Platform` makes a git-ignored Airflow home, migrates the metadata DB, applies ``airflow_settings.yaml``
and starts the API server, scheduler, DAG processor and triggerer (the SME approval gate needs it), each in its
own process group with a pid file; in embedded mode also the local alert inbox (``scripts/alert_inbox.py``), which
``smtp_default`` and ``alerts_webhook`` then point at. ``stop`` stops exactly the process groups it started and
every descendant (TERM, a deadline, then KILL). ``scripts/production.py`` subclasses it; the end-to-end and
production tests use it with their own home, port and environment, so they exercise what a user runs.

Imported by task processes through ``scripts.production`` (the hostname callable): nothing heavy at module level.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from scripts import alert_inbox, db_settings, gate_access, lineage_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
EMBEDDED_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DEFAULT_USERS = {"admin": "admin", "sme_alice": "user", "sme_bob": "user", "data_engineer": "op"}
INBOX = "alert-inbox"


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


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie child of ours is reaped and counts as gone."""
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return False
    if _running(proc):
        return True
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return False


def process_tree(roots: set[int]) -> set[int]:
    """The roots, every member of their process groups, and all their descendants (live, not zombies).

    Group members count because a task supervisor's children are re-parented when it dies before them.
    """
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid in roots or os.getpgid(proc.pid) in roots:
                found[proc.pid] = proc
    for proc in list(found.values()):
        with contextlib.suppress(psutil.Error):
            found.update({child.pid: child for child in proc.children(recursive=True)})
    return {pid for pid, proc in found.items() if _running(proc)}


def live_pids(pids: set[int]) -> set[int]:
    return {pid for pid in pids if pid_alive(pid)}


def signal_tree(roots: set[int], sig: int) -> set[int]:
    """Send ``sig`` to each root's process group and to every process of their trees; return those pids."""
    targets = process_tree(roots)
    for pid in roots:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return targets


def stop_tree(roots: set[int], deadline: float) -> set[int]:
    """TERM the trees of ``roots``, wait up to ``deadline`` s, then KILL whatever is left (new children too)."""
    targets = signal_tree(roots, signal.SIGTERM)
    end = time.monotonic() + deadline
    while time.monotonic() < end and live_pids(targets):
        time.sleep(0.3)
    killed = live_pids(targets | process_tree(roots))
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + 5
    while time.monotonic() < end and live_pids(killed | roots):  # pid_alive reaps our own children
        time.sleep(0.1)
    return targets


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
        self.users.setdefault(gate_access.GATE_USER, gate_access.GATE_ROLE)  # the gate's read-only login
        if self.inbox_channels() and INBOX not in self.components:
            self.components = (*self.components, INBOX)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    # -- the local alert inbox (embedded mode) ---------------------------------------------------
    @property
    def inbox_dir(self) -> Path:
        return self.home / "alerts" / "inbox"

    def inbox_channels(self) -> tuple[str, ...]:
        """The alert channels the local inbox receives: in embedded mode, those the environment does not send
        elsewhere (``ALERT_SMTP_HOST``/``ALERT_SMTP_PORT``, ``ALERT_WEBHOOK_URL`` name real receivers)."""
        if self.mode != "embedded":
            return ()
        env = {**os.environ, **self.extra_env}
        email = not (env.get("ALERT_SMTP_HOST") or env.get("ALERT_SMTP_PORT"))
        return tuple(c for c, ours in (("email", email), ("webhook", not env.get("ALERT_WEBHOOK_URL"))) if ours)

    def inbox_ports(self) -> dict[str, int] | None:
        return alert_inbox.read_ports(self.run_dir / "alert-inbox.json") if self.inbox_channels() else None

    def _inbox_env(self) -> dict[str, str]:
        """ALERT_* values that point ``smtp_default`` / ``alerts_webhook`` (airflow_settings.yaml) at the inbox."""
        ports, channels = self.inbox_ports(), self.inbox_channels()
        if not ports:
            return {}
        env = {}
        if "email" in channels:
            env.update(ALERT_SMTP_HOST=alert_inbox.HOST, ALERT_SMTP_PORT=str(ports["smtp"]), ALERT_SMTP_USER="",
                       ALERT_SMTP_PASSWORD="")  # the inbox has no AUTH
        if "webhook" in channels:
            env["ALERT_WEBHOOK_URL"] = f"http://{alert_inbox.HOST}:{ports['webhook']}{alert_inbox.WEBHOOK_PATH}"
        return env

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
            **db_settings.sqlite_env(),  # wait for SQLite's write lock instead of a 500 after 5 s
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__SECRET_KEY": sec["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
            # Airflow's 1 s idle sleep was most of a lifecycle run's time with no task running (bench 2)
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
            "LIFECYCLE_ARTIFACT_ROOT": env.get("LIFECYCLE_ARTIFACT_ROOT", str(PROJECT_ROOT / ".artifacts")),
            # No network at run time: Great Expectations would otherwise try to send usage analytics.
            "GX_ANALYTICS_ENABLED": "False",
            **lineage_settings.openlineage_env(self.home, env),  # OpenLineage: files under the home
            "NO_PROXY": "*", "no_proxy": "*",
        })
        env.update({**self._inbox_env(), **gate_access.connection_env(self.base_url, self.ensure_passwords()[
            gate_access.GATE_USER]), **self.extra_env})
        return env

    # -- process bookkeeping --------------------------------------------------------------------
    def _pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def running(self) -> dict[str, int]:
        alive = {}
        for component in self.components:
            with contextlib.suppress(OSError, ValueError):  # no pid file, or a half-written one
                pid = int(self._pid_file(component).read_text().strip())
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
        if INBOX in self.components:  # before prepare(): the connections it writes name the inbox's ports
            alert_inbox.allocate_ports(self.run_dir / "alert-inbox.json")
        self.prepare()
        self.start_components(self.components)
        if wait:
            try:
                self.wait_ready(timeout=timeout)
            except BaseException:
                self.stop()
                raise

    def start_components(self, components: tuple[str, ...]) -> None:
        """Start each component in its own session (a process group we can stop whole), log and pid file."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        for component in components:
            with open(self.log_dir / f"{component}.log", "ab") as log:  # the child keeps its own copy
                proc = subprocess.Popen(self.launch_command(component), env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT, start_new_session=True)
            self._pid_file(component).write_text(str(proc.pid))

    def launch_command(self, component: str) -> list[str]:  # production mode supervises it (scripts/supervise.py)
        return self.component_command(component)

    def component_command(self, component: str) -> list[str]:
        if component == INBOX:
            ports = self.inbox_ports()
            if not ports:
                raise PlatformError("the alert inbox has no ports yet (start() allocates them)")
            return alert_inbox.command(str(VENV_BIN / "python"), self.inbox_dir, ports)
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
        for component in dict.fromkeys((*self.components, INBOX)):  # an inbox left from another start too
            pid_file = self._pid_file(component)
            if pid_file.exists():
                with contextlib.suppress(ValueError):
                    pids[component] = int(pid_file.read_text().strip())
        stop_tree(set(pids.values()), deadline)
        for component in pids:
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

    def wait_ready(self, timeout: float = 240, dags: list[str] | None = None) -> None:
        """Until the API answers and every DAG the factory builds for the valid use cases is parsed."""
        import requests

        from include.lifecycle.config import load_all
        from lifecycle_ops.factory import STAGES, dag_id

        folder = self.env().get("LIFECYCLE_CONFIG_DIR")
        dags = dags or [dag_id(n, s) for n in sorted(load_all(Path(folder) if folder else None)[0]) for s in STAGES]

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
            ports = self.inbox_ports() if INBOX in self.components else None
            if ports and not all(port_in_use(port) for port in ports.values()):
                last = "waiting for the alert inbox"
                time.sleep(0.5)
                continue
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
        ports = self.inbox_ports()
        if ports:
            lines.append(f"Alerts ({', '.join(self.inbox_channels())}) arrive in the local inbox: one JSON file each "
                         f"in {self.inbox_dir}, newest listed at http://{alert_inbox.HOST}:{ports['webhook']}/")
        return "\n".join(lines)
