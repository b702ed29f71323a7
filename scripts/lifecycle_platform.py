"""Start, stop and inspect the lifecycle platform (``make run`` / ``make stop`` / ``make status``).

    python scripts/lifecycle_platform.py start [--port 8080] [--mode embedded|production]
    python scripts/lifecycle_platform.py stop | status | env

``start`` prepares the Airflow home and starts every component (see :mod:`scripts.platform_core`), waits until
the API answers and every lifecycle DAG is parsed and unpaused, then prints the UI address, the logins and
where alerts arrive. ``stop`` stops exactly what was started and checks the port is free again. Starting twice
does not start a second copy. ``--mode production`` (or ``MODE=production``) uses :mod:`scripts.production`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the `scripts` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

from scripts.platform_core import (  # noqa: E402 - after the path set-up above
    DEFAULT_USERS,
    EMBEDDED_COMPONENTS,
    INBOX,
    PROJECT_ROOT,
    VENV_BIN,
    Platform,
    PlatformError,
    free_port,
    pid_alive,
    port_in_use,
)

# Re-exported: tests, benchmarks and notebooks import these from here.
__all__ = ["DEFAULT_USERS", "EMBEDDED_COMPONENTS", "INBOX", "PROJECT_ROOT", "VENV_BIN", "Platform",
           "PlatformError", "free_port", "main", "pid_alive", "platform_from_env", "port_in_use"]


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
    parser.add_argument("command", choices=["start", "stop", "status", "env", "settings"])
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
        elif args.command == "settings":
            # Re-apply airflow_settings.yaml and every use case's pools/Variables (a new YAML on a running platform).
            platform.prepare()
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
    sys.exit(main())
