"""The synthetic probe running the critical login -> sessions flow against the real API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from devstack import ApiServer, free_port
from monitor.core.observation import Observation
from monitor.core.signals import SIGNALS
from monitor.core.targets import SyntheticTarget
from probes import synthetic
from probes.base import ProbeContext
from probes.tls import aclose_client
from tests.support.stack import SYNTHETIC_PASSWORD

CATALOG = {s.name: s for s in SIGNALS}
EMAIL = "synthetic-monitor@converge.test"


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    context = ProbeContext()
    yield context
    await aclose_client(context)


def login_flow(base_url: str, password: str = SYNTHETIC_PASSWORD, **fields: Any) -> SyntheticTarget:
    return SyntheticTarget(name="login-flow", base_url=base_url, **{"timeout": 10, **fields}, steps=[
        {"name": "login", "method": "POST", "path": "/v1/auth/login",
         "json": {"email": EMAIL, "password": SecretStr(password)}, "extract": {"token": "access_token"}},
        {"name": "sessions", "path": "/v1/sessions", "headers": {"Authorization": "Bearer {token}"},
         "extract": {"first_session": "sessions.0.id"}},
    ])


async def run(target: SyntheticTarget, ctx: ProbeContext) -> list[Observation]:
    # The probe must end by itself at target.timeout; this outer limit only guards the test.
    observations = await asyncio.wait_for(synthetic.run(target, ctx), timeout=30)
    for o in observations:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o
    return observations


def single(observations: list[Observation], signal: str) -> Observation:
    found = [o for o in observations if o.signal == signal]
    assert len(found) == 1, found
    return found[0]


def step_latencies(observations: list[Observation]) -> dict[str, float | None]:
    return {o.labels["step"]: o.value for o in observations if o.signal == "synthetic_step_latency_seconds"}


def assert_secrets_absent(observations: list[Observation], password: str) -> None:
    text = repr(observations)
    assert password not in text
    assert "eyJ" not in text  # no JWT (the access token or an Authorization header) either


async def test_login_then_sessions_flow_passes(api: ApiServer, ctx: ProbeContext) -> None:
    observations = await run(login_flow(api.url), ctx)
    success = single(observations, "synthetic_success")
    assert success.value == 1 and success.error is None and success.labels == {"flow": "login-flow"}
    probe = single(observations, "probe_success")
    assert probe.value == 1 and probe.labels == {"target": "login-flow", "kind": "synthetic"}
    latencies = step_latencies(observations)
    assert set(latencies) == {"login", "sessions"}
    assert all(v is not None and v > 0 for v in latencies.values())
    duration = single(observations, "synthetic_duration_seconds").value
    assert duration is not None and duration >= sum(v for v in latencies.values() if v is not None)
    assert_secrets_absent(observations, SYNTHETIC_PASSWORD)


async def test_wrong_password_fails_at_login_and_stops(api: ApiServer, ctx: ProbeContext) -> None:
    wrong = "not-the-synthetic-pw-42"
    observations = await run(login_flow(api.url, password=wrong), ctx)
    success = single(observations, "synthetic_success")
    assert success.value == 0 and success.error == "status"
    assert success.details is not None
    assert success.details["step"] == "login" and success.details["status"] == 401
    assert success.details["steps_run"] == 1
    probe = single(observations, "probe_success")
    assert probe.value == 0 and probe.error == "status" and probe.details == success.details
    # The login step ran (it got its 401); the sessions step did not run at all.
    latencies = step_latencies(observations)
    assert list(latencies) == ["login"] and latencies["login"] is not None
    duration = single(observations, "synthetic_duration_seconds")
    assert duration.value is None and duration.error == "status"
    assert_secrets_absent(observations, wrong)


async def test_missing_extract_path_is_json_failure_at_that_step(api: ApiServer, ctx: ProbeContext) -> None:
    target = SyntheticTarget(name="sessions-flow", base_url=api.url, steps=[
        {"name": "sessions", "path": "/v1/sessions", "extract": {"x": "sessions.9999.id"}},
        {"name": "never", "path": "/v1/ping"},
    ])
    observations = await run(target, ctx)
    success = single(observations, "synthetic_success")
    assert success.value == 0 and success.error == "json"
    assert success.details is not None and success.details["step"] == "sessions"
    assert "sessions.9999.id" in success.details["reason"]
    assert list(step_latencies(observations)) == ["sessions"]


async def test_wrong_status_in_a_later_step_names_that_step(api: ApiServer, ctx: ProbeContext) -> None:
    target = SyntheticTarget(name="two-steps", base_url=api.url, steps=[
        {"name": "ping", "path": "/v1/ping"},
        {"name": "missing", "path": "/v1/no-such-route"},
    ])
    observations = await run(target, ctx)
    success = single(observations, "synthetic_success")
    assert success.value == 0 and success.error == "status"
    assert success.details is not None
    assert success.details["step"] == "missing" and success.details["status"] == 404
    assert success.details["expected_status"] == [200] and success.details["steps_run"] == 2
    assert set(step_latencies(observations)) == {"ping", "missing"}


async def test_undefined_variable_is_config_problem_and_nothing_runs(ctx: ProbeContext) -> None:
    # Nothing listens on this port: the flow must be rejected before any request is sent.
    target = SyntheticTarget(name="bad-flow", base_url=f"http://127.0.0.1:{free_port()}", steps=[
        {"name": "sessions", "path": "/v1/sessions/{session_id}/rsvp", "method": "POST"},
    ])
    observations = await run(target, ctx)
    success = single(observations, "synthetic_success")
    assert success.value is None and success.error == "config"  # unchecked: unknown, never healthy
    assert success.details is not None and success.details["step"] == "sessions"
    assert "{session_id}" in success.details["reason"]
    assert step_latencies(observations) == {}


async def test_refused_connection_fails_first_step_as_connect(ctx: ProbeContext) -> None:
    observations = await run(login_flow(f"http://127.0.0.1:{free_port()}"), ctx)
    success = single(observations, "synthetic_success")
    assert success.value == 0 and success.error == "connect"
    assert success.details is not None and success.details["step"] == "login"
    latency = single(observations, "synthetic_step_latency_seconds")
    assert latency.labels == {"flow": "login-flow", "step": "login"}
    assert latency.value is None and latency.error == "connect"
    assert_secrets_absent(observations, SYNTHETIC_PASSWORD)


async def test_server_that_never_answers_times_out_at_the_flow_timeout(silent_port: int,
                                                                      ctx: ProbeContext) -> None:
    observations = await run(login_flow(f"http://127.0.0.1:{silent_port}", timeout=0.5), ctx)
    success = single(observations, "synthetic_success")
    assert success.value == 0 and success.error == "timeout"
    assert success.details is not None and success.details["step"] == "login"
    assert single(observations, "synthetic_step_latency_seconds").value is None
    assert_secrets_absent(observations, SYNTHETIC_PASSWORD)
