"""The stack a drill runs against.

own_stack(): the default. Private PostgreSQL and Redis from the local binaries, the API (one worker,
CONVERGE_FAULTS=1, TRUSTED_PROXY_HEADER=x-forwarded-for) migrated and seeded, light synthetic traffic,
a local TLS target, and the monitor on drill_config.py's config. Every process is ours, stopped by PID.

external_stack(config): the stack a config names, loopback hosts only. The drill cannot stop and start
its processes, so the drills that need that are 'not run'. If no monitor answers at the config's
server address, the drill starts one on that config (and stops it afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from alerts.rules import Params, Rule
from devstack.drills import catalog
from devstack.drills.drill_config import (
    BACKUP_DIR,
    DB_POOL_MAX,
    ENV_DSN,
    ENV_REDIS,
    REDIS_MAXMEMORY,
    RULE_OVERRIDES,
    drill_config,
    shipped_drill_config,
)
from devstack.drills.loopback import check_config
from devstack.drills.page import PageServer
from devstack.drills.tls import LocalCA, SwappableTlsServer
from monitor.config import Config, load_config

Say = Callable[[str], None]
SEED_ATTENDEES = 20
SEED_PASSWORD = "converge-drill"
SYNTHETIC_PASSWORD = "synthetic-drill"


class Process(Protocol):
    """What a drill needs of a server it may stop: PrivatePostgres, PrivateRedis and ApiServer all fit."""

    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


_PROCESS_LABEL = {"api": "the API", "redis": "Redis", "postgres": "PostgreSQL", "frontend": "the frontend"}
_KIND_TARGETS = {"http": "http", "tls": "http", "frontend": "http", "api_metrics": "api_metrics",
                 "postgres": "postgres", "redis": "redis", "backups": "backup", "synthetic": "synthetic",
                 "journey": "journey"}
_NAMED_TARGETS = {"tls": "drill-tls", "frontend": "frontend"}  # a drill watching one http target, by name


@dataclass
class Stack:
    config: Config
    monitor_url: str
    notifications: Path
    api_url: str | None = None
    dsn: str | None = None
    redis_url: str | None = None
    controls: dict[str, Process] = field(default_factory=dict)
    tls: SwappableTlsServer | None = None
    page: PageServer | None = None  # the slow-page drill's page (own stack only)
    monitor_pid: Callable[[], int | None] | None = None  # set when the drill runs the monitor
    _faults_answer: dict[str, Any] | str | None = None

    # -- what the drills can do here ------------------------------------------------------------------
    def missing(self, need: str) -> str | None:
        """Why this stack cannot give a drill `need`, or None when it can."""
        if need.startswith("control:"):
            what = need.split(":", 1)[1]
            if what not in self.controls:
                return (f"needs to stop and start {_PROCESS_LABEL[what]}, which only the drill's own stack can do "
                        "(run without --config)")
            return None
        if need == catalog.DATABASE and self.dsn is None:
            return "no database target in the config"
        if need == catalog.REDIS and self.redis_url is None:
            return "no redis target in the config"
        if need == catalog.API_METRICS and not self.config.targets.api_metrics:
            return "no api_metrics target in the config"
        if need == catalog.BACKUP_DIR and not self.config.backups:
            return "no backups target in the config"
        if need == catalog.TLS and self.tls is None:
            return "needs the drill's own local TLS target (run without --config)"
        if need in (catalog.FAULTS, catalog.HOLD_CONNECTION):
            answer = self._faults()
            if isinstance(answer, str):
                return answer
            if need == catalog.HOLD_CONNECTION and "hold_connection" not in answer:
                return "the API's fault injection has no hold_connection (an older API)"
        return None

    def _faults(self) -> dict[str, Any] | str:
        if self._faults_answer is None:
            self._faults_answer = probe_faults(self.api_url)
        return self._faults_answer

    def set_faults(self, **spec: Any) -> None:
        assert self.api_url is not None
        body = {"latency_ms": 0, "error_ratio": 0.0, "prefix": "/v1/", **spec}
        httpx.put(f"{self.api_url}/internal/faults", json=body, timeout=10).raise_for_status()

    # -- timing, from the effective config ------------------------------------------------------------
    def in_event(self) -> bool:
        return self.config.event is not None and self.config.event.contains(time.time())

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.config.effective_rules() if r.name == name and r.enabled), None)

    def params(self, name: str) -> Params | None:
        rule = self.rule(name)
        return rule.params(self.in_event()) if rule is not None else None

    def evaluation_interval(self) -> float:
        a = self.config.alerting
        return a.event_evaluation_interval if self.in_event() else a.evaluation_interval

    def probe_interval(self, kind: str) -> float:
        """The interval of the target a drill of this kind watches: ApiDown's for "http", the named one for
        "tls" and "frontend", else the slowest of the targets of this kind (30 s when there are none)."""
        wanted = _KIND_TARGETS.get(kind, kind)
        name = _NAMED_TARGETS.get(kind)
        if kind == "http":
            rule = self.rule("ApiDown")
            name = rule.labels.get("target") if rule is not None else None
        targets = [t for t in self.config.all_targets() if t.kind == wanted]
        named = [t for t in targets if t.name == name] or targets
        return max((t.effective_interval(self.in_event()) for t in named), default=30.0)

    def api_window(self) -> float:
        return max((t.window for t in self.config.targets.api_metrics), default=0.0)

    # -- the monitor --------------------------------------------------------------------------------
    def active_alerts(self) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.monitor_url}/api/alerts", timeout=5)
        resp.raise_for_status()
        return list(resp.json()["alerts"])

    def monitor_gone(self) -> bool:
        return self.monitor_pid is not None and self.monitor_pid() is None


def probe_faults(api_url: str | None) -> dict[str, Any] | str:
    """PUT an empty fault (a no-op) to learn whether fault injection is on: its answer, or why not."""
    if api_url is None:
        return "no API URL in the config"
    try:
        resp = httpx.put(f"{api_url}/internal/faults", json={"latency_ms": 0, "error_ratio": 0.0}, timeout=5)
    except httpx.HTTPError as exc:
        return f"the API at {api_url} does not answer ({type(exc).__name__})"
    if resp.status_code == 404:
        return "the API's fault injection is off (start it with CONVERGE_FAULTS=1)"
    if resp.status_code != 200:
        return f"PUT /internal/faults answered {resp.status_code}"
    return dict(resp.json())


def _origin(url: str) -> str:
    u = httpx.URL(url)
    return f"{u.scheme}://{u.netloc.decode()}"


def _api_url(config: Config) -> str | None:
    """The API's base URL: the health target ApiDown watches, else the metrics URL, else the synthetic flow."""
    rule = next((r for r in config.effective_rules() if r.name == "ApiDown"), None)
    health = rule.labels.get("target") if rule is not None else None
    for http in config.targets.http:
        if http.name == health:
            return _origin(str(http.url))
    for am in config.targets.api_metrics:
        return _origin(str(am.urls[0]))
    for syn in config.targets.synthetic:
        return _origin(str(syn.base_url))
    return None


