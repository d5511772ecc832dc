"""The audit chain: hashes, no personal data, tamper detection, append-only, concurrency."""

from __future__ import annotations

import itertools
import threading
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from audit import chain
from audit.models import AuditEvent, ChainHead
from audit.selectors import chain_verify
from audit.services import audit_record


def write_events(n: int) -> list[AuditEvent]:
    return [
        audit_record(action="test.event", target_type="tests.thing", target_id=i, data={"i": i})
        for i in range(1, n + 1)
    ]


def verify_command() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def tamper(sql: str, params: list, *, tables: tuple[str, ...] = ("audit_auditevent",)) -> None:
    """Run SQL against audit tables as their owner (a superuser on PostgreSQL), with the
    protecting triggers of those tables switched off for the statement."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.mark.django_db
def test_events_form_a_gap_free_hash_chain():
    events = write_events(5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == chain.GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    stored = AuditEvent.objects.get(seq=3)
    assert chain.compute_hash({f: getattr(stored, f) for f in chain.HASHED_FIELDS}) == stored.hash
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (5, events[-1].hash)
    assert "audit chain OK: 5 events" in verify_command()


@pytest.mark.django_db
def test_personal_field_values_never_enter_the_chain(make_customer):
    user = make_customer(
        email="zhao.lei@beichen.example", full_name="赵磊", phone="+86 186 2235 7702"
    )
    event = audit_record(
        action="user.profile_changed",
        actor=user,
        target=user,
        changes={
            "email": "new.zhao@beichen.example",
            "phone": "13800138000",
            "language": "zh-hans",
        },
    )
    assert event.changed_fields == ["email", "language", "phone"]
    assert event.data == {"values": {"language": "zh-hans"}}
    text = " ".join(
        str(v) for v in AuditEvent.objects.values_list("data", "changed_fields", "target_id")
    )
    for secret in ("zhao", "赵磊", "2235", "13800138000", "beichen"):
        assert secret not in text


@pytest.mark.django_db
def test_request_context_is_recorded(client, make_customer):
    user = make_customer()
    client.post(
        "/accounts/login/",
        {"email": user.email, "password": "wrong password"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_REQUEST_ID="req-12345678",
    )
    event = AuditEvent.objects.filter(action="auth.login_failed").latest("seq")
    assert event.ip == "203.0.113.9"
    assert event.request_id == "req-12345678"
    assert event.at.utcoffset().total_seconds() == 0


@pytest.mark.django_db
def test_edited_payload_is_detected_at_its_seq():
    write_events(6)
    tamper(
        "UPDATE audit_auditevent SET action = %s WHERE seq = %s",
        ["test.evenu", 4],
    )
    with pytest.raises(CommandError, match=r"BROKEN at seq 4: row content"):
        verify_command()


@pytest.mark.django_db
def test_one_changed_byte_in_the_data_is_detected():
    write_events(6)
    tamper("UPDATE audit_auditevent SET target_id = %s WHERE seq = %s", ["9", 2])
    result = chain_verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)


@pytest.mark.django_db
def test_deleted_row_is_detected():
    write_events(6)
    tamper("DELETE FROM audit_auditevent WHERE seq = %s", [3])
    with pytest.raises(CommandError, match=r"BROKEN at seq 3: seq 3 is missing"):
        verify_command()


@pytest.mark.django_db
def test_deleted_last_row_is_detected_through_the_head():
    write_events(4)
    tamper("DELETE FROM audit_auditevent WHERE seq = %s", [4])
    with pytest.raises(CommandError, match=r"BROKEN at seq 4"):
        verify_command()


@pytest.mark.django_db
def test_swapped_rows_are_detected():
    write_events(6)
    tamper("UPDATE audit_auditevent SET seq = -2 WHERE seq = 2", [])
    tamper("UPDATE audit_auditevent SET seq = 2 WHERE seq = 5", [])
    tamper("UPDATE audit_auditevent SET seq = 5 WHERE seq = -2", [])
    with pytest.raises(CommandError, match=r"BROKEN at seq 2"):
        verify_command()


@pytest.mark.django_db
def test_a_missing_head_is_rebuilt_from_the_last_event():
    events = write_events(3)
    tamper("DELETE FROM audit_chainhead", [], tables=("audit_chainhead",))  # as a fresh database
    nxt = audit_record(action="test.after")
    assert (nxt.seq, nxt.prev_hash) == (4, events[-1].hash)
    assert chain_verify().ok


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"]
)
def test_postgres_trigger_refuses_update_and_delete(statement):
    write_events(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_writers_leave_no_gap_and_no_fork():
    """Each thread writes an audited change in its own transaction and connection."""
    user_model = get_user_model()
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                # A business write and its audit row, committed together.
                user_model.objects.filter(pk=-1).update(is_active=False)
                audit_record(action="test.concurrent", target_type="tests.thing", target_id=i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    seqs = list(
        AuditEvent.objects.filter(action="test.concurrent")
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    all_seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert len(seqs) == 50
    assert all_seqs == list(range(1, len(all_seqs) + 1))
    assert AuditEvent.objects.values("prev_hash").distinct().count() == len(all_seqs)  # no fork
    result = chain_verify()
    assert result.ok, result.reason
