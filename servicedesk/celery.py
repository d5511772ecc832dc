"""The Celery application; configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings")

app = Celery("servicedesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _check_keys_before_work(**kwargs) -> None:
    """Refuse to start a worker whose encryption keys do not fit the database.

    Celery logs an exception raised by a signal handler and carries on, so the check ends the
    process itself (SystemExit passes through Celery's handler).
    """
    from servicedesk.startup import exit_unless_keys_fit

    exit_unless_keys_fit("celery worker")


@beat_init.connect
def _check_keys_before_scheduling(**kwargs) -> None:
    """Refuse to start beat with encryption keys that do not fit the database."""
    from servicedesk.startup import exit_unless_keys_fit

    exit_unless_keys_fit("celery beat")
