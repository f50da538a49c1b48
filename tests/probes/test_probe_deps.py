"""The dependency-audit probe: pip-audit JSON from a command, a report file, or pip-audit itself.

pip-audit needs the network to query vulnerability databases, which these tests do not have, so
"pip-audit" mode runs small stand-in executables that behave as pip-audit does (JSON on stdout,
exit 1 when vulnerabilities are found, exit 1 and a traceback when the network is down).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.core.targets import DepsTarget
from probes import deps
from probes.base import ProbeContext

NOW = 1_738_000_000.0

REPORT = {
    "dependencies": [
        {"name": "jinja2", "version": "3.1.2", "vulns": [
            {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"],
             "description": "xmlattr filter allows keys with spaces"},
            {"id": "GHSA-h75v-3vvj-5mfj", "fix_versions": ["3.1.4"], "aliases": ["CVE-2024-34064"],
             "description": "..."},
        ]},
        {"name": "requests", "version": "2.31.0", "vulns": [
            {"id": "GHSA-9wx4-h78v-vm56", "fix_versions": ["2.32.0"], "aliases": ["CVE-2024-35195"],
             "description": "..."},
        ]},
        {"name": "httpx", "version": "0.28.1", "vulns": []},
        {"name": "converge-monitor", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ],
    "fixes": [],
}
CLEAN_LEGACY = [{"name": "httpx", "version": "0.28.1", "vulns": []},
                {"name": "pydantic", "version": "2.9.2", "vulns": []}]


def run_obs(observations: list[Observation]) -> tuple[Observation, Observation]:
    by = {}
    for o in observations:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o
        assert o.timestamp == NOW
        by[o.signal] = o
    assert set(by) == {"dependency_vulnerabilities", "probe_success"}
    assert by["probe_success"].labels == {"target": "api-deps", "kind": "deps"}
    return by["dependency_vulnerabilities"], by["probe_success"]


async def probe(**kwargs: object) -> tuple[Observation, Observation]:
    target = DepsTarget(name="api-deps", **kwargs)
    return run_obs(await deps.run(target, ProbeContext(clock=lambda: NOW)))


def executable(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def printer(tmp_path: Path, payload: str, exit_code: int = 0, stderr: str = "") -> list[str]:
    out = tmp_path / "payload.txt"
    out.write_text(payload)
    body = (f"import sys\nsys.stdout.write(open({str(out)!r}).read())\n"
            f"sys.stderr.write({stderr!r})\nsys.exit({exit_code})\n")
    return [str(executable(tmp_path / "audit", body))]


def assert_unknown(count: Observation, success: Observation, *needles: str) -> None:
    assert count.value is None and success.value is None
    for needle in needles:
        assert needle in count.error, count.error


async def test_report_file_counts_vulnerabilities(tmp_path: Path) -> None:
    report = tmp_path / "audit.json"
    report.write_text(json.dumps(REPORT))
    count, success = await probe(mode="report", report_file=str(report))
    assert count.value == 3
    assert success.value == 0
    assert count.details["vulnerabilities"][0] == {
        "package": "jinja2", "version": "3.1.2", "id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}
    assert [v["id"] for v in count.details["vulnerabilities"]] == [
        "GHSA-h5c8-rqwp-cp95", "GHSA-h75v-3vvj-5mfj", "GHSA-9wx4-h78v-vm56"]
    assert count.details["dependencies_audited"] == 3
    assert count.details["skipped"] == ["converge-monitor"]
    assert count.details["truncated"] is False


async def test_legacy_list_report_with_no_vulnerabilities_passes(tmp_path: Path) -> None:
    report = tmp_path / "audit.json"
    report.write_text(json.dumps(CLEAN_LEGACY))
    count, success = await probe(mode="report", report_file=str(report))
    assert count.value == 0
    assert success.value == 1
    assert count.details["vulnerabilities"] == []


async def test_many_vulnerabilities_are_counted_but_listed_bounded(tmp_path: Path) -> None:
    many = [{"name": f"pkg{i}", "version": "1.0", "vulns": [{"id": f"PYSEC-2024-{i}", "fix_versions": []}]}
            for i in range(120)]
    report = tmp_path / "audit.json"
    report.write_text(json.dumps(many))
    count, _ = await probe(mode="report", report_file=str(report))
    assert count.value == 120
    assert len(count.details["vulnerabilities"]) == deps.MAX_LISTED
    assert count.details["truncated"] is True


async def test_missing_report_file_is_unknown_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "audit.json"
    assert_unknown(*await probe(mode="report", report_file=str(missing)), str(missing), "not found")


async def test_report_that_is_not_json_is_unknown(tmp_path: Path) -> None:
    report = tmp_path / "audit.json"
    report.write_text("No known vulnerabilities found\n")
    assert_unknown(*await probe(mode="report", report_file=str(report)), "is not JSON")


@pytest.mark.parametrize("doc", [{"results": []}, [{"version": "1"}], [{"name": "x", "vulns": "none"}],
                                 {"dependencies": [{"name": "x", "vulns": [{"fix_versions": []}]}]}])
async def test_json_that_is_not_a_pip_audit_report_is_unknown(tmp_path: Path, doc: object) -> None:
    report = tmp_path / "audit.json"
    report.write_text(json.dumps(doc))
    assert_unknown(*await probe(mode="report", report_file=str(report)), "not a pip-audit JSON report")


def test_report_mode_without_report_file_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="needs report_file"):
        DepsTarget(name="api-deps", mode="report")


async def test_command_exiting_1_with_a_report_counts_vulnerabilities(tmp_path: Path) -> None:
    argv = printer(tmp_path, json.dumps(REPORT), exit_code=1, stderr="Found 3 known vulnerabilities in 2 packages\n")
    count, success = await probe(mode="command", command=argv)
    assert count.value == 3
    assert success.value == 0


async def test_command_printing_no_json_is_unknown_with_its_stderr(tmp_path: Path) -> None:
    argv = printer(tmp_path, "", exit_code=1, stderr="Traceback...\nConnectionError: pypi.org unreachable\n")
    count, success = await probe(mode="command", command=argv)
    assert_unknown(count, success, "printed no JSON report", "status 1", "ConnectionError: pypi.org unreachable")


async def test_command_crashing_is_unknown_even_with_json(tmp_path: Path) -> None:
    argv = printer(tmp_path, json.dumps(CLEAN_LEGACY), exit_code=2, stderr="usage: pip-audit ...\n")
    assert_unknown(*await probe(mode="command", command=argv), "exited with status 2")


async def test_missing_command_is_unknown(tmp_path: Path) -> None:
    argv = [str(tmp_path / "no-such-audit"), "--key", "s3cret"]
    count, success = await probe(mode="command", command=argv)
    assert_unknown(count, success, "no-such-audit")
    assert "s3cret" not in count.error


def test_command_mode_without_command_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="needs command"):
        DepsTarget(name="api-deps", mode="command")


async def test_hanging_command_times_out_unknown(tmp_path: Path) -> None:
    argv = [str(executable(tmp_path / "audit", "import time\ntime.sleep(60)\n"))]
    assert_unknown(*await probe(mode="command", command=argv, timeout=0.5), "timed out")


async def test_pip_audit_mode_runs_json_format_against_the_requirements(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("jinja2==3.1.2\nrequests==2.31.0\n")
    argv_log = tmp_path / "argv.json"
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    fake = executable(tmp_path / "pip-audit", (
        "import json, sys\n"
        f"json.dump(sys.argv[1:], open({str(argv_log)!r}, 'w'))\n"
        f"sys.stdout.write(open({str(report)!r}).read())\n"
        "sys.exit(1)  # pip-audit: vulnerabilities found\n"
    ))
    count, success = await probe(mode="pip-audit", command=[str(fake)], requirements=str(requirements))
    assert json.loads(argv_log.read_text()) == ["-f", "json", "-r", str(requirements)]
    assert count.value == 3
    assert success.value == 0


async def test_pip_audit_without_network_is_unknown(tmp_path: Path) -> None:
    fake = executable(tmp_path / "pip-audit", (
        "import sys\n"
        "print('Traceback (most recent call last):', file=sys.stderr)\n"
        "print('requests.exceptions.ConnectionError: Max retries exceeded with url: /pypi/jinja2/json',"
        " file=sys.stderr)\n"
        "sys.exit(1)\n"
    ))
    count, success = await probe(mode="pip-audit", command=[str(fake)])
    assert_unknown(count, success, "pip-audit printed no JSON report", "ConnectionError")


async def test_pip_audit_at_a_missing_path_is_unknown(tmp_path: Path) -> None:
    missing = tmp_path / "venv" / "bin" / "pip-audit"
    assert_unknown(*await probe(mode="pip-audit", command=[str(missing)]), "pip-audit not found", str(missing))


async def test_pip_audit_not_installed_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No pip-audit beside the interpreter, none on PATH.
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert_unknown(*await probe(mode="pip-audit"), "pip-audit is not installed")


async def test_missing_requirements_file_is_unknown_naming_it(tmp_path: Path) -> None:
    fake = executable(tmp_path / "pip-audit", "print('[]')\n")
    missing = tmp_path / "requirements.txt"
    assert_unknown(*await probe(mode="pip-audit", command=[str(fake)], requirements=str(missing)), str(missing))


# What pip-audit 2.x prints offline for a whole environment: every package skipped, exit status 0
# (captured from `pip-audit -f json` in this repository's venv with no network).
OFFLINE = {"dependencies": [
    {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} ({version})"}
    for name, version in (("aiohappyeyeballs", "2.7.1"), ("aiohttp", "3.14.5"), ("httpx", "0.28.1"),
                          ("jinja2", "3.1.6"), ("pydantic", "2.11.7"))
], "fixes": []}


async def test_offline_audit_that_skipped_every_package_is_unknown_not_zero(tmp_path: Path) -> None:
    fake = executable(tmp_path / "pip-audit", (
        f"import sys\nprint({json.dumps(json.dumps(OFFLINE))})\n"
        "print('No known vulnerabilities found', file=sys.stderr)\n"
    ))
    count, success = await probe(mode="pip-audit", command=[str(fake)])
    assert_unknown(count, success, "audited nothing", "all 5 dependencies were skipped",
                   "Dependency not found on PyPI and could not be audited")
    assert "httpx" not in count.error  # the reason, not a package list


async def test_report_listing_no_dependencies_is_unknown(tmp_path: Path) -> None:
    report = tmp_path / "audit.json"
    report.write_text(json.dumps({"dependencies": [], "fixes": []}))
    count, success = await probe(mode="report", report_file=str(report))
    assert_unknown(count, success, "audited nothing")


async def test_one_audited_package_among_skipped_ones_gives_a_count(tmp_path: Path) -> None:
    report = tmp_path / "audit.json"
    report.write_text(json.dumps({"dependencies": [*OFFLINE["dependencies"],
                                                   {"name": "starlette", "version": "0.47.2", "vulns": []}]}))
    count, success = await probe(mode="report", report_file=str(report))
    assert count.value == 0 and success.value == 1
    assert count.details["dependencies_audited"] == 1 and count.details["skipped_count"] == 5
