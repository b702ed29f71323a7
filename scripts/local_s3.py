"""A local S3-compatible store for production mode on one machine: moto's server as a platform-managed process.

Used when ``LIFECYCLE_S3_ENDPOINT_URL`` is not set (``scripts/production.py``) and by the production tests. Its
objects live in memory until it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.platform_core import VENV_BIN, PlatformError, free_port, pid_alive, port_in_use, stop_tree

# moto accepts any credentials; real stores take them from the environment (never from a file in git).
MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "moto-access-key", "AWS_SECRET_ACCESS_KEY": "moto-secret-key"}


def s3_client(endpoint_url: str | None, **credentials: str):
    import boto3

    creds = {k.lower(): v for k, v in (credentials or {}).items() if v}
    return boto3.client("s3", endpoint_url=endpoint_url or None,
                        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), **creds)


def ensure_bucket(endpoint_url: str | None, bucket: str, **credentials: str) -> bool:
    """Create ``bucket`` unless it exists; return True if created."""
    from botocore.exceptions import ClientError

    client = s3_client(endpoint_url, **credentials)
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    client.create_bucket(Bucket=bucket)
    return True


@dataclass
class MotoServer:
    """moto's S3-compatible HTTP server as a subprocess in its own process group, tracked by a pid file."""

    run_dir: Path
    port: int | None = None
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        state = self._state()
        if self.port is None and state:
            self.port = int(state["port"])

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "moto.pid"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "moto.json"

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise PlatformError("moto server has no port yet; start it first")
        return f"http://{self.host}:{self.port}"

    def _state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self, timeout: float = 30) -> MotoServer:
        """Start it (or adopt the one this run dir already runs) and wait until it answers S3 calls."""
        if self.pid() is not None and self.port is not None and port_in_use(self.port, self.host):
            return self
        self.port = self.port or free_port()
        if port_in_use(self.port, self.host):
            raise PlatformError(f"port {self.port} for the local S3 server is already in use")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.run_dir / "moto.log", "ab")  # noqa: SIM115 - handed to the child
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.proc = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", self.host, "-p", str(self.port)],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        log.close()
        self.pid_file.write_text(str(self.proc.pid))
        self.state_file.write_text(json.dumps({"port": self.port, "pid": self.proc.pid}))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                tail = (self.run_dir / "moto.log").read_text(errors="replace")[-1500:]
                raise PlatformError(f"moto_server exited ({self.proc.returncode}):\n{tail}")
            if port_in_use(self.port, self.host):
                with contextlib.suppress(Exception):
                    s3_client(self.endpoint, **MOTO_CREDENTIALS).list_buckets()
                    return self
            time.sleep(0.2)
        self.stop()
        raise PlatformError(f"moto_server did not answer on {self.endpoint} within {timeout:.0f}s")

    def stop(self, deadline: float = 10) -> bool:
        """Stop the process group (TERM, deadline, KILL); True if something was running."""
        pid = self.pid()
        if pid is None and self.proc is not None and self.proc.poll() is None:
            pid = self.proc.pid
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            self.state_file.unlink(missing_ok=True)
            return False
        stop_tree({pid}, deadline)  # reaps it too when it is our child
        if self.proc is not None:
            self.proc.poll()
        self.pid_file.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
        return True
