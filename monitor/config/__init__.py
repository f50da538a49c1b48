"""The monitor's configuration: one YAML file (monitor.yml), typed and validated.

    config = load_config()            # --config FILE, else $CONVERGE_MONITOR_CONFIG, else monitor.yml
    for target in config.all_targets(): ...

Strings may reference the environment: ${VAR} or ${VAR:-default}. Secrets are SecretStr, so the
loaded config never shows them. A bad file raises ConfigError with one Problem per mistake, each
naming the field path (targets.http[1].timeout) and its line. Relative paths in the file are
relative to the directory of the file, so the monitor finds the same files from any working directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from alerts.ack import AckConfig
from alerts.maintenance import MaintenanceWindows
from alerts.notifiers.config import ChannelsConfig
from alerts.oncall import OnCallConfig
from alerts.routing import DEFAULTS as DEFAULT_ROUTES
from alerts.routing import RoutingConfig
from alerts.rules import Rule, RulesError, load_rules
from alerts.silences import SilencesConfig
from alerts.templates import Templates
from monitor.config.env import substitute
from monitor.config.loader import parse_yaml
from monitor.config.problems import validation_problems
from monitor.config.sections import (
    AlertingConfig,
    AlertmanagerConfig,
    ApiTargets,
    DeadmanConfig,
    DeploysConfig,
    Loose,
    SentryConfig,
    ServerConfig,
    StoreConfig,
    loose_field,
)
from monitor.core.problems import ConfigError, Loc, Problem, format_loc
from monitor.core.sections import EventWindow, Section
from monitor.core.targets import (
    AnyTarget,
    BackupRestoreTarget,
    BackupTarget,
    DepsTarget,
    DiskTarget,
    PostgresTarget,
    RedisTarget,
)
from slo.alerting import slo_alert_rules
from slo.spec import SlosConfig, cross_check

__all__ = ["Config", "ConfigError", "EventWindow", "Problem", "StoreConfig", "default_config_path",
           "find_config_file", "load_config"]

ENV_CONFIG = "CONVERGE_MONITOR_CONFIG"
DEFAULT_FILE = "monitor.yml"


class Config(Section):
    targets: ApiTargets = Field(default_factory=ApiTargets)
    database: list[PostgresTarget] = Field(default_factory=list)
    redis: list[RedisTarget] = Field(default_factory=list)
    backups: list[BackupTarget] = Field(default_factory=list)
    restore_checks: list[BackupRestoreTarget] = Field(default_factory=list)
    disks: list[DiskTarget] = Field(default_factory=list)
    dependencies: list[DepsTarget] = Field(default_factory=list)
    store: StoreConfig = Field(default_factory=StoreConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    event: EventWindow | None = None
    deadman: DeadmanConfig | None = None
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    rules: Loose = loose_field()  # checked by alerts.rules.load_rules below; see rules()
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    oncall: OnCallConfig | None = None
    silences: SilencesConfig = Field(default_factory=SilencesConfig)
    maintenance: MaintenanceWindows = Field(default_factory=list)
    ack: AckConfig | None = None
    alertmanager: AlertmanagerConfig | None = None
    sentry: SentryConfig | None = None
    deploys: DeploysConfig = Field(default_factory=DeploysConfig)
    channels: ChannelsConfig = Field(default_factory=lambda: ChannelsConfig({}), repr=False)
    slos: SlosConfig = Field(default_factory=SlosConfig)

    _source: Path | None = PrivateAttr(None)
    _rules: list[Rule] = PrivateAttr(default_factory=list)

    def effective_rules(self) -> list[Rule]:
        """The default rule catalog with this file's overrides, disabled rules and custom rules."""
        return list(self._rules)

    @model_validator(mode="after")
    def _valid_rules(self) -> Config:
        try:
            self._rules = load_rules(self.rules if isinstance(self.rules, dict) else None)
            self._rules += slo_alert_rules(self.slos, self.event)  # the SLOs' burn-rate alerts (page/ticket tiers)
        except RulesError as exc:
            raise ValidationError.from_exception_data("Config", [
                _error(tuple(loc), "{message}", message=msg) for loc, msg in exc.problems]) from None
        if self.rules is not None and not isinstance(self.rules, dict):
            raise ValidationError.from_exception_data("Config", [
                _error(("rules",), "must be a mapping with overrides, disabled and custom")])
        return self

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from (None when built in code)."""
        return self._source

    def located_targets(self) -> Iterator[tuple[Loc, AnyTarget]]:
        """Every target, enabled or not, with its place in the file, in file-section order."""
        sections: list[tuple[Loc, list[Any]]] = [
            (("targets", "http"), self.targets.http), (("targets", "synthetic"), self.targets.synthetic),
            (("targets", "journey"), self.targets.journey), (("targets", "browser"), self.targets.browser),
            (("targets", "api_metrics"), self.targets.api_metrics), (("database",), self.database),
            (("redis",), self.redis), (("backups",), self.backups), (("restore_checks",), self.restore_checks),
            (("disks",), self.disks),
            (("dependencies",), self.dependencies),
        ]
        for prefix, targets in sections:
            for i, target in enumerate(targets):
                yield (*prefix, i), target

    def all_targets(self) -> list[AnyTarget]:
        """The enabled targets in a stable order (section, then file order): what the scheduler runs."""
        return [target for _, target in self.located_targets() if target.enabled]

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: dict[str, Loc] = {}
        errors: list[InitErrorDetails] = []
        for loc, target in self.located_targets():
            if target.name in seen:
                first = (*seen[target.name], "name")
                errors.append(_error((*loc, "name"), "target name '{name}' is already used by {other}",
                                     name=target.name, other=format_loc(first), other_loc=first))
            seen.setdefault(target.name, loc)
        if errors:  # all duplicates at once, each at its own place
            raise ValidationError.from_exception_data("Config", errors)
        return self

    @model_validator(mode="after")
    def _slos_fit(self) -> Config:
        api = [t.name for t in self.targets.api_metrics]
        problems = cross_check(self.slos, api)  # pass self.store.retention to refuse a history shorter than 30d
        if problems:
            raise ValidationError.from_exception_data("Config", [
                _error(loc, "{message}", message=msg) for loc, msg in problems])
        return self

    @model_validator(mode="after")
    def _channels_known(self) -> Config:
        # A channel named in routing or in an escalation step but not configured would be dropped at delivery:
        # a typo in the only paging channel would send pages to the log. The built-in defaults (sms, slack,
        # email) are exempt: without those channels they go to the console, as documented.
        known = set(self.channels.names())
        configured = ", ".join(sorted(known)) or "none"
        errors: list[InitErrorDetails] = []

        def check(loc: Loc, names: list[str]) -> None:
            for i, name in enumerate(names):
                if name not in known:
                    errors.append(_error((*loc, i), "unknown channel {name!r}: not in the channels: section "
                                         "(configured: {configured})", name=name, configured=configured))

        for tier, defaults in DEFAULT_ROUTES.items():
            route = self.routing.route(tier)
            for part in ("event", "normal", "fallback"):
                if list(getattr(route, part)) != defaults[part]:
                    check(("routing", tier.value, part), getattr(route, part))
        if self.oncall is not None and "steps" in self.oncall.escalation.model_fields_set:
            for i, step in enumerate(self.oncall.escalation.steps):
                check(("oncall", "escalation", "steps", i, "channels"), step.channels)
        if errors:
            raise ValidationError.from_exception_data("Config", errors)
        return self

    @model_validator(mode="after")
    def _store_is_not_monitored(self) -> Config:
        # The monitor must keep working when the monitored database is down.
        dsn = self.store.dsn.get_secret_value() if self.store.dsn else None
        for loc, target in self.located_targets():
            if dsn and isinstance(target, PostgresTarget) and target.dsn.get_secret_value() == dsn:
                raise ValidationError.from_exception_data("Config", [_error(
                    ("store", "dsn"), "the store must not be the database monitored by {other}",
                    other=format_loc(loc), other_loc=(*loc, "dsn"))])
        return self


def _error(loc: Loc, template: str, **ctx: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("config", template, {**ctx, "loc": loc}), loc=loc, input=None)


def default_config_path() -> Path:
    """monitor.yml at the repository root (found from this package), else in the working directory."""
    repo_file = Path(__file__).resolve().parents[2] / DEFAULT_FILE
    return repo_file if repo_file.is_file() else Path.cwd() / DEFAULT_FILE


def find_config_file(explicit: str | os.PathLike[str] | None = None,
                     environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    return default_config_path()


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, substitute, validate. Raises ConfigError (never anything else) for a bad file."""
    environ = os.environ if environ is None else environ
    file = find_config_file(path, environ)
    source = str(file)
    text = _read(file, source)
    doc = parse_yaml(text, source)
    env = substitute(doc.data, environ)
    problems = [Problem(format_loc(loc), message, doc.locate(loc)[1]) for loc, message in env.problems]
    config: Config | None = None
    try:
        config = Config.model_validate(env.data)
    except ValidationError as exc:
        problems += validation_problems(exc, doc, Config, env)
    if problems or config is None:
        raise ConfigError(source, sorted(problems, key=lambda p: p.line or 0))
    config = _resolve_paths(config, file.resolve().parent)
    missing = [Problem(format_loc(loc), message, doc.locate(loc)[1]) for loc, message in _missing_paths(config)]
    if not missing:
        at = ("alerting", "templates_dir")
        missing = [Problem(format_loc(at), message, doc.locate(at)[1]) for message in _template_problems(config)]
    if missing:
        raise ConfigError(source, sorted(missing, key=lambda p: p.line or 0))
    config._source = file.resolve()
    return config


