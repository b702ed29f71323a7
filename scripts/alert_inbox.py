"""The embedded platform's local alert inbox: an SMTP receiver (aiosmtpd) and a webhook receiver on 127.0.0.1.

    python scripts/alert_inbox.py --folder <AIRFLOW_HOME>/alerts/inbox --smtp-port 2525 --webhook-port 8765

Every mail and every webhook POST becomes one JSON file in the folder (``include/lifecycle/inbox.py``), and
``GET /`` on the webhook port lists the newest records as JSON. ``make run`` starts it as one more platform
component (own process group and pid file) and points ``smtp_default`` / ``alerts_webhook`` at it, so a newcomer
sees every alert without a mail server; ``make stop`` stops it with the rest. Loopback only, no AUTH, no TLS.

The module level imports nothing heavy: ``scripts.platform_core`` uses :func:`allocate_ports` and
:func:`command` from here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
WEBHOOK_PATH = "/hooks/lifecycle"
MAX_BODY = 1 << 20  # 1 MiB: a Slack payload is a few kB
# Fixed inbox ports instead of free ones, e.g. to keep a mail client pointed at the same port.
PORT_ENV = {"smtp": "ALERT_INBOX_SMTP_PORT", "webhook": "ALERT_INBOX_WEBHOOK_PORT"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def read_ports(state_file: Path) -> dict[str, int] | None:
    """The ports the inbox of this run dir uses (``{"smtp": .., "webhook": ..}``), None before the first start."""
    try:
        data = json.loads(Path(state_file).read_text())
        return {"smtp": int(data["smtp"]), "webhook": int(data["webhook"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def allocate_ports(state_file: Path, env: dict[str, str] | None = None) -> dict[str, int]:
    """Keep the previous ports while they are free (stable for the user), else pick free ones; persist them."""
    env = dict(os.environ if env is None else env)
    previous = read_ports(state_file) or {}
    ports: dict[str, int] = {}
    for channel, var in PORT_ENV.items():
        if env.get(var):
            ports[channel] = int(env[var])
        elif previous.get(channel) and not _port_taken(previous[channel]):
            ports[channel] = previous[channel]
        else:
            ports[channel] = _free_port()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(ports))
    return ports


def command(python: str, folder: Path, ports: dict[str, int]) -> list[str]:
    return [python, str(Path(__file__).resolve()), "--folder", str(folder), "--smtp-port", str(ports["smtp"]),
            "--webhook-port", str(ports["webhook"])]


def _webhook_server(folder: Path, port: int) -> ThreadingHTTPServer:
    from include.lifecycle.inbox import read_inbox, webhook_record, write_record

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, b"payload too large")
                return
            body = self.rfile.read(length) if length else b""
            write_record(folder, webhook_record(self.path, self.headers.get("Content-Type"), body))
            self._answer(200, b"ok")

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self._answer(200, json.dumps(read_inbox(folder), indent=2).encode(), "application/json")

        def log_message(self, format: str, *args: Any) -> None:
            return  # one file per alert is the log

    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    return server


def _smtp_controller(folder: Path, port: int) -> Any:
    from aiosmtpd.controller import Controller

    from include.lifecycle.inbox import email_record, write_record

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
            raw = bytes(envelope.original_content or envelope.content)
            write_record(folder, email_record(raw, envelope.mail_from, envelope.rcpt_tos))
            return "250 Message accepted for delivery"

    return Controller(Handler(), hostname=HOST, port=port, ready_timeout=10.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local alert inbox (SMTP + webhook receiver on 127.0.0.1)")
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--smtp-port", required=True, type=int)
    parser.add_argument("--webhook-port", required=True, type=int)
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    try:
        server = _webhook_server(args.folder, args.webhook_port)
        controller = _smtp_controller(args.folder, args.smtp_port)
        controller.start()
    except (OSError, RuntimeError) as exc:
        print(f"alert inbox cannot start: {exc}", file=sys.stderr)
        return 1
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"alert inbox: SMTP {HOST}:{args.smtp_port}, webhook http://{HOST}:{args.webhook_port}{WEBHOOK_PATH}, "
          f"records in {args.folder}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    with contextlib.suppress(Exception):
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))  # run as a file: make `include` importable
    sys.exit(main())
