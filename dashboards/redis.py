"""3. Redis: memory against its limit, evictions, clients and the busiest client IP."""

from __future__ import annotations

from typing import Any

from dashboards import signal_panels as s
from dashboards.builder import GREEN, ORANGE, RED, Q, build_dashboard, timeseries_panel
from monitor.core.signals import signal

UID = "converge-redis"
MEMORY_STEPS = [(None, GREEN), (0.8, ORANGE), (0.95, RED)]
DDOS_STEPS = [(None, GREEN), (5000, ORANGE), (10000, RED)]  # DdosSuspected pages above 10 000 / min


def build() -> dict[str, Any]:
    used, ratio = signal("redis_memory_used_bytes").metric_name, signal("redis_memory_ratio").metric_name
    status = [
        s.latest("redis_up", "Redis", width=4),
        s.latest("redis_memory_ratio", "Memory / maxmemory", width=5, steps=MEMORY_STEPS, decimals=1),
        s.latest("redis_evicted_keys_per_second", "Evictions", width=5, steps=[(None, GREEN), (0.001, ORANGE)]),
        s.latest("redis_connected_clients", "Clients", width=5),
        s.latest("redis_top_client_requests_per_minute", "Busiest client IP", width=5, steps=DDOS_STEPS),
    ]
    memory = [
        timeseries_panel("Memory used and limit", [
            Q(used, "used {{target}}"),
            Q(f"{used} / {ratio}", "maxmemory {{target}}")], unit="bytes", min_value=0,
            description=f"{used}, and maxmemory computed as used / {ratio} (the probe reads both from INFO)."),
        s.graph("redis_memory_ratio", "Memory used / maxmemory", steps=MEMORY_STEPS),
        s.graph("redis_fragmentation_ratio", "Fragmentation (RSS / used)", width=8,
                steps=[(None, GREEN), (1.5, ORANGE)]),
        s.graph("redis_evicted_keys_per_second", "Evicted keys", width=8),
        s.graph("redis_connected_clients", "Connected clients", width=8),
    ]
    persistence = [
        s.latest("redis_rdb_last_bgsave_ok", "Last RDB snapshot ok", width=8, steps=[(None, RED), (1, GREEN)]),
        s.latest("redis_aof_last_write_ok", "Last AOF write ok", width=8, steps=[(None, RED), (1, GREEN)]),
        s.graph("redis_unsaved_seconds", "Unsaved changes since the last snapshot", width=8),
    ]
    clients = [
        s.graph("redis_top_client_requests_per_minute", "Requests in the trailing minute from the busiest client IP",
                steps=DDOS_STEPS, width=24,
                description="From the API's per-IP counters (converge:ipreq:<minute> sorted sets): the request "
                            "count of the busiest IP this minute. The IPs themselves are in the monitor's "
                            "/api/signals details, not in Prometheus labels (unbounded cardinality)."),
    ]
    return build_dashboard(
        UID, "Converge Redis",
        "The API's Redis: memory against maxmemory, evictions, fragmentation, clients, and the busiest client IP "
        "(DDoS suspicion), as the monitor's redis probe sees them.",
        [(None, status), ("Memory", memory), ("Persistence", persistence), ("Clients", clients)], tags=("redis",))
