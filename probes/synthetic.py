"""Synthetic user flow: a sequence of HTTP steps, each checked, later steps using values extracted earlier.

The first failing step ends the flow; details name it and say why (the same error codes as the http
probe, plus `config` for a {variable} no earlier step extracts). Request bodies, headers and extracted
values may hold secrets: they are never put into details or errors, only the step's path template is.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from monitor.core.observation import Observation
from monitor.core.targets import SyntheticStep, SyntheticTarget
from probes.base import ProbeContext
from probes.http import classify
from probes.jsonpath import MISSING, resolve
from probes.tls import client_for

KIND = "synthetic"
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _StepFailure(Exception):
    def __init__(self, code: str, reason: str, status: int | None = None) -> None:
        super().__init__(code, reason)
        self.code, self.reason, self.status = code, reason, status


@dataclass
class _Flow:
    latencies: list[tuple[str, float | None]] = field(default_factory=list)
    failed_step: SyntheticStep | None = None
    failure: _StepFailure | None = None


def _templates(step: SyntheticStep) -> list[tuple[str, str]]:
    """(field, text) of every place in a step that may use {variables}: the path and header values."""
    found = [("path", step.path)]
    found += [(f"headers.{name}", value) for name, value in step.headers.items()]
    return found


def config_problem(target: SyntheticTarget) -> dict[str, str] | None:
    """The first {variable} used before any earlier step extracts it, as details; None when all are defined."""
    defined: set[str] = set()
    for step in target.steps:
        for where, text in _templates(step):
            for name in _VARIABLE.findall(text):
                if name not in defined:
                    return {"step": step.name, "field": where,
                            "reason": f"variable {{{name}}} is not extracted by an earlier step"}
        defined.update(step.extract)
    return None


def _fill(text: str, variables: dict[str, str], for_path: bool = False) -> str:
    def value(m: re.Match[str]) -> str:
        v = variables[m.group(1)]
        return quote(v, safe="") if for_path else v

    return _VARIABLE.sub(value, text)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


async def _step(client: httpx.AsyncClient, base: str, step: SyntheticStep, variables: dict[str, str],
                timeout: float) -> float:
    """Run one step; returns its latency, raises _StepFailure (with the latency lost) when it fails."""
    body: dict[str, Any] | None = None
    if step.json_body is not None:
        # Body values are sent as written (no {variables}): they may be secrets, revealed only here.
        body = {key: value.get_secret_value() if isinstance(value, SecretStr) else value
                for key, value in step.json_body.items()}
    url = base + "/" + _fill(step.path, variables, for_path=True).lstrip("/")
    headers = {name: _fill(value, variables) for name, value in step.headers.items()}
    started = time.perf_counter()
    try:
        response = await client.request(step.method, url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise _StepFailure(*classify(exc)) from None  # `from None`: the request (and its secrets) stays out
    latency = time.perf_counter() - started
    if response.status_code not in step.expect_status:
        raise _StepFailure("status", f"status {response.status_code}, expected one of {step.expect_status}",
                           response.status_code)
    if step.extract:
        try:
            data = response.json()
        except ValueError:
            raise _StepFailure("json", "response body is not JSON", response.status_code) from None
        for name, path in step.extract.items():
            found = resolve(data, path)
            if found is MISSING or found is None:
                raise _StepFailure("json", f"extract {name}: {path!r} not found in the response", response.status_code)
            variables[name] = _as_text(found)
    return latency


async def _run_flow(client: httpx.AsyncClient, target: SyntheticTarget, flow: _Flow) -> None:
    base = str(target.base_url).rstrip("/")
    variables: dict[str, str] = {}
    deadline = time.perf_counter() + target.timeout
    for step in target.steps:
        flow.failed_step = step  # until it passes
        started = time.perf_counter()
        try:
            latency = await _step(client, base, step, variables, max(deadline - started, 0.001))
        except _StepFailure as failure:
            flow.failure = failure
            # A step that got its (wrong) response ran: its latency is known.
            flow.latencies.append((step.name, time.perf_counter() - started if failure.status is not None else None))
            return
        flow.latencies.append((step.name, latency))
    flow.failed_step = None


def _observations(target: SyntheticTarget, ctx: ProbeContext, flow: _Flow, duration: float | None,
                  error: str | None, details: dict[str, Any] | None) -> list[Observation]:
    ts = ctx.now()
    labels = {"flow": target.name}
    # A config problem leaves the flow unchecked: unknown, not failed.
    success = None if error == "config" else float(error is None)
    result = [
        Observation("synthetic_step_latency_seconds", latency, ts, {**labels, "step": name},
                    error=None if latency is not None else error,
                    details=None if latency is not None else details)
        for name, latency in flow.latencies
    ]
    result += [
        Observation("synthetic_duration_seconds", duration, ts, labels, error=error, details=details),
        Observation("synthetic_success", success, ts, labels, error=error, details=details),
        Observation("probe_success", success, ts, {"target": target.name, "kind": KIND}, error=error,
                    details=details),
    ]
    return result


async def run(target: SyntheticTarget, ctx: ProbeContext) -> list[Observation]:
    flow = _Flow()
    problem = config_problem(target)
    if problem is not None:
        return _observations(target, ctx, flow, None, "config", problem)
    # Its own client (not ctx.http): each run starts with no cookies, like a new user.
    client = await client_for(ctx, verify=target.verify_tls, use_shared=False)
    client.cookies.clear()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(target.timeout):
            await _run_flow(client, target, flow)
    except TimeoutError:
        flow.failure = _StepFailure("timeout", f"the flow did not finish within {target.timeout:g}s")
        if flow.failed_step is not None:
            flow.latencies.append((flow.failed_step.name, None))
    if flow.failure is None:
        return _observations(target, ctx, flow, time.perf_counter() - started, None, None)
    failure = flow.failure
    details: dict[str, Any] = {"reason": failure.reason}
    if flow.failed_step is not None:
        details = {"step": flow.failed_step.name, "method": flow.failed_step.method, "path": flow.failed_step.path,
                   **details}
        if failure.status is not None:
            details["status"] = failure.status
        if failure.code == "status":
            details["expected_status"] = list(flow.failed_step.expect_status)
    details["steps_run"] = len(flow.latencies)
    return _observations(target, ctx, flow, None, failure.code, details)
