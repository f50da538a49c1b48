"""A simulated API fleet on a simulated clock: each instance's /metrics as the app would write it (counters that
grow with the traffic, restart to zero on a deploy), served to the real api_metrics probe through an
httpx.MockTransport. For runs of hours or days in seconds (tests/e2e/test_soak_simulated.py, bench/soak.py).

    fleet = Fleet(instances=2, clock=lambda: now[0])
    fleet.load = lambda t: Load(requests_per_minute=300)      # traffic, total over the fleet, at time t
    obs = await api_metrics.run(target, ProbeContext(clock=..., http=fleet.client()))

Each request takes LATENCIES' shape (p95 about 0.2 s), 0.1% answer 500; CPU and memory follow the load per
instance (CPU 4% + 0.125% per request/min, memory 30% + 0.1% per request/min). Nothing here judges anything:
the probe measures, the engine judges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

ROUTES = ("/v1/sessions", "/v1/auth/login")
LE = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, float("inf"))
# the share of requests at most each bound: p95 between 0.1 s and 0.25 s
LATENCIES = (0.70, 0.93, 0.985, 0.997, 1.0, 1.0, 1.0, 1.0)
ERROR_SHARE = 0.001
CPU_LIMIT_CORES = 1.0
MEMORY_LIMIT = 1024 * 1024 * 1024


def share_at(le: float, factor: float) -> float:
    """The share of requests at most `le` seconds when every request is `factor` times slower."""
    return max((s for b, s in zip(LE, LATENCIES, strict=True) if b * factor <= le), default=0.0)


@dataclass(frozen=True)
class Load:
    requests_per_minute: float  # over the whole fleet
    latency_factor: float = 1.0  # every request this many times slower (1: healthy)


@dataclass
class Instance:
    url: str
    started: float
    requests: float = 0.0  # per route, the counters since the start
    cpu_seconds: float = 0.0
    down_until: float = 0.0  # refuses connections until then (restarting)


@dataclass
class Fleet:
    instances: int
    clock: Callable[[], float]
    load: Callable[[float], Load] = lambda _t: Load(100.0)
    members: list[Instance] = field(default_factory=list)
    _last: float | None = None

    def __post_init__(self) -> None:
        now = self.clock()
        self.members = [Instance(f"http://api-{i}.sim/metrics", now) for i in range(self.instances)]

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def advance(self) -> None:
        """Count the requests and CPU time since the last call, at the load of the current time."""
        now = self.clock()
        if self._last is not None and now > self._last:
            load = self.load(now)
            up = [m for m in self.members if m.down_until <= now]
            per_instance = load.requests_per_minute / max(len(up), 1) * (now - self._last) / 60
            for m in up:
                m.requests += per_instance
                m.cpu_seconds += self.cpu_ratio(load) * CPU_LIMIT_CORES * (now - self._last)
        self._last = now

    def cpu_ratio(self, load: Load) -> float:
        return min(0.95, 0.04 + self._per_instance(load) / 800)

    def memory_ratio(self, load: Load) -> float:
        return min(0.85, 0.30 + self._per_instance(load) / 1000)

    def _per_instance(self, load: Load) -> float:
        return load.requests_per_minute / max(len(self.members), 1)

    def restart(self, index: int, seconds: float) -> None:
        """A deploy restarts one instance: down for `seconds`, then its counters start again from zero."""
        self.advance()
        now = self.clock()
        m = self.members[index]
        self.members[index] = Instance(m.url, now + seconds, down_until=now + seconds)

    def metrics_text(self, m: Instance) -> str:
        load = self.load(self.clock())
        lines = []
        for route in ROUTES:
            n = m.requests / len(ROUTES)
            for code, share in (("200", 1 - ERROR_SHARE), ("500", ERROR_SHARE)):
                lines.append(f'http_requests_total{{method="GET",route="{route}",status_code="{code}"}} {n * share}')
            for le in LE:
                bound = "+Inf" if le == float("inf") else repr(le)
                lines.append(f'http_request_duration_seconds_bucket{{method="GET",route="{route}",status_code="200",'
                             f'le="{bound}"}} {n * share_at(le, load.latency_factor)}')
        memory = MEMORY_LIMIT * self.memory_ratio(load)
        lines += [
            f"process_cpu_seconds_total {m.cpu_seconds}",
            f"process_resident_memory_bytes {memory}",
            f"process_start_time_seconds {m.started}",
            f"converge_instance_cpu_limit_cores {CPU_LIMIT_CORES}",
            f"converge_instance_memory_limit_bytes {MEMORY_LIMIT}",
            "converge_websocket_connections 10",
            "http_requests_in_flight 1",
            "converge_unhandled_exceptions_total 0",
            "converge_db_pool_in_use 2",
            "converge_db_pool_max 10",
            "converge_db_pool_waiting 0",
        ]
        return "\n".join(lines) + "\n"

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.advance()
        m = next((m for m in self.members if m.url == str(request.url)), None)
        if m is None:
            return httpx.Response(404)
        if m.down_until > self.clock():
            raise httpx.ConnectError("connection refused (restarting)", request=request)
        return httpx.Response(200, text=self.metrics_text(m), headers={"Content-Type": "text/plain"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
