"""Upload dashboards through Grafana's HTTP API (POST /api/dashboards/db), with a service-account token.

The token goes only into the Authorization header: errors name the dashboard, the URL (without any
user:password part) and what Grafana answered, never the token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from monitor.core.redact import safe_url

MESSAGE = "converge-monitor push-dashboards"


class GrafanaError(RuntimeError):
    """Grafana could not be reached or refused a request; the message says which and why."""


@dataclass(frozen=True)
class Pushed:
    uid: str
    title: str
    url: str  # the dashboard's address in Grafana (its answer's `url`), or "" if it gave none
    version: int | None


def _answer(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:200] or resp.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("status") or body)[:200]
    return str(body)[:200]


class GrafanaClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise GrafanaError(f"--grafana-url: expected an http:// or https:// URL, got {safe_url(base_url)!r}")
        if not token:
            raise GrafanaError("GRAFANA_TOKEN is empty: set it to a Grafana service-account token")
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def __repr__(self) -> str:
        return f"GrafanaClient({safe_url(self.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GrafanaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, what: str, json: Any = None) -> httpx.Response:
        try:
            return self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise GrafanaError(f"{what}: cannot reach Grafana at {safe_url(self.base_url)}: "
                               f"{type(exc).__name__}: {exc}") from None

    def ensure_folder(self, uid: str, title: str) -> None:
        """Create the folder unless it exists."""
        what = f"folder {uid!r}"
        resp = self._request("GET", f"/api/folders/{uid}", what)
        if resp.status_code == 200:
            return
        if resp.status_code != 404:
            raise GrafanaError(f"{what}: Grafana answered HTTP {resp.status_code}: {_answer(resp)}")
        resp = self._request("POST", "/api/folders", what, json={"uid": uid, "title": title})
        if resp.status_code not in (200, 201, 409, 412):  # 409/412: someone created it meanwhile
            raise GrafanaError(f"{what}: Grafana refused to create it: HTTP {resp.status_code}: {_answer(resp)}")

    def push(self, dashboard: dict[str, Any], folder_uid: str | None = None) -> Pushed:
        """Create or overwrite one dashboard (matched by uid)."""
        uid, title = str(dashboard.get("uid")), str(dashboard.get("title"))
        payload: dict[str, Any] = {"dashboard": {**dashboard, "id": None}, "overwrite": True, "message": MESSAGE}
        if folder_uid:
            payload["folderUid"] = folder_uid
        what = f"dashboard {uid} ({title})"
        resp = self._request("POST", "/api/dashboards/db", what, json=payload)
        if resp.status_code != 200:
            hint = {401: " (is GRAFANA_TOKEN valid?)", 403: " (the token needs the Editor role or dashboards:write)"}
            raise GrafanaError(f"{what}: Grafana refused it: HTTP {resp.status_code}: {_answer(resp)}"
                               f"{hint.get(resp.status_code, '')}")
        body = resp.json() if resp.content else {}
        version = body.get("version") if isinstance(body, dict) else None
        url = str(body.get("url") or "") if isinstance(body, dict) else ""
        return Pushed(uid, title, url, version if isinstance(version, int) else None)


def push_all(client: GrafanaClient, dashboards: Iterable[dict[str, Any]], folder_uid: str | None = None,
             folder_title: str = "Converge") -> list[Pushed]:
    """Push each dashboard in turn; stops at the first failure (GrafanaError)."""
    if folder_uid:
        client.ensure_folder(folder_uid, folder_title)
    return [client.push(d, folder_uid) for d in dashboards]
