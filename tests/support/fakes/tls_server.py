"""A small HTTP or HTTPS server on 127.0.0.1 for the HTTP probe tests, run in a thread and stopped by stop().

Routes: /ok (200 text), /json (200 {"status": "ok"}), /redirect/N (a chain of N redirects ending at /ok),
/loop (redirects to itself). With an ssl.SSLContext it serves HTTPS with that context's certificate.
"""

from __future__ import annotations

import json
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any

from tests.support.fakes.threaded import ThreadedServer


class _Handler(BaseHTTPRequestHandler):
    def setup(self) -> None:
        # The handshake runs here, in the request's thread, so a client that never completes it (or
        # rejects our certificate) cannot block the accept loop.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def _send(self, status: int, body: bytes, content_type: str = "text/plain",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok":
            self._send(200, b"hello from the fake server")
        elif path == "/json":
            self._send(200, json.dumps({"status": "ok"}).encode(), "application/json")
        elif path == "/loop":
            self._send(302, b"", headers={"Location": "/loop"})
        elif path.startswith("/redirect/") and path[len("/redirect/"):].isdigit():
            left = int(path[len("/redirect/"):])
            self._send(302, b"", headers={"Location": "/ok" if left <= 1 else f"/redirect/{left - 1}"})
        else:
            self._send(404, b"not found")

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that reject the certificate abort the handshake: expected in these tests


class FakeHttpServer(ThreadedServer):
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(_Server(ssl_context))
        self.scheme = "https" if ssl_context is not None else "http"

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"
