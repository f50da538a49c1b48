"""Where every benchmark writes its results: bench/results/<name>[-quick].{json,md}, and the table printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(out: Path, name: str, quick: bool, report: dict[str, Any], text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = name + ("-quick" if quick else "")  # a smoke run never overwrites a real one
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / f"{stem}.md").write_text(text)
    print()
    print(text)
    print(f"wrote {out / (stem + '.json')} and {out / (stem + '.md')}")
