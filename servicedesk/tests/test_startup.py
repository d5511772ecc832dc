"""Every process kind refuses to start when FIELD_ENCRYPTION_KEYS cannot decrypt the canary.

Real processes against the test database: a Celery worker, Celery beat, a management
command, Daphne and the WSGI application, each started with a key that did not write the
data, must exit non-zero within a bounded time and say why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.startup import KeyCheckUnavailable, verify_encryption_keys
from servicedesk import startup
from testsupport import free_port

ROOT = Path(__file__).resolve().parents[2]
REFUSAL = "FIELD_ENCRYPTION_KEYS cannot decrypt the data in this database"
BOUND_S = 60  # a refusal comes after Django's start-up (a few seconds); never a hang


def process_env(tmp_path: Path, *, keys: str) -> dict[str, str]:
    """The environment of a desk process on the test database, with the given keys."""
    from chat.tests.servers import database_url

    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": keys,
        "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
        "WELDDESK_VAR_DIR": str(tmp_path / "var"),
        "WELDDESK_STARTUP_CHECKS": "1",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",  # never reached
    }
    env.pop("REDIS_URL", None)
    return env


def wrong_key() -> str:
    return Fernet.generate_key().decode()


COMMANDS = {
    "celery worker": ["-m", "celery", "-A", "servicedesk", "worker", "-P", "solo", "-l", "INFO"],
    "celery beat": ["-m", "celery", "-A", "servicedesk", "beat", "-l", "INFO"],
    "manage.py retention_run": ["manage.py", "retention_run", "--dry-run"],
    "manage.py migrate": ["manage.py", "migrate", "--noinput"],
    "daphne": [
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "servicedesk.asgi:application",
    ],
    "wsgi": ["-c", "import servicedesk.wsgi"],
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", list(COMMANDS))
def test_a_process_started_with_the_wrong_keys_exits_non_zero_and_says_why(tmp_path, kind):
    """The canary is written with the desk's keys; the process gets another key. It must exit
    by itself (non-zero, 78 where the desk ends it) naming the cause, instead of logging the
    failure and carrying on (the worker did)."""
    assert verify_encryption_keys() in ("created", "ok")  # the canary, committed
    env = process_env(tmp_path, keys=wrong_key())
    try:
        result = subprocess.run(
            [sys.executable, *COMMANDS[kind]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=BOUND_S,
        )
    except subprocess.TimeoutExpired as exc:  # it kept running: the bug this test is about
        pytest.fail(f"{kind} with the wrong keys was still running after {BOUND_S} s: {exc}")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert REFUSAL in output, output[-3000:]
    if kind.startswith(("celery", "manage.py")):
        assert result.returncode == startup.EXIT_CONFIG, output[-3000:]
        assert "refuses to start" in output


@pytest.mark.django_db(transaction=True)
def test_a_command_with_the_right_keys_or_a_new_key_first_passes_the_check(tmp_path):
    """The same check lets a process with the right keys (and with a new key put first to
    rotate) through: the refusal above is about the keys, not about starting at all."""
    verify_encryption_keys()
    new_first = ",".join([wrong_key(), *settings.FIELD_ENCRYPTION_KEYS])
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from core.models import EncryptionCanary; print(EncryptionCanary.objects.count())",
        ],
        cwd=ROOT,
        env=process_env(tmp_path, keys=new_first),
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("1")
    assert "encryption key check: ok" in result.stderr


@pytest.mark.django_db
def test_rotate_keys_with_the_new_key_first_passes_the_command_check(settings, monkeypatch):
    verify_encryption_keys()
    monkeypatch.setenv("WELDDESK_STARTUP_CHECKS", "1")
    settings.FIELD_ENCRYPTION_KEYS = [wrong_key(), *settings.FIELD_ENCRYPTION_KEYS]
    startup.check_command(["manage.py", "rotate_keys"])  # no SystemExit
    settings.FIELD_ENCRYPTION_KEYS = [wrong_key()]
    with pytest.raises(SystemExit) as exited:
        startup.check_command(["manage.py", "rotate_keys"])
    assert exited.value.code == startup.EXIT_CONFIG


def test_commands_that_never_touch_rows_start_without_the_check(monkeypatch):
    monkeypatch.setenv("WELDDESK_STARTUP_CHECKS", "1")

    def must_not_run(process):
        raise AssertionError(f"checked {process}")

    monkeypatch.setattr(startup, "exit_unless_keys_fit", must_not_run)
    for argv in (
        ["manage.py"],
        ["manage.py", "help"],
        ["manage.py", "collectstatic", "--noinput"],
        ["manage.py", "makemigrations", "--check"],
        ["manage.py", "shell", "--help"],
    ):
        startup.check_command(argv)
    with pytest.raises(AssertionError, match=r"checked manage\.py shell"):
        startup.check_command(["manage.py", "shell"])


@pytest.mark.django_db
def test_a_database_without_the_canary_table_is_left_for_migrate(monkeypatch):
    from core.models import EncryptionCanary

    monkeypatch.setattr(EncryptionCanary._meta, "db_table", "core_not_migrated_yet")
    assert verify_encryption_keys() == "skipped: database not migrated"


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_fails_the_check_instead_of_skipping_it():
    """A process started while the database is down must not start unchecked (it would keep
    running with wrong keys once the database is back)."""
    from django.db import connection

    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/welddesk.sqlite3"
    try:
        with pytest.raises(KeyCheckUnavailable, match="database did not answer"):
            verify_encryption_keys()
        assert issubclass(KeyCheckUnavailable, ImproperlyConfigured)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)


@pytest.mark.django_db(transaction=True)
def test_a_worker_started_while_the_database_is_away_waits_and_exits_to_be_restarted(
    settings, monkeypatch
):
    """Not a wrong key: the process waits for the database, and if it stays away exits with
    75 (restart me), never 78 (do not restart), so a failover cannot leave workers down."""
    from django.db import connection

    monkeypatch.setenv("WELDDESK_STARTUP_CHECKS", "1")
    monkeypatch.setattr(startup, "RETRY_EVERY_SECONDS", 0.05)
    settings.STARTUP_DATABASE_WAIT_SECONDS = 0.3
    tries = []
    real = startup.run_startup_checks

    def counted(process):
        tries.append(process)
        return real(process)

    monkeypatch.setattr(startup, "run_startup_checks", counted)
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/welddesk.sqlite3"
    try:
        with pytest.raises(SystemExit) as exited:
            startup.exit_unless_keys_fit("celery worker")
        assert exited.value.code == startup.EXIT_TEMPFAIL == 75
        assert len(tries) > 1  # it waited and checked again
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    # Once the database answers, the same call passes.
    startup.exit_unless_keys_fit("celery worker")