def _monitor_url(config: Config) -> str:
    host = config.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.server.port}"


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/api/alerts", timeout=2)
    except httpx.HTTPError:
        return False
    return True


@contextlib.contextmanager
def external_stack(config_path: str, say: Say, work_dir: Path) -> Iterator[Stack]:
    from devstack.monitor import MonitorServer

    config = load_config(config_path)
    check_config(config)  # raises NotLoopback naming the field
    stack = Stack(config=config, monitor_url=_monitor_url(config),
                  notifications=Path(config.alerting.notifications_file), api_url=_api_url(config),
                  dsn=config.database[0].dsn.get_secret_value() if config.database else None,
                  redis_url=config.redis[0].url.get_secret_value() if config.redis else None)
    with contextlib.ExitStack() as cleanup:
        if _answers(stack.monitor_url):
            say(f"monitor   {stack.monitor_url} (already running)")
        else:
            assert config.source is not None
            monitor = MonitorServer(config.source, config.server.port, log_dir=str(work_dir))
            cleanup.callback(monitor.stop)
            monitor.start()
            stack.monitor_pid = lambda: monitor.pid
            say(f"monitor   {stack.monitor_url} pid {monitor.pid} (started for the drill; log {monitor.log_path})")
        say(f"API       {stack.api_url or '-'}\nnotifications {stack.notifications}")
        yield stack


class _TrafficThread:
    """devstack.traffic's event-day mix, light (a few attendees), in a thread with its own event loop."""

    def __init__(self, base_url: str) -> None:
        from devstack.traffic import Traffic

        self.traffic = Traffic(base_url, SEED_ATTENDEES, SEED_PASSWORD, users=2, think=1.0, websocket_share=0.0)
        # Made here, not in the thread: a stop() right after start() is queued on it instead of being lost.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="drill-traffic", daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self.traffic.run())
        finally:
            self._loop.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed
            self._loop.call_soon_threadsafe(self.traffic.stop)
        self._thread.join(timeout=15)


def _wait_ready(stack: Stack, timeout: float) -> None:
    """Until the monitor has seen every part healthy once (and the API's rates need two scrapes)."""
    wanted = {("http_up", "api-health"): 1.0, ("http_up", "drill-tls"): 1.0, ("postgres_up", "postgres"): 1.0,
              ("redis_up", "redis"): 1.0}
    deadline = time.monotonic() + timeout
    last: dict[tuple[str, str], Any] = {}
    while time.monotonic() < deadline:
        try:
            signals = httpx.get(f"{stack.monitor_url}/api/signals", timeout=2).json()["signals"]
        except (httpx.HTTPError, ValueError, KeyError):
            signals = []
        last = {(s["signal"], s["labels"].get("target", "")): s["value"] for s in signals}
        p95 = any(s["signal"] == "api_latency_p95_seconds" and s["labels"].get("route") == "*" and s["known"]
                  for s in signals)
        if p95 and all(last.get(k) == v for k, v in wanted.items()):
            return
        if stack.monitor_gone():
            raise RuntimeError("the monitor exited while starting; see its log")
        time.sleep(0.3)
    not_yet = [f"{s}{{target={t}}}" for (s, t), v in wanted.items() if last.get((s, t)) != v]
    raise RuntimeError(f"the stack was not healthy within {timeout:.0f}s: {', '.join(not_yet) or 'no p95 yet'}")


