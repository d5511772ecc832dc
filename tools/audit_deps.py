"""Fail on a known vulnerability in the pinned dependencies (CI runs it: `make audit-deps`).

    python tools/audit_deps.py [requirements.txt] [--no-deps] [--strict]

pip-audit resolves the requirements (with their dependencies) and asks PyPI's advisory data
(the JSON API's `vulnerabilities`, from the Python Packaging Advisory Database and OSV) about
each release. Where that per-release answer is not available (some PyPI mirrors serve only
the per-project JSON), a package pinned at its project's latest release is checked against
the project's JSON instead, which lists the latest release's advisories; anything else is
reported as not audited.

Exit status: 0 clean; 1 a known vulnerability (listed); 2 the audit could not run; 3 with
--strict (or AUDIT_DEPS_STRICT=1), some package could not be audited.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

Fetch = Callable[[str], dict | None]


@dataclass
class Report:
    vulnerable: list[tuple[str, str, list[str]]] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    unaudited: list[tuple[str, str, str]] = field(default_factory=list)


def project_json(name: str) -> dict | None:
    """PyPI's JSON for a project (at the index pip is set up for), or None."""
    from pip._internal.models.index import PyPI

    url = f"{PyPI.pypi_url}/{name}/json"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 (PyPI, https)
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def run_pip_audit(requirements: str, *, no_deps: bool) -> dict:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "-r",
        requirements,
        "--vulnerability-service",
        "pypi",
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    if no_deps:
        command += ["--no-deps", "--disable-pip"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)  # noqa: S603
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise SystemExit(
            f"audit-deps: pip-audit could not run (exit {result.returncode}):\n{result.stderr}"
        ) from None


def assess(audit: dict, fetch: Fetch = project_json) -> Report:
    """Sort pip-audit's answer into vulnerable, audited and not audited packages."""
    report = Report()
    for dep in audit.get("dependencies", []):
        name, version = dep["name"], dep.get("version", "")
        if "skip_reason" not in dep:
            ids = [v["id"] for v in dep.get("vulns", [])]
            if ids:
                report.vulnerable.append((name, version, ids))
            report.audited.append(name)
            continue
        reason = dep["skip_reason"]
        version = version or reason.rsplit("(", 1)[-1].rstrip(")")
        data = fetch(name)
        if data is None:
            report.unaudited.append((name, version, "no answer from PyPI"))
            continue
        latest = data.get("info", {}).get("version", "")
        if latest != version:
            report.unaudited.append(
                (name, version, f"no per-release advisory data here (latest is {latest})")
            )
            continue
        ids = [v["id"] for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]
        if ids:
            report.vulnerable.append((name, version, ids))
        report.audited.append(name)
    return report


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requirements", nargs="?", default="requirements.txt")
    parser.add_argument("--no-deps", action="store_true", help="audit the pins only")
    parser.add_argument(
        "--strict",
        action="store_true",
        default=os.environ.get("AUDIT_DEPS_STRICT", "") in {"1", "true", "yes", "on"},
        help="also fail when a package could not be audited",
    )
    args = parser.parse_args(argv)
    report = assess(run_pip_audit(args.requirements, no_deps=args.no_deps))
    for name, version, ids in report.vulnerable:
        say(f"audit-deps: VULNERABLE {name}=={version}: {', '.join(ids)}")
    for name, version, why in report.unaudited:
        say(f"audit-deps: not audited {name}=={version}: {why}")
    say(
        f"audit-deps: {len(report.audited)} audited, {len(report.vulnerable)} vulnerable, "
        f"{len(report.unaudited)} not audited ({args.requirements})"
    )
    if report.vulnerable:
        return 1
    if not report.audited:
        say("audit-deps: nothing could be audited: is PyPI reachable?")
        return 2
    if report.unaudited and args.strict:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
