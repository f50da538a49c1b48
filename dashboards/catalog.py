"""Every dashboard we ship: uid, file name under grafana/dashboards/, and its generator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dashboards import alerts, api, event, postgres, redis, slo


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    filename: str
    build: Callable[[], dict[str, Any]]


DASHBOARDS: tuple[DashboardSpec, ...] = (
    DashboardSpec(api.UID, "api-overview.json", api.build),
    DashboardSpec(postgres.UID, "postgresql.json", postgres.build),
    DashboardSpec(redis.UID, "redis.json", redis.build),
    DashboardSpec(slo.UID, "slo.json", slo.build),
    DashboardSpec(alerts.UID, "alerts-and-probes.json", alerts.build),
    DashboardSpec(event.UID, "event-day.json", event.build),
)
