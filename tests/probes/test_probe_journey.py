"""The critical-feature journey against the real API (PostgreSQL, Redis, websocket): every step measured,
nothing left behind, real attendees untouched, and a failing step named and paged by the shipped rule."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from devstack import ApiServer
from devstack.seeded import SYNTHETIC_EMAIL, SYNTHETIC_PEER_EMAIL, SYNTHETIC_PEER_QR
from monitor.core.observation import Observation
from monitor.core.targets import JourneyTarget
from probes.base import ProbeContext
from probes.journey import STEPS
from probes.journey import run as journey
from tests.support.shipped import fires_when_held, shipped_config
from tests.support.stack import SYNTHETIC_PASSWORD

TABLES = ("rsvps", "connections", "messages")


def _target(api: ApiServer, **extra: object) -> JourneyTarget:
    fields: dict[str, object] = {"peer_qr_code": SYNTHETIC_PEER_QR, "password": SecretStr(SYNTHETIC_PASSWORD),
                                 "timeout": 20, **extra}
    return JourneyTarget(name="critical-features", base_url=api.url, email=SYNTHETIC_EMAIL,  # type: ignore[arg-type]
                         peer_email=SYNTHETIC_PEER_EMAIL, peer_password=SecretStr(SYNTHETIC_PASSWORD),
                         **fields)  # type: ignore[arg-type]


def _rows(db: str) -> dict[str, int]:
    with psycopg.connect(db) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


@pytest.fixture
def faults(api: ApiServer) -> Iterator[str]:
    yield f"{api.url}/internal/faults"
    httpx.put(f"{api.url}/internal/faults", json={}, timeout=10).raise_for_status()


async def test_the_journey_passes_every_step_and_leaves_nothing(api: ApiServer, seeded_db: str) -> None:
    before = _rows(seeded_db)
    obs = await journey(_target(api), ProbeContext())
    by = {(o.signal, o.labels.get("step")): o for o in obs}
    assert by[("journey_success", None)].value == 1, by[("journey_success", None)]
    for step in STEPS:
        latency = by[("journey_step_latency_seconds", step)].value
        assert latency is not None and latency > 0, step
    assert by[("journey_duration_seconds", None)].value >= sum(  # type: ignore[operator]
        by[("journey_step_latency_seconds", s)].value for s in STEPS)  # type: ignore[misc]
    assert _rows(seeded_db) == before  # the RSVP, the connection and the message were undone
    # and the next run does it all again from scratch
    assert next(o for o in await journey(_target(api), ProbeContext()) if o.signal == "journey_success").value == 1


async def test_a_failing_step_is_named_and_pages_in_the_event(api: ApiServer, seeded_db: str, faults: str) -> None:
    httpx.put(faults, json={"error_ratio": 1.0, "prefix": "/v1/connections"}, timeout=10).raise_for_status()
    before = _rows(seeded_db)
    obs = await journey(_target(api), ProbeContext())
    ok = next(o for o in obs if o.signal == "journey_success")
    assert ok.value == 0 and ok.error == "status"
    assert ok.details is not None and ok.details["step"] == "qr-connect" and ok.details["status"] == 500
    assert ok.details["steps_passed"] == 4  # login, peer-login, sessions, rsvp
    assert _rows(seeded_db) == before, ok.details.get('undo_failed')  # the RSVP made before the failure was cancelled
    interval = next(t for t in shipped_config().targets.journey if t.name == "critical-features")
    assert fires_when_held("CriticalJourneyFailing", obs, in_event=True, interval=interval.effective_interval(True))
    assert fires_when_held("CriticalJourneyFailing", obs, in_event=False, interval=interval.interval)


async def test_a_wrong_password_fails_at_login_and_reveals_nothing(api: ApiServer) -> None:
    obs = await journey(_target(api, password=SecretStr("not-the-password-4711")), ProbeContext())
    ok = next(o for o in obs if o.signal == "journey_success")
    assert ok.value == 0 and ok.details is not None and ok.details["step"] == "login" and ok.details["status"] == 401
    assert "4711" not in repr([(o.error, o.details) for o in obs])


def test_the_journey_is_shipped_and_healthy_obs_stay_silent() -> None:
    target = next(t for t in shipped_config().targets.journey if t.name == "critical-features")
    healthy = [Observation("journey_success", 1.0, 0.0, {"journey": target.name})]
    assert not fires_when_held("CriticalJourneyFailing", healthy, in_event=True, interval=30)
