"""The drills' stand-in web page: it comes back on the same port after a stop (frontend-down), and holds its
answer back by `delay` (slow-page)."""

from __future__ import annotations

import time

import httpx
import pytest

from devstack.drills.page import PageServer


def test_a_stopped_page_refuses_then_serves_again_on_the_same_port() -> None:
    page = PageServer().start()
    try:
        url = page.url
        assert httpx.get(url, timeout=5).status_code == 200
        assert httpx.get(url + "favicon.ico", timeout=5).status_code == 204
        page.stop()
        assert page.pid is None
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)
        page.start()
        assert page.url == url and page.pid is not None
        assert b"Converge" in httpx.get(url, timeout=5).content
    finally:
        page.stop()


def test_the_delay_holds_the_document_back_and_a_stop_clears_it() -> None:
    page = PageServer().start()
    try:
        page.delay = 0.6
        start = time.monotonic()
        httpx.get(page.url, timeout=5)
        assert time.monotonic() - start >= 0.6
        page.stop()
        assert page.delay == 0.0
    finally:
        page.stop()
