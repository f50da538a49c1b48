"""Dashboards as files: the canonical JSON text, writing it, and checking committed files against it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboards.catalog import DASHBOARDS, DashboardSpec


def render(model: dict[str, Any]) -> str:
    """Sorted keys, two-space indent, trailing newline: the same bytes for the same dashboard."""
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(specs: tuple[DashboardSpec, ...] = DASHBOARDS) -> dict[str, str]:
    """File name -> JSON text for every dashboard; checks that uids and file names are unique."""
    out: dict[str, str] = {}
    uids: set[str] = set()
    for spec in specs:
        model = spec.build()
        if model["uid"] != spec.uid:
            raise ValueError(f"dashboard {spec.filename}: built uid {model['uid']!r} != declared {spec.uid!r}")
        if spec.uid in uids or spec.filename in out:
            raise ValueError(f"dashboard {spec.filename}: duplicate uid or file name")
        uids.add(spec.uid)
        out[spec.filename] = render(model)
    return out


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class Drift:
    filename: str
    problem: str  # "missing", "differs" or "not generated"


def check(out_dir: Path) -> list[Drift]:
    """How the files in out_dir differ from the generator's output (empty: identical)."""
    expected = generate()
    drift = []
    for name, text in expected.items():
        path = out_dir / name
        if not path.exists():
            drift.append(Drift(name, "missing"))
        elif path.read_text(encoding="utf-8") != text:
            drift.append(Drift(name, "differs"))
    for path in sorted(out_dir.glob("*.json")) if out_dir.is_dir() else []:
        if path.name not in expected:
            drift.append(Drift(path.name, "not generated"))
    return drift
