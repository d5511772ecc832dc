"""Account lockout: after N failed passwords for one login name, from any address, wait.

Counters are keyed by the blind index of the typed email, so unknown emails are counted and
locked exactly like real ones (the answer never tells which emails exist). The lock lifts by
itself; there is no permanent lockout.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import LoginThrottle
from core import crypto


def throttle_key(login: str) -> str:
    return crypto.blind_index("email", login) or crypto.blind_index("email", "<empty>")


def locked_until(login: str):
    """Return when the lock on this login name ends, or None if it is not locked."""
    row = LoginThrottle.objects.filter(key=throttle_key(login)).only("locked_until").first()
    if row and row.locked_until and row.locked_until > timezone.now():
        return row.locked_until
    return None


def record_failure(login: str) -> bool:
    """Count one failed password; return True if this failure locked the account."""
    now = timezone.now()
    lock_for = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    key = throttle_key(login)
    with transaction.atomic():
        LoginThrottle.objects.bulk_create(
            [LoginThrottle(key=key, failures=0, window_started_at=now)], ignore_conflicts=True
        )
        row = LoginThrottle.objects.select_for_update().get(key=key)
        if row.window_started_at < now - lock_for or (row.locked_until and row.locked_until <= now):
            row.failures = 0
            row.window_started_at = now
            row.locked_until = None
        row.failures += 1
        locked = row.failures >= settings.LOGIN_FAILURE_LIMIT
        if locked:
            row.locked_until = now + lock_for
        row.save(update_fields=["failures", "window_started_at", "locked_until"])
    return locked


def record_success(login: str) -> None:
    LoginThrottle.objects.filter(key=throttle_key(login)).delete()


def forget_expired() -> int:
    """Delete counters whose window and lock are over; return how many."""
    horizon = timezone.now() - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    deleted, _ = (
        LoginThrottle.objects.filter(window_started_at__lt=horizon)
        .exclude(locked_until__gt=timezone.now())
        .delete()
    )
    return deleted
