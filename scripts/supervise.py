"""Keep one platform component running, as systemd's ``Restart=on-failure`` would (production mode only).

    python scripts/supervise.py --name scheduler -- airflow scheduler

Airflow's components may exit when they lose the metadata DB (a PostgreSQL restart, a fail-over) and expect a
supervisor to start them again: systemd, Kubernetes, or compose's ``restart: unless-stopped`` in
``deploy/docker-compose.yaml``. ``make run MODE=production`` has none of those, so each component runs under this
small supervisor (:meth:`scripts.production.ProductionPlatform.launch_command`):

* the component runs as a child **in the supervisor's process group**, so ``make stop`` (which signals the group
  its pid file names, then every descendant) stops both; after SIGTERM/SIGINT/SIGHUP nothing is restarted;
* an exit with a non-zero code, or by a signal the supervisor did not send, is restarted after a backoff
  (1 s, doubling up to 30 s; back to 1 s once the component stayed up for 60 s); a clean exit (code 0) is not;
* a component that fails ``START_LIMIT`` (5) times in a row, each run within 60 s of its start, is in a crash
  loop (a configuration error, not a fault to ride out): the supervisor exits with its code, so ``wait_ready``
  reports the component and its log. Not on the first quick failure: a worker started seconds before a
  PostgreSQL restart dies young too, and must come back (seen in CI: it stayed down);
* every exit and restart is logged, with a ``supervise:`` prefix, in the component's own log.

The embedded platform does not use it: its fault tests kill components and expect them to stay dead.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # up this long: the next failure starts the backoff again from BACKOFF_FIRST
START_LIMIT = 5  # consecutive runs failing within HEALTHY_AFTER: give up (backoffs 1+2+4+8 s outlast a DB restart)
PREFIX = "supervise:"


def log(name: str, message: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} {PREFIX} {name}: {message}", flush=True)


def describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, name: str, command: list[str], backoff: float = BACKOFF_FIRST,
                 healthy_after: float = HEALTHY_AFTER) -> None:
        self.name, self.command = name, command
        self.first_backoff, self.healthy_after = backoff, healthy_after
        self.stopping = False

    def _stop(self, _signum: int, _frame) -> None:
        self.stopping = True

    def _wait_child(self, child: subprocess.Popen) -> int:
        """The child's exit code. Once stopping, a child still running 2 s later (the signal reached only the
        supervisor, as with ``kill <pid>``) gets SIGTERM; ``make stop`` signals the whole group itself."""
        stop_seen: float | None = None
        forwarded = False
        while (code := child.poll()) is None:
            if self.stopping and not forwarded:
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen > 2:
                    with contextlib.suppress(ProcessLookupError):
                        child.terminate()
                    forwarded = True
            time.sleep(0.2)
        return code

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(max(0.0, min(0.2, end - time.monotonic())))

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._stop)
        backoff, restarts, quick = self.first_backoff, 0, 0
        while True:
            started = time.monotonic()
            code = self._wait_child(subprocess.Popen(self.command))
            up = time.monotonic() - started
            if self.stopping:
                return 0
            if code == 0:
                log(self.name, f"exited cleanly after {up:.0f}s; not restarting")
                return 0
            quick = quick + 1 if up < self.healthy_after else 0
            if quick >= START_LIMIT:
                log(self.name, f"{describe(code)} {up:.0f}s after its start, the {quick}th run in a row to fail within "
                               f"{self.healthy_after:g}s; a crash loop, giving up")
                return code if code > 0 else 1
            if up >= self.healthy_after:
                backoff = self.first_backoff
            restarts += 1
            log(self.name, f"{describe(code)} after {up:.0f}s up; restart {restarts} in {backoff:g}s")
            self._sleep(backoff)
            if self.stopping:
                return 0
            backoff = min(backoff * 2, BACKOFF_MAX)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the component's name, for the log")
    parser.add_argument("--backoff", type=float, default=BACKOFF_FIRST, help="first wait before a restart (s)")
    parser.add_argument("--healthy-after", type=float, default=HEALTHY_AFTER,
                        help="seconds up after which the backoff starts again from --backoff")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to keep running")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return Supervisor(args.name, command, args.backoff, args.healthy_after).run()


if __name__ == "__main__":
    sys.exit(main())
