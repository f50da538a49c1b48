"""A corpus of broken variants of the shipped monitor.yml: each one refused by `check-config` AND by `run`,
exit 2, naming the field, no traceback, in bounded time and memory.

Every variant is the shipped file with one mistake a user makes (a typo, a wrong unit, a path that is not
there, a channel that is not configured) or a hostile document (alias bomb, deep nesting). `run` is called
too: it must refuse the same file before it starts anything (it validates with the same load_config).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.cli import main
from tests.support.paths import REPO as REPO_ROOT

SHIPPED = (REPO_ROOT / "monitor.yml").read_text(encoding="utf-8")

CHANNELS = """
channels:
  slack: {webhook_url: "https://hooks.slack.example/services/T0/B0/x"}
  sms: {provider: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token: tok, from_number: "+14155550100"}
"""
ONCALL = """
oncall:
  people:
    - {name: ana, phone: "+14155550101"}
    - {name: ben, phone: "+14155550102"}
  rotation: {order: [ana, ben], start: 2026-01-26, timezone: America/Los_Angeles}
"""


def replace(old: str, new: str) -> str:
    assert old in SHIPPED, f"the shipped monitor.yml no longer contains {old!r}: update the corpus"
    return SHIPPED.replace(old, new, 1)


def set_after(anchor: str, key: str, value: str) -> str:
    """The shipped file with the first `key:` line after `anchor` set to `value`."""
    start = SHIPPED.index(anchor)
    m = re.compile(rf"^(\s*){re.escape(key)}: .*$", re.M).search(SHIPPED, start)
    assert m, f"no {key}: after {anchor!r} in the shipped monitor.yml: update the corpus"
    return SHIPPED[:m.start()] + f"{m.group(1)}{key}: {value}" + SHIPPED[m.end():]


def api(key: str, value: str) -> str:
    return set_after("name: api-health", key, value)


def append(text: str) -> str:
    return SHIPPED + "\n" + text.lstrip("\n")


def alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\nrules: {custom: *a9}\n"


# id -> (the broken file, a field path the error must name)
CORPUS: dict[str, tuple[str, str]] = {
    # channels a page would be routed to, but that are not configured
    "routing-unknown-paging-channel": (append("routing:\n  critical: [slack, pagerduty]\n"), "routing.critical"),
    "routing-typo-with-channels": (append(CHANNELS + "routing:\n  high: {event: [slakc]}\n"), "routing.high"),
    "routing-unknown-fallback": (append(CHANNELS + "routing:\n  low: {fallback: [slack, mail]}\n"), "routing.low"),
    "routing-normal-unknown": (append(CHANNELS + "routing:\n  medium: {normal: [teams]}\n"), "routing.medium"),
    "escalation-unknown-channel": (append(CHANNELS + ONCALL + "  escalation:\n    steps:\n"
                                          "      - {after: 15m, notify: [secondary], channels: [sms, pager]}\n"),
                                   "oncall.escalation.steps[0].channels"),
    "escalation-second-step-unknown": (append(CHANNELS + ONCALL + "  escalation:\n    steps:\n"
                                              "      - {after: 15m, channels: [sms]}\n"
                                              "      - {after: 30m, channels: [phone]}\n"),
                                       "oncall.escalation.steps[1].channels"),
    "routing-both-forms": (append("routing:\n  critical: {channels: [sms], event: [sms]}\n"), "routing.critical"),
    "routing-advisory-pages": (append(CHANNELS + "routing:\n  advisory: [sms]\n"), "routing.advisory"),
    "routing-uppercase-channel": (append("routing:\n  high: [Slack]\n"), "routing.high"),
    "routing-unknown-tier": (append("routing:\n  urgent: [slack]\n"), "routing.urgent"),
    "channel-without-type": (append("channels:\n  pagerduty: {url: https://events.example}\n"), "channels.pagerduty"),
    "channel-bad-webhook-url": (append("channels:\n  slack: {webhook_url: not-a-url}\n"), "channels.slack"),
    # durations run would overflow on, or that make no sense
    "interval-inf": (api("interval", ".inf"), "targets.http[0].interval"),
    "interval-nan": (api("interval", ".nan"), "targets.http[0].interval"),
    "interval-huge-days": (api("interval", "99999999999999d"),
                           "targets.http[0].interval"),
    "interval-negative": (api("interval", "-30s"), "targets.http[0].interval"),
    "interval-zero": (api("interval", "0"), "targets.http[0].interval"),
    "interval-words": (api("interval", "30 seconds"), "targets.http[0].interval"),
    "interval-unit-typo": (api("interval", "30x"), "targets.http[0].interval"),
    "interval-bool": (api("interval", "yes"), "targets.http[0].interval"),
    "event-interval-inf": (api("event_interval", ".inf"), "targets.http[0].event_interval"),
    "timeout-nan": (api("timeout", ".nan"), "targets.http[0].timeout"),
    "timeout-over-event-interval": (api("timeout", "10s"), "targets.http[0].timeout"),
    "timeout-over-interval": (api("timeout", "45s"), "targets.http[0].timeout"),
    "db-timeout-over-event-interval": (set_after("name: postgres", "event_interval", "5s"),
                                       "database[0].timeout"),
    "retention-inf": (replace("retention: 30d", "retention: .inf"), "store.retention"),
    "retention-huge": (replace("retention: 30d", "retention: 99999999999999d"), "store.retention"),
    "group-interval-nan": (replace("group_interval: 1m", "group_interval: .nan"), "alerting.group_interval"),
    "evaluation-interval-inf": (replace("evaluation_interval: 5s", "evaluation_interval: .inf"),
                                "alerting.evaluation_interval"),
    "slo-evaluation-huge": (replace("evaluation_interval: 1m", "evaluation_interval: 99999999999999d"),
                            "slos.evaluation_interval"),
    "repeat-interval-unknown-tier": (set_after("\nalerting:", "max_reminders", "3\n  repeat_interval: {urgent: 1h}"),
                                     "alerting.repeat_interval"),
    "deadman-timeout-inf": (append("deadman: {url: https://hc.example/ping/abc, timeout: .inf}\n"),
                            "deadman.timeout"),
    # paths run reads, that are not there
    "templates-dir-missing": (replace("  max_reminders: 3", "  templates_dir: ./no-such-templates\n  max_reminders: 3"),
                              "alerting.templates_dir"),
    "templates-dir-is-a-file": (replace("  max_reminders: 3", "  templates_dir: ./monitor.yml\n  max_reminders: 3"),
                                "alerting.templates_dir"),
    # a custom template run would fail to render at the first send: refused with the template's name
    "template-broken": (replace("  max_reminders: 3", "  templates_dir: ./broken-templates\n  max_reminders: 3"),
                        "alerting.templates_dir"),
    "ca-file-missing": (replace("      json_checks:", "      ca_file: ./certs/missing-ca.pem\n      json_checks:"),
                        "targets.http[0].ca_file"),
    "deps-report-missing": (replace("    mode: pip-audit", "    mode: report\n    report_file: ./var/audit.json"),
                            "dependencies[0].report_file"),
    "deps-requirements-missing": (replace("    mode: pip-audit", "    mode: pip-audit\n    requirements: ./req.txt"),
                                  "dependencies[0].requirements"),
    # hostile documents
    "alias-bomb": (append(alias_bomb()), "a4"),
    "deep-flow-nesting": (append("rules: " + "[" * 3000 + "]" * 3000 + "\n"), "rules[0][0]"),
    "deep-mapping-nesting": (append("rules: " + "{a: " * 2500 + "1" + "}" * 2500 + "\n"), "rules.a.a"),
    "alias-cycle": (append("rules: &r {custom: [*r]}\n"), "rules.custom[0]"),
    # typos and wrong values
    "unknown-section": (replace("targets:\n", "targts:\n"), "targts"),
    "unknown-target-key": (replace("      interval: 1m\n      event_interval: 20s",
                                   "      intervall: 1m\n      event_interval: 20s"), "targets.http[1].intervall"),
    "bad-url": (replace("url: ${FRONTEND_URL:-http://127.0.0.1:8000/v1/ping}", "url: not a url"),
                "targets.http[1].url"),
    "bad-method": (replace("      json_checks:", "      method: FETCH\n      json_checks:"), "targets.http[0].method"),
    "bad-step-method": (replace("method: POST", "method: FETCH"), "targets.synthetic[0].steps[0].method"),
    "bad-expect-status": (replace("      json_checks:", "      expect_status: [ok]\n      json_checks:"),
                          "targets.http[0].expect_status"),
    "uppercase-name": (replace("name: api-health", "name: API Health"), "targets.http[0].name"),
    "duplicate-target-name": (replace("name: frontend", "name: api-health"), "targets.http[1].name"),
    "duplicate-key": (replace("      timeout: 4s\n", "      timeout: 4s\n      timeout: 3s\n"), "timeout"),
    "store-backend-unknown": (set_after("\nstore:", "backend", "mysql"), "store.backend"),
    "store-postgres-no-dsn": (replace("  backend: sqlite\n  path: ${MONITOR_STORE:-./var/monitor.sqlite3}\n",
                                      "  backend: postgres\n"), "store"),
    "port-out-of-range": (replace("port: ${MONITOR_PORT:-9464}", "port: 70000"), "server.port"),
    "port-not-number": (replace("port: ${MONITOR_PORT:-9464}", "port: http"), "server.port"),
    "event-end-before-start": (replace("end: 2026-01-30", "end: 2026-01-20"), "event"),
    "event-unknown-timezone": (set_after("\nevent:", "timezone", "Mars/Olympus"), "event.timezone"),
    "event-impossible-date": (replace("start: 2026-01-28", "start: 2026-02-30"), "2026-02-30"),
    "env-unset": (replace("${CONVERGE_API_URL:-http://127.0.0.1:8000}/health", "${CORPUS_SURELY_UNSET_VAR}/health"),
                  "targets.http[0].url"),
    "env-unterminated": (replace("${FRONTEND_URL:-http://127.0.0.1:8000/v1/ping}", "${FRONTEND_URL"),
                         "targets.http[1].url"),
    "env-invalid-name": (replace("${FRONTEND_URL:-http://127.0.0.1:8000/v1/ping}", "${1URL}"),
                         "targets.http[1].url"),
    "max-reminders-negative": (replace("max_reminders: 3", "max_reminders: -1"), "alerting.max_reminders"),
    "backup-directory-and-command": (replace('    pattern: "*.dump"', '    pattern: "*.dump"\n    command: [ls]'),
                                     "backups[0]"),
    "disks-no-paths": (replace('paths: ["/", "."]', "paths: []"), "disks[0].paths"),
    "api-metrics-no-urls": (replace("      urls:\n        - ${CONVERGE_API_URL:-http://127.0.0.1:8000}/metrics",
                                    "      urls: []"), "targets.api_metrics[0].urls"),
    "synthetic-step-typo": (replace("          extract:", "          extrct:"), "targets.synthetic[0].steps[0].extrct"),
    "db-no-dsn": (replace("    dsn: ${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/converge}\n", ""),
                  "database[0].dsn"),
    "redis-top-clients-zero": (replace("top_clients: 5", "top_clients: 0"), "redis[0].top_clients"),
    "json-check-empty-path": (replace("- path: status", '- path: ""'), "targets.http[0].json_checks[0].path"),
    "max-redirects-too-many": (replace("      json_checks:", "      max_redirects: 50\n      json_checks:"),
                               "targets.http[0].max_redirects"),
    "deadman-ftp": (append("deadman: {url: ftp://hc.example/ping}\n"), "deadman.url"),
    "alertmanager-no-url": (append("alertmanager: {forward: true}\n"), "alertmanager.url"),
    "rules-not-a-mapping": (append("rules: [1, 2]\n"), "rules"),
    "oncall-unknown-person": (append(ONCALL.replace("order: [ana, ben]", "order: [ana, bob]")), "oncall"),
    "slo-objective-over-100": (replace('  report: {time: "18:00", channels: [slack, email]}',
                                       '  report: {time: "18:00", channels: [slack, email]}\n  objectives:\n'
                                       '    - {name: availability, objective: 150%, sli: {kind: requests}}'),
                               "slos.objectives[0].objective"),
    "deps-enabled-not-bool": (replace("enabled: ${DEPS_AUDIT:-true}", "enabled: maybe"), "dependencies[0].enabled"),
    "top-level-list": ("- targets\n- store\n", ""),
    "tab-indentation": (replace("  http:\n    - name: api-health", "  http:\n\t- name: api-health"), "YAML"),
    "unclosed-quote": (replace('pattern: "*.dump"', 'pattern: "*.dump'), "YAML"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "var").mkdir()
    out = {}
    for name, (text, _) in CORPUS.items():
        out[name] = folder / f"{name}.yml"
        out[name].write_text(text, encoding="utf-8")
    # templates_dir: ./monitor.yml must name an existing file that is not a folder
    (folder / "monitor.yml").write_text(SHIPPED, encoding="utf-8")
    (folder / "broken-templates").mkdir()
    (folder / "broken-templates" / "sms.txt.j2").write_text("{{ alerts[0].no_such_field }} {% if %}\n")
    return out


def test_the_corpus_is_large_and_the_shipped_file_is_valid(tmp_path: Path) -> None:
    assert len(CORPUS) >= 60
    (tmp_path / "monitor.yml").write_text(SHIPPED, encoding="utf-8")
    code, _, err = _cli("check-config", tmp_path / "monitor.yml")
    assert code == 0, err


def _cli(command: str, file: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(file), command])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", list(CORPUS))
def test_check_config_and_run_refuse_the_same_broken_file(name: str, files: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORPUS_SURELY_UNSET_VAR", raising=False)
    field = CORPUS[name][1]
    verdicts = []
    for command in ("check-config", "run"):
        started = time.monotonic()
        code, out, err = _cli(command, files[name])
        elapsed = time.monotonic() - started
        assert code == 2, f"{command} {name}: exit {code}\n{out}{err}"
        assert "Traceback" not in err
        assert field in err, f"{command} {name}: the error does not name {field!r}:\n{err}"
        assert str(files[name]) in err  # the file, and (where a line is known) file:line
        assert elapsed < 10, f"{command} {name} took {elapsed:.1f}s"  # a hang guard, not a speed test
        verdicts.append(err)
    assert verdicts[0] == verdicts[1]  # run and check-config never disagree


@pytest.mark.parametrize("name", ["alias-bomb", "deep-flow-nesting", "routing-unknown-paging-channel"])
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_the_real_command_refuses_in_bounded_memory(name: str, command: str, files: dict[str, Path]) -> None:
    """The installed command, in a process capped at 1 GB of address space: an alias bomb that is expanded
    (as before) runs out of memory or time; refused early, it exits 2 with one line."""
    cap = 1 << 30

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "--config", str(files[name]), command],
                          capture_output=True, text=True, timeout=60, preexec_fn=limit, env=env, cwd=REPO_ROOT)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert CORPUS[name][1] in proc.stderr
