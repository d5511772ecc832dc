"""The CI step `make audit-deps` (tools/audit_deps.py) fails on a known vulnerability."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "tools" / "audit_deps.py")
audit_deps = importlib.util.module_from_spec(spec)
sys.modules.setdefault("audit_deps", audit_deps)  # dataclasses look their module up
spec.loader.exec_module(audit_deps)

SKIPPED = "Dependency not found on PyPI and could not be audited: {0} ({1})"


def skipped(name: str, version: str) -> dict:
    return {"name": name, "skip_reason": SKIPPED.format(name, version)}


def test_a_vulnerability_pip_audit_reports_fails_the_audit(monkeypatch, capsys):
    answer = {
        "dependencies": [
            {"name": "django", "version": "3.2", "vulns": [{"id": "PYSEC-2022-1"}]},
            {"name": "nh3", "version": "0.3.8", "vulns": []},
        ]
    }
    monkeypatch.setattr(audit_deps, "run_pip_audit", lambda *a, **k: answer)
    assert audit_deps.main(["requirements.txt"]) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE django==3.2: PYSEC-2022-1" in out and "nh3" not in out.split("\n")[0]


def test_without_per_release_data_a_pin_at_the_latest_release_is_checked_by_its_project():
    projects = {
        "ecdsa": {
            "info": {"version": "0.19.2"},
            "vulnerabilities": [{"id": "GHSA-x"}, {"id": "OLD-1", "withdrawn": "2025-01-01"}],
        },
        "nh3": {"info": {"version": "0.3.8"}, "vulnerabilities": []},
        "django": {"info": {"version": "6.1.3"}, "vulnerabilities": []},
    }
    answer = {
        "dependencies": [
            skipped("ecdsa", "0.19.2"),
            skipped("nh3", "0.3.8"),
            skipped("django", "5.2.20"),
            skipped("gone", "1.0"),
        ]
    }
    report = audit_deps.assess(answer, fetch=projects.get)
    assert report.vulnerable == [("ecdsa", "0.19.2", ["GHSA-x"])]  # the withdrawn one is not
    assert report.audited == ["ecdsa", "nh3"]
    assert [(n, v) for n, v, _why in report.unaudited] == [("django", "5.2.20"), ("gone", "1.0")]


def test_strict_mode_fails_when_a_package_could_not_be_audited(monkeypatch):
    answer = {"dependencies": [{"name": "nh3", "version": "0.3.8", "vulns": []}]}
    answer["dependencies"].append(skipped("django", "5.2.20"))
    monkeypatch.setattr(audit_deps, "run_pip_audit", lambda *a, **k: answer)
    monkeypatch.setattr(audit_deps, "project_json", lambda name: None)
    assert audit_deps.main(["requirements.txt"]) == 0
    assert audit_deps.main(["requirements.txt", "--strict"]) == 3
    nothing = {"dependencies": [skipped("django", "5.2.20")]}
    monkeypatch.setattr(audit_deps, "run_pip_audit", lambda *a, **k: nothing)
    assert audit_deps.main(["requirements.txt"]) == 2  # an audit that audited nothing fails


def test_a_known_vulnerable_pin_fails_the_real_audit(tmp_path):
    """End to end against PyPI: pip-audit and the project-JSON fallback. ecdsa 0.19.2 carries
    advisories for its timing side channels; Django 3.2 many (one of the two is enough: a
    mirror may only know the latest release's)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django==3.2\necdsa==0.19.2\n")
    result = subprocess.run(
        [sys.executable, "tools/audit_deps.py", str(requirements), "--no-deps"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode == 2 or "nothing could be audited" in result.stdout:
        pytest.skip(f"PyPI's advisory data is not reachable here: {result.stdout[-300:]}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "audit-deps: VULNERABLE" in result.stdout
