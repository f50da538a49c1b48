"""A small HTML page on 127.0.0.1 for the drills: the stand-in web app the `frontend` target and the browser
check load. The frontend-down drill stops it and starts it again on the same port, as a crashed web server
would be; the slow-page drill sets `delay` (seconds) to hold the main document back, so the page's load time
in Chromium is the delay plus the browser's own work. /favicon.ico answers 204 (no console error)."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = (b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Converge</title></head>"
        b"<body><h1>Converge NPS</h1><p>Sessions, connections and messages for the event.</p></body></html>\n")


class PageServer:
    """start()/stop() like the stack's processes; `pid` is ours while it serves (it runs in a thread of ours)."""

    def __init__(self) -> None:
        self.port = 0
        self.delay = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int | None:
        return os.getpid() if self._server is not None else None

    def start(self) -> PageServer:
        if self._server is not None:
            return self
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/favicon.ico":
                    self.send_response(204)
                    self.end_headers()
                    return
                time.sleep(page.delay)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)  # port 0 first, then the same one
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="drill-page", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.delay = 0.0
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None
