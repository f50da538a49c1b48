"""The rule catalog: the spec's tiers as data, and monitor.yml's `rules:` section merged onto it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.inhibition import DEFAULT_INHIBIT_RULES
from alerts.model import Tier
from alerts.rules import DEFAULT_RULES, Rule, RulesConfig, RulesError, format_value, load_rules, render
from monitor.core.signals import CATALOG

RULES = {r.name: r for r in DEFAULT_RULES}

# The spec, written out by hand: name, tier, signal, comparison, threshold, for (s), event threshold, event for.
SPEC = [
    # 8.6 critical
    ("ApiDown", "critical", "http_up", "==", 0, 30, 0, 1),  # event: 1 s, a failed check and its re-check
    ("DbPoolExhausted", "critical", "api_db_pool_utilization", ">=", 1.0, 60, 1.0, 20),
    ("DbPoolRequestsWaiting", "critical", "api_db_pool_waiting", ">", 0, 60, 0, 20),
    ("ErrorRateCritical", "critical", "api_error_ratio", ">", 0.10, 120, 0.10, 30),
    ("DdosSuspected", "critical", "redis_top_client_requests_per_minute", ">", 10000, 60, 10000, 0),
    ("ErrorSpike", "critical", "api_unhandled_errors_per_minute", ">", 10, 60, 10, 15),
    # 8.5: the frontend and the login flow, watched besides /health
    ("FrontendDown", "critical", "http_up", "==", 0, 120, 0, 30),
    ("LoginFlowFailing", "critical", "synthetic_success", "==", 0, 120, 0, 30),
    # 8.6 high
    ("LatencyP95High", "high", "api_latency_p95_seconds", ">", 2.0, 300, 1.5, 120),
    ("ErrorRateHigh", "high", "api_error_ratio", ">", 0.05, 300, 0.03, 120),
    ("RedisDown", "high", "redis_up", "==", 0, 60, 0, 20),
    ("PostgresDown", "high", "postgres_up", "==", 0, 60, 0, 20),
    ("NotificationChannelFailing", "high", "notification_channel_up", "==", 0, 0, 0, 0),
    ("TlsCertExpiring", "high", "tls_cert_days_left", "<", 7, 300, 14, 300),
    ("MemoryHigh", "high", "api_memory_ratio", ">", 0.90, 300, 0.90, 120),
    ("ProbeUnknown", "high", "probe_success", "unknown", None, 300, None, 60),
    ("ApiMetricsDown", "high", "api_up", "==", 0, 120, 0, 30),
    # 10: daily backups (26 h), hourly in the event (75 min); an empty dump; WAL archiving; Redis persistence
    ("BackupStale", "high", "backup_age_seconds", ">", 93600, 0, 4500, 0),
    ("BackupEmpty", "high", "backup_size_bytes", "==", 0, 0, 0, 0),
    ("WalArchiveFailing", "high", "postgres_wal_archive_failing", "==", 1, 300, 1, 60),
    ("PostgresConnectionsNearLimit", "high", "postgres_connections_ratio", ">", 0.95, 60, 0.95, 20),
    ("RedisEvictingKeys", "high", "redis_evicted_keys_per_second", ">", 0, 120, 0, 30),
    ("RedisSnapshotFailing", "high", "redis_rdb_last_bgsave_ok", "==", 0, 60, 0, 60),
    ("RedisAofWriteFailing", "high", "redis_aof_last_write_ok", "==", 0, 60, 0, 60),
    # 8.6 medium
    ("LatencyP95Elevated", "medium", "api_latency_p95_seconds", ">", 1.0, 300, 0.8, 120),
    ("DbPoolHigh", "medium", "api_db_pool_utilization", ">", 0.80, 300, 0.80, 120),
    ("MemoryElevated", "medium", "api_memory_ratio", ">", 0.80, 300, 0.80, 120),
    ("CpuHigh", "medium", "api_cpu_ratio", ">", 0.80, 300, 0.80, 120),
    ("RedisMemoryHigh", "medium", "redis_memory_ratio", ">", 0.80, 300, 0.80, 120),
    ("BackupFailed", "medium", "backup_success", "==", 0, 0, 0, 0),
    ("SlowQueries", "medium", "postgres_slow_queries", ">", 0, 300, 0, 120),
    ("PostgresConnectionsHigh", "medium", "postgres_connections_ratio", ">", 0.80, 300, 0.80, 120),
    ("RedisSnapshotStale", "medium", "redis_unsaved_seconds", ">", 93600, 0, 3600, 0),
    # 8.6 low
    ("DiskUsageHigh", "low", "disk_used_ratio", ">", 0.75, 600, 0.75, 300),
    ("DependencyVulnerability", "low", "dependency_vulnerabilities", ">", 0, 0, 0, 0),
    # 9.3 scaling triggers and the request/websocket advisories
    ("ScaleUpCpu", "advisory", "api_cpu_ratio", ">", 0.70, 300, 0.70, 120),
    # spec 1 "< 2 s page load", 10 (restore verified: RTO, RPO), the deployment checklist's critical features
    ("CriticalJourneyFailing", "critical", "journey_success", "==", 0, 240, 0, 60),
    ("PageLoadFailed", "high", "browser_page_ok", "==", 0, 240, 0, 60),
    ("PageLoadVerySlow", "high", "browser_load_seconds", ">", 4, 360, 4, 120),
    ("BackupRestoreFailed", "high", "backup_restore_success", "==", 0, 0, 0, 0),
    ("PageLoadSlow", "medium", "browser_load_seconds", ">", 2, 600, 2, 180),
    ("BackupRestoreSlowerThanRto", "medium", "backup_restore_seconds", ">", 3600, 0, 900, 0),
    ("BackupRestoreOlderThanRpo", "medium", "backup_restore_age_seconds", ">", 93600, 0, 3600, 0),
    ("ScaleDownCpu", "advisory", "api_cpu_ratio", "<", 0.30, 900, 0.30, 900),
    ("ScaleUpMemory", "advisory", "api_memory_ratio", ">", 0.80, 300, 0.80, 120),
    ("ScaleDownMemory", "advisory", "api_memory_ratio", "<", 0.50, 900, 0.50, 900),
    ("ScaleUpRequestRate", "advisory", "api_requests_per_minute_per_instance", ">", 500, 300, 500, 120),
    ("ScaleDownRequestRate", "advisory", "api_requests_per_minute_per_instance", "<", 200, 900, 200, 900),
    ("ScaleUpLatency", "advisory", "api_latency_p95_seconds", ">", 1.0, 600, 1.0, 300),
    ("ScaleDownLatency", "advisory", "api_latency_p95_seconds", "<", 0.5, 1200, 0.5, 1200),
    ("HighRequestRate", "advisory", "api_requests_per_minute", ">", 1000, 300, 1000, 120),
    ("WebsocketsHigh", "advisory", "api_websocket_connections", ">", 500, 300, 500, 120),
]


def test_catalog_is_exactly_the_spec_table() -> None:
    assert sorted(RULES) == sorted(row[0] for row in SPEC)


@pytest.mark.parametrize(("name", "tier", "signal", "comparison", "threshold", "for_", "ev_threshold", "ev_for"),
                         SPEC, ids=[row[0] for row in SPEC])
def test_default_rule_matches_spec(name: str, tier: str, signal: str, comparison: str, threshold: float | None,
                                   for_: float, ev_threshold: float | None, ev_for: float) -> None:
    rule = RULES[name]
    assert (rule.tier, rule.signal, rule.comparison) == (Tier(tier), signal, comparison)
    normal, event = rule.params(False), rule.params(True)
    assert (normal.threshold, normal.for_) == (threshold, for_)
    assert (event.threshold, event.for_) == (ev_threshold, ev_for)
    # higher sensitivity in the event window, never lower
    assert event.for_ <= normal.for_
    if comparison in (">", ">="):
        assert event.threshold <= normal.threshold
    elif comparison in ("<", "<="):
        assert event.threshold >= normal.threshold
    assert rule.summary and rule.runbook and rule.enabled


def test_every_rule_names_a_catalog_signal_with_its_labels() -> None:
    for rule in DEFAULT_RULES:
        assert rule.signal in CATALOG
        assert set(rule.labels) <= set(CATALOG[rule.signal].labels)
    assert RULES["ApiDown"].labels == {"target": "api-health"}
    assert RULES["LatencyP95High"].labels == {"route": "*"}


def test_inhibition_rules_name_existing_rules() -> None:
    for inhibit in DEFAULT_INHIBIT_RULES:
        assert inhibit.source | inhibit.target <= set(RULES), inhibit.name


def test_clear_thresholds_sit_on_the_healthy_side() -> None:
    for rule in DEFAULT_RULES:
        for in_event in (False, True):
            p = rule.params(in_event)
            if rule.comparison in (">", ">="):
                assert p.clear_threshold <= p.threshold, rule.name
            elif rule.comparison in ("<", "<="):
                assert p.clear_threshold >= p.threshold, rule.name
    assert RULES["ErrorRateCritical"].params(False).clear_threshold == 0.08
    assert RULES["ErrorRateHigh"].params(True).clear_threshold == 0.025
    # an event threshold without its own clear threshold: the band scales with it
    assert RULES["TlsCertExpiring"].params(True).clear_threshold == 14


def test_rule_by_alias_and_zero_durations() -> None:
    rule = Rule.model_validate({"name": "X", "tier": "low", "signal": "disk_used_ratio", "comparison": ">",
                                "threshold": 0.5, "for": "0s", "keep_firing_for": 0, "event": {"for": "5m"}})
    assert rule.for_ == 0 and rule.keep_firing_for == 0 and rule.params(True).for_ == 300
    assert rule.model_dump(by_alias=True)["for"] == 0


@pytest.mark.parametrize(("patch", "field", "message"), [
    ({"signal": "disk_use_ratio"}, "signal", "did you mean 'disk_used_ratio'"),
    ({"comparison": "=>"}, "comparison", "Input should be"),
    ({"tier": "urgent"}, "tier", "Input should be"),
    ({"threshold": None}, "", "threshold: required"),
    ({"clear_threshold": 0.9}, "", "clear_threshold: 0.9 must be <= the threshold 0.5"),
    ({"labels": {"route": "*"}}, "", "has no label 'route'"),
    ({"summary": "{value} on {host}"}, "", "unknown placeholder {host}"),
    ({"for": "-5s"}, "for", "invalid duration"),
    ({"threshold": float("nan")}, "threshold", ""),
    ({"colour": "red"}, "colour", "Extra inputs"),
    ({"name": "has space"}, "name", "pattern"),
])
def test_bad_rules_are_refused_naming_the_field(patch: dict, field: str, message: str) -> None:
    base = {"name": "X", "tier": "low", "signal": "disk_used_ratio", "comparison": ">", "threshold": 0.5}
    with pytest.raises(ValidationError) as info:
        Rule.model_validate({**base, **patch})
    err = info.value.errors()[0]
    assert ".".join(map(str, err["loc"])) == field
    assert message in err["msg"]


def test_unknown_comparison_takes_no_threshold() -> None:
    with pytest.raises(ValidationError, match="not used with comparison 'unknown'"):
        Rule.model_validate({"name": "X", "tier": "high", "signal": "probe_success", "comparison": "unknown",
                             "threshold": 1})


def test_render_formats_values_by_unit() -> None:
    rule = RULES["ErrorRateHigh"]
    assert render(rule.summary, rule, {"target": "api"}, 0.0712, 0.05) == \
        "7.1% of requests to api fail with 5xx (threshold 5.0%)"
    assert format_value("api_latency_p95_seconds", 2.345) == "2.35s"
    assert format_value("api_latency_p95_seconds", 0.5) == "500ms"
    assert format_value("tls_cert_days_left", 3) == "3.0 days"
    assert format_value("api_error_ratio", None) == "unknown"
    disk = RULES["DiskUsageHigh"]
    rendered = render(disk.summary, disk, {"target": "host", "path": "/var"}, 0.8, 0.75)
    assert rendered == "Disk /var of host is 80.0% full"


# -- monitor.yml overrides ----------------------------------------------------------------------------

def test_no_section_gives_the_defaults() -> None:
    assert load_rules(None) == DEFAULT_RULES
    assert load_rules({}) == DEFAULT_RULES


def test_override_changes_fields_and_keeps_the_rest() -> None:
    rules = {r.name: r for r in load_rules({"overrides": {
        "ErrorRateHigh": {"threshold": 0.03, "for": "2m"},
        "ApiDown": {"labels": {"target": "prod-health"}, "event": {"for": "15s"}},
        "CpuHigh": {"tier": "high", "threshold": 0.9, "clear_threshold": 0.85},
    }})}
    high = rules["ErrorRateHigh"]
    assert (high.threshold, high.for_, high.tier) == (0.03, 120, Tier.HIGH)
    assert high.clear_threshold == pytest.approx(0.024)  # 5% / 4% band kept in proportion
    assert high.params(True).threshold == 0.03  # the event override is untouched
    api = rules["ApiDown"]
    assert api.labels == {"target": "prod-health"}
    assert (api.params(True).for_, api.params(True).keep_firing_for) == (15, 10)  # event merged field by field
    assert (rules["CpuHigh"].tier, rules["CpuHigh"].clear_threshold) == (Tier.HIGH, 0.85)
    assert rules["MemoryHigh"] == RULES["MemoryHigh"]


def test_event_override_can_be_removed() -> None:
    rules = {r.name: r for r in load_rules({"overrides": {"ErrorRateHigh": {"event": None}}})}
    assert rules["ErrorRateHigh"].params(True) == rules["ErrorRateHigh"].params(False)


def test_disable_and_custom_rules() -> None:
    rules = load_rules({
        "disabled": ["ScaleDownCpu"],
        "overrides": {"ScaleDownMemory": {"enabled": False}},
        "custom": [{"name": "SyntheticLoginFailing", "tier": "high", "signal": "synthetic_success",
                    "labels": {"flow": "login-and-sessions"}, "comparison": "==", "threshold": 0, "for": "2m",
                    "summary": "Synthetic flow {flow} fails"}],
    })
    by_name = {r.name: r for r in rules}
    assert not by_name["ScaleDownCpu"].enabled and not by_name["ScaleDownMemory"].enabled
    assert by_name["SyntheticLoginFailing"].for_ == 120
    assert [r.name for r in rules][-1] == "SyntheticLoginFailing"
    assert len(rules) == len(DEFAULT_RULES) + 1


def test_typed_section_is_accepted() -> None:
    cfg = RulesConfig.model_validate({"overrides": {"DiskUsageHigh": {"threshold": 0.85}}})
    assert {r.name: r for r in load_rules(cfg)}["DiskUsageHigh"].threshold == 0.85


@pytest.mark.parametrize(("section", "expected"), [
    ({"overrides": {"HighErrorRate": {"threshold": 0.03}}},
     "rules.overrides.HighErrorRate: unknown rule 'HighErrorRate'"),
    ({"overrides": {"ErrorRateHigh": {"treshold": 0.03}}},
     "rules.overrides.ErrorRateHigh.treshold: unknown field 'treshold'; did you mean 'threshold'?"),
    ({"overrides": {"ErrorRateHigh": {"event": {"fro": "1m"}}}},
     "rules.overrides.ErrorRateHigh.event.fro: unknown field 'fro'; did you mean 'for'?"),
    ({"overrides": {"ErrorRateHigh": {"signal": "api_error_rate"}}},
     "rules.overrides.ErrorRateHigh.signal: unknown signal 'api_error_rate'; did you mean 'api_error_ratio'?"),
    ({"overrides": {"ErrorRateHigh": {"comparison": "=>"}}},
     "rules.overrides.ErrorRateHigh.comparison: Input should be '>', '>=', '<', '<=', '==', '!=' or 'unknown'"),
    ({"overrides": {"CpuHigh": {"clear_threshold": 0.9}}},
     "rules.overrides.CpuHigh.clear_threshold: 0.9 must be <= the threshold 0.8"),
    ({"overrides": {"ErrorRateHigh": {"event": {"clear_threshold": 0.05}}}},
     "rules.overrides.ErrorRateHigh.event.clear_threshold: 0.05 must be <= the threshold 0.03"),
    ({"overrides": {"ErrorRateHigh": {"for": "soon"}}},
     "rules.overrides.ErrorRateHigh.for: invalid duration 'soon'"),
    ({"disabled": ["NoSuchRule"]}, "rules.disabled[0]: unknown rule 'NoSuchRule'"),
    ({"custom": [{"name": "ApiDown", "tier": "low", "signal": "http_up", "comparison": "==", "threshold": 0}]},
     "rules.custom[0].name: 'ApiDown' is a default rule: change it under rules.overrides"),
    ({"custom": [{"name": "Mine", "tier": "low", "signal": "nope", "comparison": ">", "threshold": 1}]},
     "rules.custom[0].signal: unknown signal 'nope'"),
    ({"custom": [{"name": "Mine", "tier": "low", "signal": "http_up", "comparison": "~", "threshold": 1}]},
     "rules.custom[0].comparison: Input should be"),
    ({"custom": [{"name": "Mine", "signal": "http_up", "comparison": "==", "threshold": 1}]},
     "rules.custom[0].tier: required field is missing"),
    ({"overides": {}}, "rules.overides: unknown field 'overides'; did you mean 'overrides'?"),
    (["ApiDown"], "rules: must be a mapping"),
])
def test_bad_overrides_name_the_rule_and_field(section: object, expected: str) -> None:
    with pytest.raises(RulesError) as info:
        load_rules(section)  # type: ignore[arg-type]
    assert expected in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RulesError) as info:
        load_rules({"overrides": {"Nope": {}, "ErrorRateHigh": {"treshold": 1}}, "disabled": ["Gone"]})
    assert [p[0] for p in info.value.problems] == [
        ("rules", "overrides", "ErrorRateHigh", "treshold"), ("rules", "overrides", "Nope"), ("rules", "disabled", 0)]


def test_a_guard_must_name_a_signal_of_the_same_series_and_can_be_overridden_away() -> None:
    base = {"name": "X", "tier": "advisory", "signal": "api_cpu_ratio", "comparison": "<", "threshold": 0.3}
    with pytest.raises(RulesError, match=r"only_if.*cannot be matched"):
        load_rules({"custom": [{**base, "only_if": {"signal": "disk_used_ratio", "comparison": ">", "threshold": 0}}]})
    with pytest.raises(RulesError, match="unknown signal"):
        load_rules({"custom": [{**base, "only_if": {"signal": "api_scale_room", "comparison": ">", "threshold": 0}}]})
    rules = {r.name: r for r in load_rules({"overrides": {"ScaleDownCpu": {"only_if": None}}})}
    assert rules["ScaleDownCpu"].only_if is None
    assert rules["ScaleDownMemory"].only_if is not None and rules["ScaleDownMemory"].only_if.signal == \
        "api_scale_down_room"
