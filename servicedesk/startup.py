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

Workers, beat and commands whose keys do not fit exit with status 78 (EX_CONFIG,
"configuration error"): a process manager can be told not to restart them in a loop (systemd:
RestartPreventExitStatus=78). A database that does not answer is not a wrong key: they wait
for it (STARTUP_DATABASE_WAIT_SECONDS), checking again every few seconds, and exit with 75
(EX_TEMPFAIL) if it stays away, so a failover or a reboot in the wrong order ends in a restart,
never in a worker that stays down. Daphne exits with 1, gunicorn halts ("Worker failed to
boot").
"""

from __future__ import annotations

import logging
import os
import time

from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger("welddesk.startup")

EXIT_CONFIG = 78  # sysexits.h EX_CONFIG: the keys do not fit; restarting will not help
EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: the database did not answer; try again later
RETRY_EVERY_SECONDS = 2.0

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
    """Run the check; on failure end this process (the reason is logged): status 78 when the
    keys do not fit, 75 when the database did not answer within STARTUP_DATABASE_WAIT_SECONDS.

    For entry points that would otherwise swallow the exception (Celery's signal handlers)
    or print a traceback where one line is clearer (manage.py).
    """
    from django.conf import settings
    from django.db import connection

    from core.startup import KeyCheckUnavailable

    deadline = time.monotonic() + settings.STARTUP_DATABASE_WAIT_SECONDS
    while True:
        try:
            run_startup_checks(process)
            return
        except KeyCheckUnavailable as exc:
            if time.monotonic() + RETRY_EVERY_SECONDS > deadline:
                raise SystemExit(EXIT_TEMPFAIL) from exc
            log.warning("%s: waiting for the database to check the keys", process)
            connection.close()  # a fresh connection next time
            time.sleep(RETRY_EVERY_SECONDS)
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
