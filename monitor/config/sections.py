"""The config file's sections other than the target lists: store, server, event window, dead man's switch.

Every model forbids unknown keys; a null value (a section whose entries are all commented out) means
the default.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from alerts.model import Tier
from monitor.core.sections import Section
from monitor.core.targets import (
    ApiMetricsTarget,
    BrowserTarget,
    Duration,
    HttpTarget,
    JourneyTarget,
    SyntheticTarget,
)

DEFAULT_STORE_PATH = "./var/monitor.sqlite3"
DEFAULT_PORT = 9464  # the monitor's /metrics, API and board; clear of the API (8000) and Prometheus (9090)


class ApiTargets(Section):
    """The Converge API as users see it: uptime URLs, the synthetic login flow, and its /metrics."""

    http: list[HttpTarget] = Field(default_factory=list)
    synthetic: list[SyntheticTarget] = Field(default_factory=list)
    journey: list[JourneyTarget] = Field(default_factory=list)
    browser: list[BrowserTarget] = Field(default_factory=list)
    api_metrics: list[ApiMetricsTarget] = Field(default_factory=list)


class StoreConfig(Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: str = Field(DEFAULT_STORE_PATH, min_length=1)  # sqlite
    dsn: SecretStr | None = None  # postgres; never the monitored database
    retention: Duration = 30 * 86400.0  # a 30-day SLO window needs 30 days of history
    # How history ages (monitor/store/retention.py): raw samples, then per-minute rollups, then coarse ones
    # until `retention`; the SLOs' count buckets and the delivered notifications have their own.
    raw_retention: Duration = 6 * 3600.0
    minute_rollups: Duration = 2 * 86400.0
    coarse_rollup: Duration = 3600.0
    counts_retention: Duration = 400 * 86400.0
    outbox_retention: Duration = 30 * 86400.0

    @model_validator(mode="after")
    def _ages(self) -> StoreConfig:
        if not self.raw_retention <= self.minute_rollups <= self.retention:
            raise ValueError("raw_retention <= minute_rollups <= retention, please: history is kept raw, then "
                             "per minute, then coarser")
        if self.coarse_rollup < 60 or self.coarse_rollup % 60:
            raise ValueError("coarse_rollup must be a whole number of minutes")
        return self

    @model_validator(mode="after")
    def _backend_fields(self) -> StoreConfig:
        if self.backend == "sqlite" and self.dsn is not None:
            raise ValueError("dsn is only for backend postgres; backend sqlite uses path")
        if self.backend == "postgres":
            if self.dsn is None:
                raise ValueError("backend postgres needs a dsn, e.g. dsn: ${MONITOR_DATABASE_URL}")
            if "path" in self.model_fields_set:
                raise ValueError("path is only for backend sqlite; backend postgres uses dsn")
        return self


class ServerConfig(Section):
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    # Bearer token for the write endpoints (ack, silences); without it they are refused.
    api_token: SecretStr | None = None

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `${MONITOR_API_TOKEN:-}` with the variable unset means "no token", not an empty password.
        return None if value in ("", None) or (isinstance(value, SecretStr) and not value.get_secret_value()) \
            else value


class AlertmanagerConfig(Section):
    """Forward the monitor's alerts to an Alertmanager (`/api/v2/alerts`), as Prometheus would."""

    url: AnyHttpUrl
    forward: bool = True
    resend_ahead: Duration = 180.0  # endsAt of a firing alert: this far ahead, renewed every cycle


class AlertingConfig(Section):
    """How often the alert rules are evaluated, and how notifications are grouped and repeated."""

    evaluation_interval: Duration = 5.0
    event_evaluation_interval: Duration = 2.0
    group_interval: Duration = 60.0
    max_reminders: int = Field(3, ge=0, le=100)
    repeat_interval: dict[Tier, Duration] = Field(default_factory=dict)  # per tier; defaults in alerts.dispatch
    # Every notification is also printed and appended here (the embedded default channel).
    notifications_file: str = Field("./var/notifications.jsonl", min_length=1)
    templates_dir: str | None = None  # a folder whose *.j2 files override alerts/templates/ file by file


class SentryConfig(Section):
    """Sentry's integration-platform webhooks to POST /api/sentry, signed with the integration's client secret."""

    model_config = ConfigDict(hide_input_in_errors=True)  # errors never echo the secret
    client_secret: SecretStr

    @field_validator("client_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().strip()) < 16:
            raise ValueError("client_secret must be the integration's client secret (at least 16 characters; "
                             "value hidden), e.g. client_secret: ${SENTRY_CLIENT_SECRET}")
        return value


class DeploysConfig(Section):
    """Deploy watch: after a deploy (`converge-monitor deploy mark`, POST /api/deploys) the rules' `deploy`
    values apply for `window` (the post-deployment checklist's first 24 hours)."""

    window: Duration = 24 * 3600.0
    keep: int = Field(50, ge=1, le=1000)  # deploys remembered (board, annotations)


class DeadmanConfig(Section):
    """A URL pinged after each healthy cycle (healthchecks.io style): silence there means we are down."""

    url: SecretStr  # such URLs embed a token
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host (value hidden)")
        return value


def _loose(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    raise ValueError("must be a mapping or a list")


# Sections typed by later releases (rules, channels, ...): accepted as plain data for now, and kept out
# of repr because they will hold webhook URLs and tokens.
Loose = Annotated[dict[str, Any] | list[Any] | None, BeforeValidator(_loose)]


def loose_field() -> Any:
    return Field(None, repr=False)
