"""Sign-in throttling that counts an attempt before its password is checked.

Three counters, each keyed by an HMAC (core.crypto.keyed_hash; no email and no address stored):

* per account and client network (IPv4 /24, IPv6 /64): LOGIN_FAILURE_LIMIT failures lock
  this network out of this account for LOGIN_LOCKOUT_SECONDS;
* per account: LOGIN_FAILURE_LIMIT failures, from any addresses, soft-lock the account for
  LOGIN_LOCKOUT_SECONDS. The soft lock holds every network except those the account signed in
  from (or completed a password reset from) in the last LOGIN_KNOWN_NETWORK_DAYS, so a
  stranger who knows an agent's email cannot lock the agent out of their usual networks;
* per account and hour: LOGIN_ACCOUNT_HOURLY_LIMIT failures lock every network until the
  hour's window ends (the ceiling on guesses, whatever networks they come from).

An attempt reserves its place in all three counters, under row locks, before the password is
checked (`attempt_begin`): parallel attempts queue on the rows, and once a limit is reached the
rest are refused without a password check. A success gives its place back (`attempt_succeeded`).
Unknown emails are counted and locked exactly like real ones. Every lock lifts by itself. Why
this design: docs/security.md, "Signing in".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import LoginNetwork, LoginThrottle
from core import crypto

NETWORK_PREFIX_V4 = 24
NETWORK_PREFIX_V6 = 64
HOUR = 3600

NETWORK, ACCOUNT, HOURLY = "network", "account", "hourly"


def client_network(ip: str | None) -> str:
    """Return the network a client address belongs to (/24 or /64), or "unknown"."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    prefix = NETWORK_PREFIX_V4 if address.version == 4 else NETWORK_PREFIX_V6
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _key(scope: str, login: str, network: str = "") -> str:
    """A keyed hash naming one counter; the login name and the network stay unreadable."""
    return crypto.keyed_hash("login", scope, crypto.normalise_email(login), network)


@dataclass(frozen=True)
class _Counter:
    scope: str
    key: str
    limit: int
    window: int  # seconds
    lock: int  # seconds from the failure that reached the limit; 0: until the window ends


def _counters(login: str, network: str) -> list[_Counter]:
    lock = settings.LOGIN_LOCKOUT_SECONDS
    limit = settings.LOGIN_FAILURE_LIMIT
    return [
        _Counter(NETWORK, _key(NETWORK, login, network), limit, lock, lock),
        _Counter(ACCOUNT, _key(ACCOUNT, login), limit, lock, lock),
        _Counter(HOURLY, _key(HOURLY, login), settings.LOGIN_ACCOUNT_HOURLY_LIMIT, HOUR, 0),
    ]


@dataclass
class Attempt:
    """One reserved sign-in attempt (or a refused one)."""

    login: str
    network: str
    refused_by: str = ""  # the scope of the lock that refused it, or "" when it may proceed
    locks: list[str] = field(default_factory=list)  # locks set by this attempt's reservation
    locks_me: bool = False  # one of them holds this attempt's own network
    slots: dict[str, tuple[datetime, int]] = field(default_factory=dict)  # key -> window, count

    @property
    def refused(self) -> bool:
        return bool(self.refused_by)


def is_known_network(login: str, network: str, *, now: datetime | None = None) -> bool:
    horizon = (now or timezone.now()) - timedelta(days=settings.LOGIN_KNOWN_NETWORK_DAYS)
    return LoginNetwork.objects.filter(
        key=_key("known", login, network), last_success_at__gte=horizon
    ).exists()


def _locked_rows(counters: list[_Counter], now: datetime) -> dict[str, LoginThrottle]:
    """Create missing counters and lock all of them, always in the same order (no deadlock)."""
    LoginThrottle.objects.bulk_create(
        [LoginThrottle(key=c.key, failures=0, window_started_at=now) for c in counters],
        ignore_conflicts=True,
    )
    rows = LoginThrottle.objects.select_for_update().filter(key__in=[c.key for c in counters])
    return {row.key: row for row in rows.order_by("key")}


