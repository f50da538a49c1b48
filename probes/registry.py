"""Which probe runs which kind of target."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from probes.base import Probe

KINDS = ("http", "synthetic", "journey", "browser", "api_metrics", "postgres", "redis", "backup", "backup_restore",
         "disk", "deps")


def probe_for(kind: str) -> Probe:
    if kind not in KINDS:
        raise KeyError(f"no probe for target kind {kind!r}")
    module: Any = import_module(f"probes.{kind}")
    return module.run  # type: ignore[no-any-return]
