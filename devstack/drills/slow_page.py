"""The slow-page drill's page: a small HTML page on 127.0.0.1 whose answer the drill can delay while it runs.

The monitor's browser target loads it in Chromium; `delay` (seconds) holds the main document back, so the
page's load time is the delay plus the browser's own work. /favicon.ico answers 204 (no console error).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = (b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Converge</title></head>"
        b"<body><h1>Converge NPS</h1><p>Sessions, connections and messages for the event.</p></body></html>")


class SlowPage:
    def __init__(self) -> None:
        self.delay = 0.0
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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="drill-page", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> SlowPage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.delay = 0.0
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
