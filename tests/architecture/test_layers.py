"""The layers of the README's "Architecture" section, as `make lint` checks them with import-linter.

The contracts live in pyproject.toml ([tool.importlinter]). These tests run the real `lint-imports` on
the tree as it is, and on a copy with one wrong-way import added, so a contract that stopped guarding
its layer (a typo in a module name, an ignore that lets everything through) fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.support.paths import REPO

CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGES: list[str] = CONFIG["tool"]["importlinter"]["root_packages"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH comes before the editable install's path entry, so the copy in `tree` is what is analysed.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(REPO / "pyproject.toml")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def copy_tree(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.j2", "*.sql"))
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(("module", "wrong_import", "contract"), [
    ("probes/disk.py", "from alerts import model", "probes import only core"),
    ("monitor/core/observation.py", "from monitor import runner", "core imports nothing of the project"),
    ("monitor/store/base.py", "from alerts import model", "the store imports only core"),
    ("alerts/engine.py", "from slo import spec", "alerts import only core and the store"),
    ("alerts/silences.py", "from monitor import config", "alerts import only core and the store"),
    ("slo/budget.py", "from probes import http", "slo imports only core, the store and alerts"),
    ("dashboards/api.py", "from alerts import engine", "dashboards import only core and the alert model"),
    ("app/settings.py", "from monitor.core import signals", "the monitored API imports nothing of the monitor"),
    ("alerts/model.py", "from alerts import service", "no cycle between the packages inside a layer"),
])
def test_a_wrong_way_import_breaks_its_contract(tmp_path: Path, module: str, wrong_import: str,
                                                 contract: str) -> None:
    tree = copy_tree(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout


def test_no_top_level_package_is_also_another_distribution() -> None:
    # Installing a distribution that ships a top-level `app` or `alerts` beside this project would silently
    # overwrite our folder in site-packages (or be overwritten by it).
    owners = packages_distributions()
    shared = {name: sorted(set(owners[name]) - {"converge-monitor"}) for name in PACKAGES
              if set(owners.get(name, ())) - {"converge-monitor"}}
    assert shared == {}
    assert all("converge-monitor" in owners.get(name, ()) for name in PACKAGES)


def test_every_top_level_package_says_what_it_owns() -> None:
    import importlib

    for name in [*PACKAGES, "monitor.core", "monitor.store", "monitor.config", "monitor.cli", "alerts.notifiers",
                 "alerts.rules", "devstack.drills"]:
        doc = importlib.import_module(name).__doc__ or ""
        assert len(doc.strip()) > 40, f"{name}/__init__.py: say in a few lines what the package owns"
