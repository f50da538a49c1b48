"""Deploy watch: deploys recorded in the monitor's store, and the window after the last one.

    record_deploy(store, "v1.4.2", at=now, by="ci", keep=50)   # converge-monitor deploy mark, POST /api/deploys
    watch = DeployWatch(store, window=24 * 3600)
    watch.in_window(now)          # the rules' `deploy` values apply (AlertService(in_deploy=watch.in_window))
    store.write(watch.observations(now))   # deploy_window, deploy_last_timestamp_seconds, deploy_info{version}

The deploy list is one state entry (newest last, `keep` long); the signals make the window visible on /metrics
(Prometheus gates the exported deploy rules on converge_deploy_window) and the deploys on the dashboards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from monitor.core.observation import Observation
from monitor.core.signals import DEPLOY_INFO, DEPLOY_LAST, DEPLOY_WINDOW
from monitor.store import Store

STATE_KEY = "deploys"
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+:/@-]{0,99}$")  # tags, semver, git shas, image refs
REWRITE_EVERY = 60.0  # the signals are written on a change, and at least this often (fresh on /metrics)


class DeployError(ValueError):
    pass


@dataclass(frozen=True)
class Deploy:
    version: str
    at: float
    by: str = ""
    note: str = ""


def check_version(version: str) -> str:
    if not VERSION.match(version):
        raise DeployError("version must be 1-100 characters of letters, digits and . _ + : / @ - "
                          "(a tag, a semver or a commit), starting with a letter or digit")
    return version


def load_deploys(store: Store) -> list[Deploy]:
    data = store.get_state(STATE_KEY)
    out = []
    for item in data if isinstance(data, list) else []:
        try:
            out.append(Deploy(str(item["version"]), float(item["at"]), str(item.get("by", "")),
                              str(item.get("note", ""))))
        except (KeyError, TypeError, ValueError):
            continue  # an unreadable entry is skipped, not fatal
    return sorted(out, key=lambda d: d.at)


def record_deploy(store: Store, version: str, *, at: float, by: str = "", note: str = "", keep: int = 50) -> Deploy:
    deploy = Deploy(check_version(version), at, by[:100], note[:500])
    deploys = [*load_deploys(store), deploy]
    deploys.sort(key=lambda d: d.at)
    store.put_state(STATE_KEY, [asdict(d) for d in deploys[-keep:]])
    return deploy


def open_window(deploys: Sequence[Deploy], now: float, window: float) -> Deploy | None:
    """The last deploy at or before `now`, if its window is still open."""
    past = [d for d in deploys if d.at <= now]
    return past[-1] if past and now - past[-1].at < window else None


class DeployWatch:
    def __init__(self, store: Store, window: float) -> None:
        self.store = store
        self.window = window
        self._written: tuple[Any, ...] | None = None
        self._written_at = 0.0

    def deploys(self) -> list[Deploy]:
        return load_deploys(self.store)

    def in_window(self, now: float) -> bool:
        return open_window(self.deploys(), now, self.window) is not None

    def observations(self, now: float) -> list[Observation]:
        deploys = self.deploys()
        last = deploys[-1] if deploys else None
        out = [Observation(DEPLOY_WINDOW, 1.0 if open_window(deploys, now, self.window) else 0.0, now),
               Observation(DEPLOY_LAST, last.at if last else 0.0, now)]
        # every remembered version, the last one 1: its info series joins the deploy annotation's version
        versions = {d.version: 0.0 for d in deploys}
        if last is not None:
            versions[last.version] = 1.0
        out += [Observation(DEPLOY_INFO, v, now, {"version": name}) for name, v in versions.items()]
        return out

    def write(self, now: float) -> None:
        """Write the deploy signals when they changed, or every REWRITE_EVERY seconds."""
        obs = self.observations(now)
        key = tuple((o.signal, tuple(o.labels.items()), o.value) for o in obs)
        if key != self._written or now - self._written_at >= REWRITE_EVERY:
            self.store.write(obs)
            self._written, self._written_at = key, now
