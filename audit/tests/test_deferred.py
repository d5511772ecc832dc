"""Deferred sealing: writers add pending rows, sealers chain them after commit, in batches."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from audit.models import AuditEvent, ChainHead, PendingAuditEvent
from audit.selectors import chain_verify
from audit.services import audit_record, audit_record_many, audit_record_sets, audit_seal

pytestmark = pytest.mark.audit_deferred


@pytest.mark.django_db
def test_by_default_events_wait_for_the_periodic_sealer(django_capture_on_commit_callbacks):
    from audit.tasks import seal

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        audit_record(action="test.one", target_type="tests.thing", target_id=1)
    assert callbacks == []  # the request spends nothing on the chain
    assert PendingAuditEvent.objects.count() == 1 and AuditEvent.objects.count() == 0
    assert seal.delay().get() == 1  # beat's task
    assert AuditEvent.objects.get().action == "test.one" and chain_verify().ok


@pytest.mark.django_db
def test_events_wait_in_the_transaction_and_are_sealed_after_commit(
    django_capture_on_commit_callbacks, settings
):
    settings.AUDIT_SEAL_AFTER_COMMIT = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        audit_record(action="test.one", target_type="tests.thing", target_id=1)
        audit_record(action="test.two", target_type="tests.thing", target_id=2)
        # Before the commit nothing is in the chain and the head is untouched.
        assert AuditEvent.objects.count() == 0
        assert PendingAuditEvent.objects.count() == 2
    assert len(callbacks) == 1  # one sealing per transaction, however many events
    assert PendingAuditEvent.objects.count() == 0
    events = list(AuditEvent.objects.order_by("seq"))
    assert [(e.seq, e.action) for e in events] == [(1, "test.one"), (2, "test.two")]
    assert ChainHead.objects.get().seq == 2
    assert chain_verify().ok


@pytest.mark.django_db
def test_bulk_events_and_personal_data_rules_hold_when_deferred(make_customer):
    user = make_customer(full_name="赵磊", phone="+86 186 2235 7702")
    audit_seal()  # the events of creating the customer
    audit_record(
        action="user.changed", target=user, changes={"full_name": "赵磊", "language": "zh"}
    )
    audit_record_many(
        action="test.bulk", targets=[user, user], data={"reason": "scan"}, per_target={}
    )
    assert audit_seal() == 3
    changed = AuditEvent.objects.get(action="user.changed")
    assert changed.changed_fields == ["full_name", "language"]
    assert changed.data == {"values": {"language": "zh"}}
    assert AuditEvent.objects.filter(action="test.bulk").count() == 2
    assert chain_verify().ok


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_nothing_to_seal():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="test.doomed")
        raise RuntimeError("business write failed")
    assert PendingAuditEvent.objects.count() == 0
    assert audit_seal() == 0 and AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_sealing_in_batches_keeps_the_chain_gap_free():
    for i in range(25):
        audit_record(action="test.event", target_type="tests.thing", target_id=i)
    assert audit_seal(limit=10) == 25
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 26)
    )
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealers_never_fork_or_lose_an_event():
    """Real threads on PostgreSQL: 6 writers commit 20 events each while sealing races."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    barrier = threading.Barrier(6)
    errors = []

    def writer(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(20):
                with transaction.atomic():
                    audit_record(action="test.concurrent", target_type="w", target_id=f"{n}-{i}")
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and errors == []
    audit_seal()  # the backstop (beat) for anything a skipped sealer left behind
    assert PendingAuditEvent.objects.count() == 0
    ids = sorted(AuditEvent.objects.values_list("target_id", flat=True))
    assert ids == sorted(f"{n}-{i}" for n in range(6) for i in range(20))
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 121))
    result = chain_verify()
    assert result.ok and result.count == 120


@pytest.mark.django_db(transaction=True)
def test_a_sealer_that_finds_the_head_locked_returns_at_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks (PostgreSQL)")
    audit_record(action="test.waiting")  # autocommit: sealed at once...
    audit_seal()
    with transaction.atomic():
        PendingAuditEvent.objects.create(at="2026-01-01T00:00:00Z", actor_ref="system", action="x")
    held = threading.Event()
    release = threading.Event()

    def holder():
        try:
            with transaction.atomic():
                ChainHead.objects.select_for_update().get(pk=1)
                held.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=10)
        assert audit_seal(wait=False) == 0  # does not queue behind the holder
        assert PendingAuditEvent.objects.count() == 1
    finally:
        release.set()
        thread.join(timeout=10)
    assert audit_seal(wait=False) == 1
    assert chain_verify().ok


