"""Periodic housekeeping of the accounts app."""

from celery import shared_task

from accounts import lockout


@shared_task(name="accounts.tasks.login_throttle_cleanup")
def login_throttle_cleanup() -> int:
    return lockout.forget_expired()