def _template_problems(config: Config) -> list[str]:
    """Every template of `templates_dir` rendered with a sample notification, as `run` would at each send:
    one that does not parse or render is refused now, not when the first page of the event goes out."""
    if config.alerting.templates_dir is None:
        return []
    zone = config.event.timezone if config.event else "UTC"
    return Templates(config.alerting.templates_dir, zone).check()


def _missing_paths(config: Config) -> list[tuple[Loc, str]]:
    """Files and folders `run` reads at start or on every check (already resolved against the file's folder)."""
    wanted: list[tuple[Loc, str | None, bool]] = [(("alerting", "templates_dir"), config.alerting.templates_dir, True)]
    wanted += [(("targets", "http", i, "ca_file"), t.ca_file, False)
               for i, t in enumerate(config.targets.http) if t.enabled]
    for i, dep in enumerate(config.dependencies):
        if dep.enabled:
            wanted += [(("dependencies", i, "report_file"), dep.report_file if dep.mode == "report" else None, False),
                       (("dependencies", i, "requirements"), dep.requirements, False)]
    problems = []
    for loc, path, folder in wanted:
        if path is None:
            continue
        if folder and not os.path.isdir(path):
            problems.append((loc, f"{path} is not a folder" if os.path.exists(path) else f"{path} does not exist"))
        elif not folder and not os.path.isfile(path):
            problems.append((loc, f"{path} is not a file" if os.path.exists(path) else f"{path} does not exist"))
    return problems


