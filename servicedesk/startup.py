"""The start-up check every process kind runs: web servers, Celery workers and beat, and the
management commands that touch the data.

One check (core.startup.verify_encryption_keys: the configured FIELD_ENCRYPTION_KEYS must
decrypt the canary row; before it, the system check of CLAMD_ADDRESS, which Django runs only
for management commands), called from each entry point:

- ASGI and WSGI (servicedesk/asgi.py, wsgi.py): `run_startup_checks` raises while the
  application is imported, so Daphne or gunicorn fail to load it and exit;
- Celery worker and beat (servicedesk/celery.py): Celery logs and ignores an exception raised
  by a signal handler, so `exit_unless_keys_fit` ends the process itself;
- manage.py: `check_command` before any command except those that never read or write rows.

Workers, beat and commands refused here exit with status 78 (EX_CONFIG, "configuration
error"): a process manager can be told not to restart them in a loop (systemd:
RestartPreventExitStatus=78). Daphne exits with 1, gunicorn halts ("Worker failed to boot").
"""

from __future__ import annotations

import logging
import os

from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger("welddesk.startup")

EXIT_CONFIG = 78  # sysexits.h EX_CONFIG

# Commands that never read or write rows of the database (or must run before there are any):
# they start without the key check. Every other command, migrate included, is checked;
# a database whose tables do not exist yet passes (core.startup.verify_encryption_keys).
COMMANDS_WITHOUT_DATA = frozenset(
    {
        "help",
        "version",
        "check",
        "makemigrations",
        "showmigrations",
        "sqlmigrate",
        "squashmigrations",
        "optimizemigration",
        "collectstatic",
        "findstatic",
        "compilemessages",
        "makemessages",
        "diffsettings",
        "test",
        "startapp",
        "startproject",
    }
)


def checks_enabled() -> bool:
    return os.environ.get("WELDDESK_STARTUP_CHECKS", "1") != "0"


def run_startup_checks(process: str = "process") -> str:
    """Verify the encryption keys against the database; log and raise ImproperlyConfigured
    if they do not fit (or cannot be checked)."""
    if not checks_enabled():
        return "skipped: WELDDESK_STARTUP_CHECKS=0"
    from core.checks import check_clamd_address
    from core.startup import verify_encryption_keys

    try:
        # Settings that are wrong in a way only a system check sees: servers and workers do
        # not run Django's checks, so the ones that would break every request run here too.
        errors = check_clamd_address()
        if errors:
            raise ImproperlyConfigured(errors[0].msg)
        outcome = verify_encryption_keys()
    except ImproperlyConfigured as exc:
        log.critical("%s refuses to start: %s", process, exc)
        raise
    log.info("%s: encryption key check: %s", process, outcome)
    return outcome


def exit_unless_keys_fit(process: str) -> None:
    """Run the check; on failure end this process with status 78 (the reason is logged).

    For entry points that would otherwise swallow the exception (Celery's signal handlers)
    or print a traceback where one line is clearer (manage.py).
    """
    try:
        run_startup_checks(process)
    except ImproperlyConfigured as exc:
        raise SystemExit(EXIT_CONFIG) from exc


def check_command(argv: list[str]) -> None:
    """manage.py: check the keys before a command that may read or write the data."""
    command = argv[1] if len(argv) > 1 else "help"
    if command.startswith("-") or command in COMMANDS_WITHOUT_DATA:
        return
    if "--help" in argv[2:] or "-h" in argv[2:] or not checks_enabled():
        return
    import django

    django.setup()
    exit_unless_keys_fit(f"manage.py {command}")