@contextlib.contextmanager
def own_stack(say: Say, work_dir: Path, quick: bool = False) -> Iterator[Stack]:
    from devstack.monitor import MonitorServer
    from devstack.process import free_port
    from devstack.shipped import stack_env
    from devstack.stack import PrivateStack, Seed

    with contextlib.ExitStack() as cleanup:  # unwinds in reverse: monitor, traffic, TLS, API, Redis, PostgreSQL
        private = cleanup.enter_context(PrivateStack(
            seed=Seed(SEED_ATTENDEES, SEED_PASSWORD, SYNTHETIC_PASSWORD), redis_maxmemory=REDIS_MAXMEMORY,
            faults=True, api_env={"TRUSTED_PROXY_HEADER": "x-forwarded-for", "DB_POOL_MAX": str(DB_POOL_MAX)},
            log_dir=work_dir, backup_dir=work_dir / BACKUP_DIR if quick else work_dir / "backups"))
        pg, redis, api = private.postgres, private.redis, private.api
        tls = SwappableTlsServer(LocalCA(work_dir / "tls"), days=90).start()
        cleanup.callback(tls.stop)
        page = PageServer().start()
        cleanup.callback(page.stop)
        frontend = PageServer().start()
        cleanup.callback(frontend.stop)
        traffic = _TrafficThread(api.url)
        cleanup.callback(traffic.stop)
        traffic.start()

        port = free_port()
        config_path = work_dir / "drill-monitor.yml"
        if quick:
            data = drill_config(api_url=api.url, tls_url=tls.url, ca_file=tls.ca.ca_file, work_dir=work_dir,
                                monitor_port=port, synthetic_password=SYNTHETIC_PASSWORD, page_url=page.url)
            config_path.write_text(_config_header() + yaml.safe_dump(data, sort_keys=False))
            env = {ENV_DSN: pg.url, ENV_REDIS: redis.url}
        else:
            data = shipped_drill_config(tls_url=tls.url, ca_file=tls.ca.ca_file)
            config_path.write_text(SHIPPED_HEADER + yaml.safe_dump(data, sort_keys=False))
            env = stack_env(private.env(), work_dir, port, frontend_url=frontend.url)
        monitor = MonitorServer(config_path, port, env=env, log_dir=str(work_dir))
        cleanup.callback(monitor.stop)
        monitor.start()
        config = load_config(config_path, environ={**os.environ, **env})
        stack = Stack(config=config, monitor_url=monitor.url,
                      notifications=Path(config.alerting.notifications_file), api_url=api.url,
                      dsn=pg.url, redis_url=redis.url,
                      controls={"api": api, "redis": redis, "postgres": pg, "frontend": frontend}, tls=tls,
                      page=page,
                      monitor_pid=lambda: monitor.pid)
        say(f"PostgreSQL {pg.url} pid {pg.pid}\nRedis      {redis.url} pid {redis.pid} (maxmemory {REDIS_MAXMEMORY})\n"
            f"API        {api.url} pid {api.pid}\nTLS target {tls.url}\nfrontend   {frontend.url}\n"
            f"monitor    {monitor.url} pid {monitor.pid}\nconfig     {config_path}\n"
            f"notifications {stack.notifications} (no channels configured: each notification is printed in the "
            "monitor's log and appended there; the table shows the channels the routing chose)\n"
            f"logs       {work_dir}")
        _wait_ready(stack, timeout=90 if quick else 240)
        say("stack ready")
        yield stack


SHIPPED_HEADER = ("# Written by `converge-monitor drill` (devstack/drills/drill_config.py): monitor.yml as shipped,\n"
                  "# its event window moved to include today, plus the local https target for the certificate "
                  "drill.\n")


def _config_header() -> str:
    lines = ["# Written by `converge-monitor drill` (devstack/drills/drill_config.py): monitor.yml's probes and rules,",
             "# tuned to fire and resolve in seconds. Rule overrides:"]
    lines += [f"#   {name}: {why}" for name, (_, why) in RULE_OVERRIDES.items()]
    return "\n".join(lines) + "\n"


def new_work_dir(given: str | None) -> tuple[Path, bool]:
    """The directory for logs, config and state: the given one, or a new temporary one (removed after a pass)."""
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    return Path(tempfile.mkdtemp(prefix="converge-drill-")), True