def _read(file: Path, source: str) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        why = "config file not found"
        if not file.is_absolute():
            why += f" (looked in {Path.cwd()})"
        raise ConfigError(source, [Problem("", why + f"; pass --config FILE or set {ENV_CONFIG}")]) from None
    except IsADirectoryError:
        raise ConfigError(source, [Problem("", "is a directory, not a config file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [Problem("", f"not UTF-8 text (bad byte at offset {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError(source, [Problem("", f"cannot read the config file: {exc.strerror or exc}")]) from None


def _resolve_paths(config: Config, base: Path) -> Config:
    def resolve(p: str) -> str:
        return os.path.normpath(base / Path(p).expanduser())

    def opt(p: str | None) -> str | None:
        return None if p is None else resolve(p)

    return config.model_copy(update={
        "store": config.store.model_copy(update={"path": resolve(config.store.path)}),
        "alerting": config.alerting.model_copy(
            update={"notifications_file": resolve(config.alerting.notifications_file),
                    "templates_dir": opt(config.alerting.templates_dir)}),
        "targets": config.targets.model_copy(update={
            "http": [t.model_copy(update={"ca_file": opt(t.ca_file)}) for t in config.targets.http]}),
        "backups": [t.model_copy(update={"directory": opt(t.directory)}) for t in config.backups],
        "restore_checks": [t.model_copy(update={"directory": resolve(t.directory)}) for t in config.restore_checks],
        "disks": [t.model_copy(update={"paths": [resolve(p) for p in t.paths]}) for t in config.disks],
        "dependencies": [t.model_copy(update={"report_file": opt(t.report_file), "requirements": opt(t.requirements)})
                         for t in config.dependencies],
    })