@pytest.mark.django_db
def test_the_sealing_lag_is_the_age_of_the_oldest_unsealed_event(
    django_capture_on_commit_callbacks,
):
    import datetime as dt

    from django.utils import timezone

    from audit.selectors import audit_metrics

    def lag(now=None):
        return {m.name: m.samples[0].value for m in audit_metrics(now=now)}

    with django_capture_on_commit_callbacks(execute=True):
        audit_record(action="test.one", target_type="tests.thing", target_id=1)
    written = PendingAuditEvent.objects.get().at
    later = lag(now=written + dt.timedelta(seconds=90))
    assert later["welddesk_audit_pending_events"] == 1
    assert later["welddesk_audit_oldest_pending_seconds"] == 90
    audit_seal()
    assert lag(now=timezone.now())["welddesk_audit_oldest_pending_seconds"] == 0


@pytest.mark.django_db
def test_sealed_sets_are_chained_in_the_writer_s_transaction_after_the_head():
    # Another transaction's event waits for the sealer when the bulk writer seals its own.
    audit_record(action="test.waiting", target_type="tests.thing", target_id=1)
    odd = ["7", 'a"b', "c,d", "{x}", "back\\slash", "two words", "NULL", "null", "中文"]
    with transaction.atomic():
        written = audit_record_sets(
            [
                {"action": "test.shared", "model": ChainHead, "target_ids": odd, "data": {"k": 1}},
                {"action": "test.none", "model": ChainHead, "target_ids": []},
                {
                    "action": "test.each",
                    "actor": "user:5",
                    "model": ChainHead,
                    "target_ids": [1, 2],
                    "data": {"k": "é"},
                    "per_target": {2: {"extra": [1, "\\"]}},
                    "changes": ["seq"],
                },
            ],
            seal=True,
        )
        assert written == len(odd) + 2
        # Chained before the commit, with no pending row of their own.
        assert PendingAuditEvent.objects.count() == 1
        assert ChainHead.objects.get().seq == written
    events = list(AuditEvent.objects.order_by("seq"))
    assert [(e.seq, e.action, e.target_id) for e in events] == [
        *((i, "test.shared", value) for i, value in enumerate(odd, start=1)),
        (len(odd) + 1, "test.each", "1"),
        (len(odd) + 2, "test.each", "2"),
    ]
    assert {e.data["k"] for e in events} == {1, "é"}
    assert events[-1].data == {"k": "é", "extra": [1, "\\"]}
    assert (events[-1].actor_ref, events[-1].changed_fields) == ("user:5", ["seq"])
    assert events[0].target_type == "audit.chainhead"
    assert chain_verify().ok
    # The waiting event is chained after them, and the chain still verifies.
    assert audit_seal() == 1
    assert AuditEvent.objects.order_by("-seq").first().action == "test.waiting"
    assert chain_verify().ok


@pytest.mark.django_db
def test_unsealed_sets_wait_for_the_sealer_like_any_deferred_event():
    assert (
        audit_record_sets([{"action": "test.later", "model": ChainHead, "target_ids": [1, 2]}]) == 2
    )
    assert PendingAuditEvent.objects.count() == 2 and AuditEvent.objects.count() == 0
    assert audit_seal() == 2 and chain_verify().ok


