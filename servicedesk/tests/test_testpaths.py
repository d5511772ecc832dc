"""Every app's tests run in `make test`: an app missing from pytest's testpaths is never tested."""

from __future__ import annotations

import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]


def test_every_local_app_with_tests_is_in_testpaths():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    testpaths = set(config["tool"]["pytest"]["ini_options"]["testpaths"])
    local = {
        Path(app.path).name
        for app in apps.get_app_configs()
        if Path(app.path).parent == ROOT and (Path(app.path) / "tests").is_dir()
    }
    assert local, "no local app found"
    assert local <= testpaths, f"not run by make test: {sorted(local - testpaths)}"
    contract = set(config["tool"]["importlinter"]["root_packages"])
    assert local <= contract, f"outside the import contract: {sorted(local - contract)}"
