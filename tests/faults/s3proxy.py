"""A fault-injecting HTTP proxy of ours in front of a real S3-compatible server (moto), for the fault suite.

Every request goes to the upstream unchanged unless the ``plan`` picks a fault for it:

* ``503`` / ``500``: answered at once with S3's ``SlowDown`` / ``InternalError``; upstream never sees it;
* ``500-after``: forwarded (the write happens), then the answer is replaced by a 500: a lost answer;
* ``stall``: the connection hangs ``stall_s`` seconds, then closes without an answer; upstream never sees it;
* ``drop``: half the request body is read, then the connection is closed: an upload cut mid-way.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Plan = Callable[[str, str, int], str | None]  # (method, path, request number) -> fault or None
ERRORS = {"503": (503, "SlowDown", "Please reduce your request rate."),
          "500": (500, "InternalError", "We encountered an internal error. Please try again.")}
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


class FaultyS3Proxy:
    def __init__(self, upstream: str, plan: Plan, stall_s: float = 3.0) -> None:
        self.upstream = urlsplit(upstream)
        self.plan = plan
        self.stall_s = stall_s
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._n = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                with proxy._lock:
                    proxy._n += 1
                    n = proxy._n
                fault = proxy.plan(self.command, self.path, n)
                length = int(self.headers.get("Content-Length") or 0)
                if fault == "drop":
                    self.rfile.read(length // 2)
                    proxy._count(fault)
                    self.close_connection = True
                    self.connection.close()
                    return
                body = self.rfile.read(length) if length else b""
                if fault in ERRORS:
                    proxy._count(fault)
                    self._error(*ERRORS[fault])
                    return
                if fault == "stall":
                    proxy._count(fault)
                    time.sleep(proxy.stall_s)
                    self.close_connection = True
                    self.connection.close()
                    return
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                if fault == "500-after":
                    proxy._count(fault)
                    self._error(*ERRORS["500"])
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _error(self, status: int, code: str, message: str) -> None:
                xml = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}'
                       f"</Message></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _count(self, fault: str) -> None:
        with self._lock:
            self.injected[fault] += 1

    def _forward(self, method: str, path: str, headers, body: bytes):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            conn.request(method, path, body=body or None,
                         headers={k: v for k, v in headers.items() if k.lower() not in HOP})
            resp = conn.getresponse()
            payload = resp.read()
            with self._lock:
                self.forwarded += 1
            return resp.status, resp.getheaders(), payload
        finally:
            conn.close()

    def __enter__(self) -> FaultyS3Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
