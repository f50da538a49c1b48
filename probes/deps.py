"""Dependency audit: known vulnerabilities from pip-audit's JSON report.

Modes: "pip-audit" runs `pip-audit -f json [-r requirements]` (the executable next to this Python,
else on PATH, or `command` if set, e.g. ["/opt/tools/bin/pip-audit"]); "command" runs `command` and
reads pip-audit JSON from its stdout; "report" reads a pip-audit JSON file. Both JSON shapes are
accepted: the current {"dependencies": [...]} and the older top-level list. Exit status 1 with a
report on stdout is pip-audit's "vulnerabilities found", not a failure. Whenever no report can be
had (not installed, no network, bad JSON, missing file) the count is unknown, never 0; so is a report
that audited nothing (offline, pip-audit skips every package and exits 0: that is not "0 vulnerabilities").
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.core.observation import Observation, unknown
from monitor.core.targets import DepsTarget
from probes.base import ProbeContext
from probes.proc import TIMEOUT_SHARE, describe_exit, run_command

KIND = "deps"
MAX_LISTED = 50  # vulnerabilities listed in details; the count covers them all
MAX_SKIPPED = 20


class AuditError(Exception):
    """No usable report: the count stays unknown."""


@dataclass(frozen=True, slots=True)
class Audit:
    vulnerabilities: list[dict[str, Any]]
    dependencies: int  # audited, i.e. not skipped
    skipped: list[str]
    skip_reasons: list[str]  # the distinct reasons, in order of first appearance


def parse_report(doc: object) -> Audit:
    """The vulnerabilities in a pip-audit JSON report (either shape)."""
    if isinstance(doc, dict) and isinstance(doc.get("dependencies"), list):
        deps = doc["dependencies"]
    elif isinstance(doc, list):
        deps = doc
    else:
        raise AuditError("not a pip-audit JSON report: expected a list of dependencies or {\"dependencies\": [...]}")
    vulns: list[dict[str, Any]] = []
    skipped: list[str] = []
    reasons: dict[str, None] = {}
    for i, dep in enumerate(deps):
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise AuditError(f"not a pip-audit JSON report: dependencies[{i}] has no name")
        if "skip_reason" in dep and "vulns" not in dep:
            skipped.append(dep["name"])
            # "Dependency not found on PyPI and could not be audited: httpx (0.28.1)": the reason, not the package
            reasons.setdefault(str(dep["skip_reason"]).split(":")[0].strip()[:200])
            continue
        dep_vulns = dep.get("vulns", [])
        if not isinstance(dep_vulns, list):
            raise AuditError(f"not a pip-audit JSON report: dependencies[{i}].vulns is not a list")
        for j, vuln in enumerate(dep_vulns):
            if not isinstance(vuln, dict) or not isinstance(vuln.get("id"), str):
                raise AuditError(f"not a pip-audit JSON report: dependencies[{i}].vulns[{j}] has no id")
            fixes = vuln.get("fix_versions") or []
            vulns.append({"package": dep["name"], "version": str(dep.get("version", "")), "id": vuln["id"],
                          "fix_versions": [str(f) for f in fixes] if isinstance(fixes, list) else []})
    return Audit(vulns, len(deps) - len(skipped), skipped, list(reasons))


def _loads(text: str, source: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AuditError(f"{source} is not JSON ({exc.msg} at line {exc.lineno})") from None


def _pip_audit_executable() -> str:
    # A venv's bin/ is often not on PATH when the monitor runs as a service.
    beside = Path(sys.executable).parent / "pip-audit"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("pip-audit")
    if found is None:
        raise AuditError("pip-audit is not installed (pip install pip-audit, or set command to its path)")
    return found


def _argv(target: DepsTarget) -> tuple[list[str], str]:
    """The argv to run and a short name for it in errors (never its arguments: they may carry secrets)."""
    if target.mode == "command":
        if not target.command:
            raise AuditError("deps mode 'command' needs `command` set")
        return list(target.command), f"audit command {os.path.basename(target.command[0])}"
    argv = list(target.command) if target.command else [_pip_audit_executable()]
    if target.command and "/" in argv[0] and not os.access(argv[0], os.X_OK):
        raise AuditError(f"pip-audit not found at {argv[0]}")
    argv += ["-f", "json"]
    if target.requirements is not None:
        if not Path(target.requirements).is_file():
            raise AuditError(f"requirements file {target.requirements} not found")
        argv += ["-r", target.requirements]
    return argv, "pip-audit"


async def _run_audit(target: DepsTarget) -> object:
    argv, what = _argv(target)
    timeout = target.timeout * TIMEOUT_SHARE
    try:
        result = await run_command(argv, timeout)
    except OSError as exc:
        raise AuditError(f"cannot run {what}: {exc.strerror or type(exc).__name__}") from None
    # pip-audit exits 1 when it found vulnerabilities and also when it failed: the report decides.
    if result.returncode in (0, 1) and result.stdout.strip():
        try:
            return json.loads(result.stdout)
        except ValueError:
            pass
    last = result.stderr_tail(1)
    reason = f": {last[0]}" if last else ""
    if result.returncode in (0, 1):
        raise AuditError(f"{what} printed no JSON report ({describe_exit(result, what, timeout)}){reason}")
    raise AuditError(f"{describe_exit(result, what, timeout)}{reason}")


async def _load(target: DepsTarget) -> object:
    if target.mode == "report":
        if not target.report_file:
            raise AuditError("deps mode 'report' needs `report_file` set")
        path = target.report_file
        try:
            text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        except FileNotFoundError:
            raise AuditError(f"report file {path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditError(f"cannot read report file {path}: {exc}") from None
        return _loads(text, f"report file {path}")
    return await _run_audit(target)


async def run(target: DepsTarget, ctx: ProbeContext) -> list[Observation]:
    now = ctx.now()
    labels = {"target": target.name}
    success_labels = {"target": target.name, "kind": KIND}
    try:
        audit = parse_report(await _load(target))
    except AuditError as exc:
        return [unknown("dependency_vulnerabilities", now, str(exc), labels),
                unknown("probe_success", now, str(exc), success_labels)]
    if audit.dependencies == 0:
        # pip-audit offline skips every package ("not found on PyPI") and exits 0: nothing was audited,
        # so nothing is known about vulnerabilities.
        reason = f"audited nothing: all {len(audit.skipped)} dependencies were skipped" if audit.skipped \
            else "audited nothing: the report lists no dependencies"
        if audit.skip_reasons:
            reason += f" ({audit.skip_reasons[0]})"
        return [unknown("dependency_vulnerabilities", now, reason, labels),
                unknown("probe_success", now, reason, success_labels)]
    count = len(audit.vulnerabilities)
    details = {
        "vulnerabilities": audit.vulnerabilities[:MAX_LISTED],
        "truncated": count > MAX_LISTED,
        "dependencies_audited": audit.dependencies,
        "skipped": audit.skipped[:MAX_SKIPPED],
        "skipped_count": len(audit.skipped),
    }
    error = f"{count} known vulnerabilit{'y' if count == 1 else 'ies'}" if count else None
    return [Observation("dependency_vulnerabilities", float(count), now, labels, details=details),
            Observation("probe_success", 0.0 if count else 1.0, now, success_labels, error=error)]
