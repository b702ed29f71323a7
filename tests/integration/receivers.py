"""Real local receivers for alert delivery tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver.

Both bind 127.0.0.1 on a free port, collect what they receive in a list and stop cleanly::

    with SmtpReceiver(login="alerts", password="pw") as smtp, WebhookReceiver() as hook:
        ...  # point connections at smtp.port / hook.url
        smtp.wait_for(1)  # -> [ReceivedMail(...)]
        hook.wait_for(1)  # -> [ReceivedRequest(...)]

``receiver.env()`` gives the ``AIRFLOW_CONN_*`` variable (JSON) for an Airflow you start in a subprocess;
``receiver.connection()`` the same connection as a dict. ``WebhookReceiver(status=503)`` answers every request
with that status; ``WebhookReceiver(delay=2)`` sleeps before answering (to exercise client timeouts).
``dead_port()`` returns a loopback port nobody listens on. The pytest fixtures ``smtp_receiver`` and
``webhook_receiver`` wrap the classes (import them into a conftest or a test module).
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = [
    "LOOPBACK",
    "ReceivedMail",
    "ReceivedRequest",
    "SmtpReceiver",
    "WebhookReceiver",
    "conn_env_var",
    "dead_port",
    "free_port",
    "smtp_receiver",
    "webhook_receiver",
]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dead_port(host: str = LOOPBACK) -> int:
    """A loopback port with no listener: connecting to it is refused."""
    return free_port(host)


def conn_env_var(conn_id: str) -> str:
    """Environment variable Airflow reads a connection from: ``AIRFLOW_CONN_`` + upper-cased id."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _wait(items: list[Any], count: int, timeout: float, what: str) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(items) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"expected {count} {what}, got {len(items)} within {timeout:g}s")
        time.sleep(0.01)
    return list(items)


# ------------------------------------------------------------------------------------------------ SMTP


@dataclass
class ReceivedMail:
    """One message as the SMTP server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    auth_login: str | None = None
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        self.message = email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[assignment]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""


class _QuietController(Controller):
    """Controller whose SMTP sessions do not warn about AUTH without TLS (deliberate: loopback only)."""

    def factory(self) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()


class SmtpReceiver:
    """aiosmtpd server on loopback; optional AUTH (plain-text allowed, it is loopback) with one login/password."""

    def __init__(self, login: str | None = None, password: str | None = None, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = 0
        self.login = login
        self.password = password
        self.messages: list[ReceivedMail] = []
        self.auth_attempts: list[tuple[str, bool]] = []  # (login, accepted) — never the password
        self._controller: Any = None

    # aiosmtpd handler hook
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode() if auth is not None and hasattr(auth, "login") else None
        self.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=bytes(envelope.original_content or envelope.content),
                auth_login=login,
            )
        )
        return "250 Message accepted for delivery"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        ok = login == self.login and auth_data.password.decode() == (self.password or "")
        self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpReceiver:
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd logs every command; warns about AUTH w/o TLS
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False, auth_required=True)
        last_error: Exception | None = None
        for _ in range(5):  # the free port can be taken between probe and bind: retry
            port = free_port(self.host)
            controller = _QuietController(self, hostname=self.host, port=port, ready_timeout=5.0, **kwargs)
            try:
                controller.start()
            except (OSError, RuntimeError) as exc:
                last_error = exc
                continue
            self._controller, self.port = controller, port
            return self
        raise RuntimeError(f"could not start SMTP receiver: {last_error}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until ``count`` messages arrived (TimeoutError otherwise)."""
        return _wait(self.messages, count, timeout, "mail(s)")

    def connection(self, **extra: Any) -> dict[str, Any]:
        """Airflow connection (JSON form) pointing at this server, plain SMTP (no SSL/STARTTLS)."""
        conn: dict[str, Any] = {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5, **extra},
        }
        if self.login is not None:
            conn.update(login=self.login, password=self.password)
        return conn

    def env(self, conn_id: str = "smtp_default", **extra: Any) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": json}`` for a subprocess (an Airflow you start) or ``monkeypatch.setenv``."""
        return {conn_env_var(conn_id): json.dumps(self.connection(**extra))}

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------------ HTTP


@dataclass
class ReceivedRequest:
    """One request as the webhook receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class WebhookReceiver:
    """Threaded HTTP server on loopback recording every request; answers ``status`` after ``delay`` seconds."""

    def __init__(self, status: int = 200, delay: float = 0.0, host: str = LOOPBACK) -> None:
        self.host = host
        self.status = status
        self.delay = delay
        self.requests: list[ReceivedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._release = threading.Event()  # set on stop so delayed handlers finish at once

    @property
    def port(self) -> int:
        """The bound port (still readable after stop, for assertions on log lines)."""
        assert self._port, "receiver not started"
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append(
                    ReceivedRequest(method="POST", path=self.path, headers=dict(self.headers.items()), body=body)
                )
                if receiver.delay:
                    receiver._release.wait(receiver.delay)
                payload = b"ok" if receiver.status < 300 else b"receiver unavailable"
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._port = int(self._server.server_address[1])
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until ``count`` requests arrived (TimeoutError otherwise)."""
        return _wait(self.requests, count, timeout, "request(s)")

    def connection(self, endpoint: str = "/hooks/alerts", **extra: Any) -> dict[str, Any]:
        """Airflow connection (JSON form) pointing at this receiver."""
        return {
            "conn_type": "http",
            "host": self.host,
            "port": self.port,
            "schema": "http",
            "extra": {"endpoint": endpoint, **extra},
        }

    def env(self, conn_id: str = "alerts_webhook", endpoint: str = "/hooks/alerts", **extra: Any) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": json}`` for a subprocess (an Airflow you start) or ``monkeypatch.setenv``."""
        return {conn_env_var(conn_id): json.dumps(self.connection(endpoint=endpoint, **extra))}

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """An SMTP server requiring login ``alerts`` / password ``smtp-pw-Zq81x`` (a recognisable secret)."""
    with SmtpReceiver(login="alerts", password="smtp-pw-Zq81x") as receiver:
        yield receiver


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver answering 200."""
    with WebhookReceiver() as receiver:
        yield receiver
