"""The faults of the issue-13 drills: a Sentry regression, a deploy followed by 2% errors, a slow page and a
broken backup. Same four steps as faults.py (precheck, inject, tick, remove); thresholds from the stack's rules."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx

from devstack.drills import faults
from devstack.drills.faults import ApiFault, Fault
from devstack.drills.sentry_webhook import issue_payload, signed
from devstack.drills.stack import Stack
from monitor.deploys import record_deploy
from monitor.store import open_store

DEPLOY_ERROR_RATIO = 0.02  # the post-deployment checklist's "error rate < 1%" broken, the event's 3% not


class SentryRegression(Fault):
    """Sentry says a resolved issue came back (action unresolved, substatus regressed); then resolves it."""

    def __init__(self) -> None:
        self.issue = f"drill-{int(time.time() * 1000)}"
        self._posted = False

    def precheck(self, stack: Stack) -> str | None:
        return None if stack.config.sentry is not None else "no sentry section in the config (POST /api/sentry is off)"

    def _post(self, stack: Stack, action: str, substatus: str) -> None:
        assert stack.config.sentry is not None
        payload = issue_payload(action, self.issue, substatus=substatus, count="12",
                                title="TypeError: 'NoneType' object is not subscriptable (drill)")
        raw, headers = signed(payload, stack.config.sentry.client_secret.get_secret_value())
        httpx.post(f"{stack.monitor_url}/api/sentry", content=raw, headers=headers, timeout=10).raise_for_status()

    def inject(self, stack: Stack) -> None:
        self._posted = True
        self._post(stack, "unresolved", "regressed")

    def remove(self, stack: Stack) -> None:
        if self._posted:
            self._post(stack, "resolved", "resolved")
            self._posted = False


class DeployThenErrors(Fault):
    """`deploy mark` (into the monitor's store, as the CLI does), then 2% of /v1/ requests fail under load."""

    def __init__(self) -> None:
        self._errors = ApiFault(lambda _stack: {"error_ratio": DEPLOY_ERROR_RATIO, "prefix": "/v1/"}, pause=0.1)

    def precheck(self, stack: Stack) -> str | None:
        rule = stack.rule("ErrorRateHigh")
        if rule is None or rule.deploy is None:
            return "ErrorRateHigh has no deploy values in the config"
        return None

    def inject(self, stack: Stack) -> None:
        store = open_store(stack.config.store)
        try:
            record_deploy(store, f"drill-{int(time.time())}", at=time.time(), by="drill", note="deploy drill",
                          keep=stack.config.deploys.keep)
        finally:
            store.close()
        self._errors.inject(stack)

    def remove(self, stack: Stack) -> None:
        self._errors.remove(stack)
        self.note = f"the deploy window stays open for {stack.config.deploys.window:g}s"


class SlowPage(Fault):
    """The page the browser target loads (the drill's own) answers 0.5 s after PageLoadVerySlow's threshold."""

    def precheck(self, stack: Stack) -> str | None:
        if stack.page is None:
            return "needs the drill's own page (run without --config)"
        if not any(str(t.url) == stack.page.url for t in stack.config.targets.browser):
            return "no browser target on the drill's page in the config"
        return None

    def inject(self, stack: Stack) -> None:
        assert stack.page is not None
        p = stack.params("PageLoadVerySlow")
        threshold = p.threshold if p is not None and p.threshold is not None else 4.0
        stack.page.delay = threshold + 0.5

    def remove(self, stack: Stack) -> None:
        if stack.page is not None:
            stack.page.delay = 0.0


class BrokenBackup(Fault):
    """A damaged dump (the newest good one, truncated) becomes the newest in the restore check's folder."""

    def __init__(self) -> None:
        self._path: Path | None = None

    def _folder(self, stack: Stack) -> tuple[Path, str] | None:
        checks = stack.config.restore_checks
        return (Path(checks[0].directory), checks[0].pattern) if checks else None

    def precheck(self, stack: Stack) -> str | None:
        folder = self._folder(stack)
        if folder is None:
            return "no restore_checks target in the config"
        if not list(folder[0].glob(folder[1])):
            return f"no dump in {folder[0]} to damage"
        return None

    def inject(self, stack: Stack) -> None:
        folder = self._folder(stack)
        assert folder is not None
        good = max(folder[0].glob(folder[1]), key=lambda p: p.stat().st_mtime)
        data = good.read_bytes()
        name = folder[1].replace("*", f"drill-damaged-{int(time.time())}")
        self._path = folder[0] / name
        self._path.write_bytes(data[: len(data) // 2])  # a dump cut off halfway, as a full disk leaves it

    def remove(self, stack: Stack) -> None:
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            self._path = None


MORE: dict[str, type[Fault]] = {"sentry-regression": SentryRegression, "slow-page": SlowPage,
                                "broken-backup": BrokenBackup, "deploy-errors": DeployThenErrors}


def make_fault(name: str) -> Fault:
    """A fresh fault for the drill `name`: these drills' own, else faults.py's."""
    return MORE[name]() if name in MORE else faults.make_fault(name)