@pytest.mark.django_db
def test_sealing_hashes_the_stored_instant_and_values_as_verification_reads_them():
    """The sealer reads instants as text in the chain's form and hashes runs of events that
    differ only in their target from one canonical JSON: verification, which reads the rows
    as Django does and hashes each on its own, must agree for any instant and value."""
    from datetime import UTC, datetime, timedelta, timezone

    instants = [
        datetime(2026, 3, 2, 14, 1, tzinfo=UTC),  # no microseconds
        datetime(2026, 3, 2, 22, 1, 0, 5, tzinfo=timezone(timedelta(hours=8))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    PendingAuditEvent.objects.bulk_create(
        PendingAuditEvent(
            at=at,
            actor_ref="system",
            action="test.instant",
            target_type="tests.thing",
            target_id=target,
            data={"n": 1.5, "s": 'é"\\', "list": [None, True]},
            ip="10.0.0.1" if target == "b" else None,
        )
        for at in instants
        for target in ("a", "b", "7")
    )
    assert audit_seal() == 9
    assert chain_verify().ok


@pytest.mark.django_db
@pytest.mark.parametrize("seal", ["sets", "inline", "inline_sets"])
def test_sealed_events_hash_floats_and_addresses_as_the_database_stores_them(seal, settings):
    """jsonb stores 1e16 as 10000000000000000 and -0.0 as 0, inet and Django compress
    2001:0DB8::0001: an event hashed from the values in hand would fail verification."""
    from core import context

    data = {"big": 1e16, "zero": -0.0, "half": 0.5, "list": [1e-7, 3]}
    settings.AUDIT_SEALING = "inline" if seal.startswith("inline") else "deferred"
    token = context.bind(context.RequestContext(ip="2001:0DB8::0001"))
    try:
        if seal == "inline":
            audit_record(action="test.float", target_type="tests.thing", target_id=1, data=data)
            audit_record(action="test.v4", ip="10.0.0.1", data={"n": 2.5})
        else:
            audit_record_sets(
                [
                    {
                        "action": "test.float",
                        "model": ChainHead,
                        "target_ids": [1, 2],
                        "data": data,
                    },
                    {
                        "action": "test.each",
                        "model": ChainHead,
                        "target_ids": [3, 4],
                        "per_target": {4: {"x": -0.0}},
                    },
                ],
                seal=seal == "sets",
            )
    finally:
        context.reset(token)
    assert PendingAuditEvent.objects.count() == 0
    assert AuditEvent.objects.filter(ip="2001:db8::1").exists()
    assert chain_verify().ok


@pytest.mark.django_db
def test_the_sealer_builds_a_hasher_only_for_events_whose_shape_repeats(monkeypatch):
    """A hasher costs more than compute_hash for one event (22 µs against 13): a request's
    event, alone with its instant, is hashed directly; a bulk write's run shares one."""
    if connection.vendor != "postgresql":
        pytest.skip("the SQLite sealer hashes each event with compute_hash")
    from audit import chain

    built = []
    real = chain.hasher
    monkeypatch.setattr(chain, "hasher", lambda row: built.append(row) or real(row))
    for n in range(3):
        audit_record(action=f"test.request{n}", target_type="tests.thing", target_id=n)
    audit_record_sets([{"action": "test.bulk", "model": ChainHead, "target_ids": [1, 2, 3]}])
    assert audit_seal() == 6
    assert [row["action"] for row in built] == ["test.bulk"]
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_sealing_writer_holds_the_head_until_commit_and_others_queue_behind_it(monkeypatch):
    """The scan's sealed write keeps the head from its lock to its commit: the periodic
    sealer and a second sealing writer wait (they do not fork the chain or skip a number),
    then chain after it. The first writer is held inside its transaction, after _lock_head."""
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks and concurrent writers (PostgreSQL)")
    from audit.services import events

    audit_record(action="test.pending")  # committed, waiting for the sealer
    held, release = threading.Event(), threading.Event()
    original = events._append_postgresql
    holder_name = "head-holder"

    def holding(head, parts):
        if threading.current_thread().name == holder_name:
            held.set()
            release.wait(timeout=20)
        return original(head, parts)

    monkeypatch.setattr(events, "_append_postgresql", holding)
    errors: list[BaseException] = []

    def run(call):
        def work():
            try:
                with transaction.atomic():
                    call()
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        return work

    def sets(action, n):
        return lambda: audit_record_sets(
            [{"action": action, "model": ChainHead, "target_ids": range(1, n + 1)}], seal=True
        )

    holder = threading.Thread(target=run(sets("test.first", 5)), name=holder_name)
    holder.start()
    others = [
        threading.Thread(target=run(audit_seal)),
        threading.Thread(target=run(sets("test.second", 3))),
    ]
    try:
        assert held.wait(timeout=10), "the first writer never locked the head"
        for thread in others:
            thread.start()
        time.sleep(0.5)
        assert all(thread.is_alive() for thread in others), "a writer did not wait for the head"
        assert AuditEvent.objects.count() == 0  # nothing chained while the head is held
    finally:
        release.set()
        for thread in (holder, *others):
            thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in (holder, *others))
    assert errors == []
    events_ = list(AuditEvent.objects.order_by("seq").values_list("seq", "action"))
    assert [seq for seq, _action in events_] == list(range(1, 10))  # no gap, no fork
    assert [action for _seq, action in events_[:5]] == ["test.first"] * 5
    assert sorted(action for _seq, action in events_[5:]) == ["test.pending"] + ["test.second"] * 3
    assert ChainHead.objects.get().seq == 9
    assert PendingAuditEvent.objects.count() == 0
    assert chain_verify().ok
