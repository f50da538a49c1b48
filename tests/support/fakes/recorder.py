"""A small real HTTP server on 127.0.0.1 that records every request and can be told to fail.

Stands in for external services that cannot run here (Sentry ingest, Slack, Twilio). Runs in a
thread of the test process; `stop()` shuts it down and joins the thread.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.fakes.threaded import ThreadedServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class RecordingServer(ThreadedServer):
    def __init__(self, ok_status: int = 200, ok_body: bytes = b"ok", content_type: str | None = None) -> None:
        self.content_type = content_type
        self.requests: list[Recorded] = []
        self.failures: deque[Failure] = deque()
        self.ok_status = ok_status
        self.ok_body = ok_body
        self._lock = threading.Lock()
        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), self._handler()))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int, status: int = 500, headers: dict[str, str] | None = None,
                  delay: float = 0.0) -> None:
        for _ in range(count):
            self.failures.append(Failure(status, headers or {}, delay=delay))

    def respond_next(self, responses: Iterable[Failure]) -> None:
        """Replace the queued responses: the next requests get these, in order, then the ok response."""
        with self._lock:
            self.failures.clear()
            self.failures.extend(responses)

    def reset(self) -> None:
        """Forget what was received and any failures still queued (one server shared by a module's tests)."""
        with self._lock:
            self.requests.clear()
            self.failures.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} request(s), got {len(self.requests)}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                with outer._lock:
                    failure = outer.failures.popleft() if outer.failures else None
                    status = failure.status if failure else outer.ok_status
                    outer.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body, status))
                if failure and failure.delay:
                    time.sleep(failure.delay)
                payload = failure.body if failure else outer.ok_body
                self.send_response(status)
                for k, v in (failure.headers if failure else {}).items():
                    self.send_header(k, v)
                if outer.content_type:
                    self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        return Handler
