"""The disk probe on real filesystems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.core.observation import Observation
from monitor.core.signals import CATALOG
from monitor.core.targets import DiskTarget
from probes import disk
from probes.base import ProbeContext

NOW = 1_738_000_000.0


def check_catalog(observations: list[Observation]) -> None:
    for o in observations:
        assert o.signal in CATALOG, o.signal
        assert set(o.labels) == set(CATALOG[o.signal].labels), o
        assert o.timestamp == NOW


def ratios(observations: list[Observation]) -> dict[str, Observation]:
    return {o.labels["path"]: o for o in observations if o.signal == "disk_used_ratio"}


def df_ratio(path: str) -> float:
    """What `df` shows as Use%, before its rounding up: used / (used + available)."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return used / (used + st.f_bavail * st.f_frsize)


async def test_each_path_gets_its_filesystem_used_ratio(tmp_path: Path) -> None:
    target = DiskTarget(name="host", paths=[str(tmp_path), "/"])
    observations = await disk.run(target, ProbeContext(clock=lambda: NOW))
    check_catalog(observations)
    by_path = ratios(observations)
    assert set(by_path) == {str(tmp_path), "/"}
    for path, o in by_path.items():
        assert 0.0 <= o.value <= 1.0
        assert o.value == pytest.approx(df_ratio(path), abs=0.01)  # other writers may move it a little
        assert o.details["total_bytes"] > 0
    success = [o for o in observations if o.signal == "probe_success"]
    assert [(o.value, dict(o.labels)) for o in success] == [(1.0, {"target": "host", "kind": "disk"})]


async def test_a_file_path_reports_its_filesystem(tmp_path: Path) -> None:
    f = tmp_path / "state.sqlite"
    f.write_bytes(b"x")
    observations = await disk.run(DiskTarget(name="host", paths=[str(f)]), ProbeContext(clock=lambda: NOW))
    assert ratios(observations)[str(f)].value == pytest.approx(df_ratio(str(tmp_path)), abs=0.01)


async def test_missing_path_is_unknown_and_fails_the_probe(tmp_path: Path) -> None:
    missing = str(tmp_path / "mnt" / "backups")
    target = DiskTarget(name="host", paths=[str(tmp_path), missing])
    observations = await disk.run(target, ProbeContext(clock=lambda: NOW))
    check_catalog(observations)
    by_path = ratios(observations)
    assert by_path[str(tmp_path)].value is not None
    assert by_path[missing].value is None
    assert missing in by_path[missing].error
    success = next(o for o in observations if o.signal == "probe_success")
    assert success.value == 0
    assert missing in success.error