def _roll(row: LoginThrottle, counter: _Counter, now: datetime) -> None:
    """Start a new window when the old one is over, or when a lock has lifted."""
    locked = row.locked_until is not None and row.locked_until > now
    window_over = row.window_started_at <= now - timedelta(seconds=counter.window)
    if (window_over and not locked) or (row.locked_until is not None and not locked):
        row.failures = 0
        row.window_started_at = now
        row.locked_until = None


def attempt_begin(*, login: str, network: str) -> Attempt:
    """Reserve a place for one password check, or refuse it while a lock holds.

    Commits before returning, so every parallel attempt sees the reservation: the count is
    taken before the password is checked, never after.
    """
    now = timezone.now()
    attempt = Attempt(login=login, network=network)
    counters = _counters(login, network)
    with transaction.atomic():
        known = is_known_network(login, network, now=now)
        rows = _locked_rows(counters, now)
        for counter in counters:
            _roll(rows[counter.key], counter, now)

        def holds(counter: _Counter) -> bool:
            return counter.scope != ACCOUNT or not known

        for counter in counters:
            row = rows[counter.key]
            if row.locked_until is not None and holds(counter):
                attempt.refused_by = counter.scope
                break
        if not attempt.refused:
            for counter in counters:
                row = rows[counter.key]
                row.failures += 1
                attempt.slots[counter.key] = (row.window_started_at, row.failures)
                if row.failures >= counter.limit and row.locked_until is None:
                    row.locked_until = (
                        now + timedelta(seconds=counter.lock)
                        if counter.lock
                        else row.window_started_at + timedelta(seconds=counter.window)
                    )
                    attempt.locks.append(counter.scope)
                    attempt.locks_me = attempt.locks_me or holds(counter)
        for row in rows.values():
            row.save(update_fields=["failures", "window_started_at", "locked_until"])
    return attempt


def attempt_succeeded(attempt: Attempt) -> None:
    """Give the attempt's place back and remember its network as known.

    The counters of the network and the account start again only when no other attempt was
    counted after this one (a parallel guess keeps its count); the hourly ceiling only gets
    this attempt's own place back.
    """
    now = timezone.now()
    counters = {c.key: c for c in _counters(attempt.login, attempt.network)}
    with transaction.atomic():
        rows = LoginThrottle.objects.select_for_update().filter(key__in=list(attempt.slots))
        for row in rows.order_by("key"):
            window, count = attempt.slots[row.key]
            counter = counters[row.key]
            if row.window_started_at != window:
                continue  # a new window started since: this attempt is not in it
            if counter.scope != HOURLY and row.failures == count:
                row.delete()
                continue
            row.failures = max(row.failures - 1, 0)
            if row.failures < counter.limit:
                row.locked_until = None
            row.save(update_fields=["failures", "locked_until"])
        _remember_network(attempt.login, attempt.network, now)


def _remember_network(login: str, network: str, now: datetime) -> None:
    LoginNetwork.objects.bulk_create(
        [LoginNetwork(key=_key("known", login, network), last_success_at=now)],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["last_success_at"],
    )


@transaction.atomic
def network_proven(*, login: str, network: str) -> None:
    """The owner proved themselves from this network (a password reset link): lift the
    account's soft lock and this network's lock, and treat the network as known. The hourly
    ceiling stays: at most LOGIN_ACCOUNT_HOURLY_LIMIT failures an hour, resets or not."""
    keys = [c.key for c in _counters(login, network) if c.scope != HOURLY]
    LoginThrottle.objects.filter(key__in=keys).delete()
    _remember_network(login, network, timezone.now())


def forget_expired() -> int:
    """Delete counters whose window and lock are over, and networks not seen for long;
    return how many rows went."""
    now = timezone.now()
    horizon = now - timedelta(seconds=max(settings.LOGIN_LOCKOUT_SECONDS, HOUR))
    deleted, _ = (
        LoginThrottle.objects.filter(window_started_at__lt=horizon)
        .exclude(locked_until__gt=now)
        .delete()
    )
    stale = now - timedelta(days=settings.LOGIN_KNOWN_NETWORK_DAYS)
    networks, _ = LoginNetwork.objects.filter(last_success_at__lt=stale).delete()
    return deleted + networks
