"""The audit chain: hashes, no personal data, tamper detection, append-only, concurrency."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from audit import chain
from audit.models import AuditEvent, ChainHead, PendingAuditEvent
from audit.selectors import chain_verify
from audit.services import audit_record, audit_seal


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
@pytest.mark.parametrize(
    "sealing", ["inline", pytest.param("deferred", marks=pytest.mark.audit_deferred)]
)
def test_fifty_concurrent_audited_writes_in_one_organisation_leave_a_gap_free_unforked_chain(
    sealing, make_org, make_customer
):
    """Checklist 29: 50 people of one organisation change their profile at the same moment,
    each in its own transaction and connection (with deferred sealing, two sealers race the
    writers); the chain has every event, no gap, no fork, and audit_verify passes."""
    from accounts.services import user_update_profile

    org = make_org()
    people = [make_customer(org) for _ in range(50)]
    before = AuditEvent.objects.count() + PendingAuditEvent.objects.count()
    barrier = threading.Barrier(50)
    writing = threading.Event()
    errors: list[BaseException] = []

    def writer(person) -> None:
        try:
            barrier.wait(timeout=30)
            user_update_profile(user=person, actor=person, timezone="Asia/Urumqi")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def sealer() -> None:
        try:
            while writing.is_set():
                audit_seal(wait=False)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    writing.set()
    threads = [threading.Thread(target=writer, args=(p,)) for p in people]
    sealers = [threading.Thread(target=sealer) for _ in range(2 if sealing == "deferred" else 0)]
    for t in threads + sealers:
        t.start()
    for t in threads:
        t.join(timeout=120)
    writing.clear()
    for t in sealers:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads + sealers) and not errors, errors
    audit_seal()  # beat's backstop for what the racing sealers skipped
    assert PendingAuditEvent.objects.count() == 0
    changed = AuditEvent.objects.filter(action="user.profile_changed")
    assert sorted(changed.values_list("target_id", flat=True)) == sorted(str(p.pk) for p in people)
    rows = list(AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert len(rows) == before + 50
    assert [seq for seq, _prev, _hash in rows] == list(range(1, len(rows) + 1))  # no gap
    for (_s, _p, earlier), (_seq, prev, _h) in itertools.pairwise(rows):
        assert prev == earlier  # every event follows the one before it: no fork
    assert f"audit chain OK: {len(rows)} events" in verify_command()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("tampering", "first_bad_seq"),
    [("edit_one_payload_byte", 4), ("delete_one_row", 3), ("swap_two_rows", 2)],
)
def test_superuser_tampering_makes_audit_verify_exit_non_zero_naming_the_first_bad_seq(
    tampering, first_bad_seq
):
    """Checklist 28: as the database superuser (PostgreSQL) or the file's owner (SQLite),
    past the triggers: one byte of one event's data changed, one row deleted, two rows
    swapped. `manage.py audit_verify`, run as an operator would, exits non-zero and names
    the first bad seq."""
    write_events(6)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchone() == (True,)
    if tampering == "edit_one_payload_byte":
        stored = AuditEvent.objects.get(seq=4).data
        assert stored == {"i": 4}
        edit = (
            "UPDATE audit_auditevent SET data = %s::jsonb WHERE seq = 4"
            if connection.vendor == "postgresql"
            else "UPDATE audit_auditevent SET data = %s WHERE seq = 4"
        )
        tamper(edit, ['{"i": 5}'])  # one byte of the payload: 4 becomes 5
    elif tampering == "delete_one_row":
        tamper("DELETE FROM audit_auditevent WHERE seq = %s", [3])
    else:
        tamper("UPDATE audit_auditevent SET seq = -2 WHERE seq = 2", [])
        tamper("UPDATE audit_auditevent SET seq = 2 WHERE seq = 5", [])
        tamper("UPDATE audit_auditevent SET seq = 5 WHERE seq = -2", [])
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        if connection.vendor == "postgresql"
        else f"sqlite:///{db['NAME']}"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=Path(__file__).resolve().parents[2],
        env={
            **os.environ,
            "DATABASE_URL": url,
            "AUDIT_CHECKPOINT_PATH": settings.AUDIT_CHECKPOINT_PATH,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    assert f"audit chain BROKEN at seq {first_bad_seq}:" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"target_type": "tickets.ticket", "data": {"target": "first_response", "rule": 7}},
        {"data": {"quote": 'a"b{c}', "nested": {"z": [1, 2.5, None, True]}, "中": "文"}},
        {"actor_ref": "user:{seq}", "request_id": "{0}{target_id}", "ip": "10.0.0.1"},
        {"changed_fields": ["status", "priority"], "outcome": "denied"},
    ],
)
def test_the_run_hasher_hashes_as_compute_hash_does(changes):
    from datetime import UTC, datetime

    row = {
        "seq": 0,
        "at": datetime(2026, 3, 2, 14, 1, 0, 123, tzinfo=UTC),
        "actor_ref": "system",
        "action": "ticket.sla_warning",
        "outcome": "success",
        "target_type": "tickets.ticket",
        "target_id": "",
        "changed_fields": [],
        "data": {},
        "ip": None,
        "request_id": "",
        "prev_hash": "",
        **changes,
    }
    hash_of = chain.hasher(row)
    prev = chain.GENESIS_HASH
    for seq, target_id in enumerate(["1", "12345", 'x"y', "back\\slash", "中文", "", "NULL"], 1):
        expected = chain.compute_hash(
            {**row, "seq": seq, "prev_hash": prev, "target_id": target_id}
        )
        assert hash_of(seq, prev, target_id) == expected
        prev = expected


def test_the_run_hasher_falls_back_when_a_value_holds_its_mark(monkeypatch):
    monkeypatch.setattr(chain.secrets, "token_hex", lambda n: "fixed")
    row = {name: "" for name in chain.HASHED_FIELDS}
    row.update(seq=0, changed_fields=[], data={"x": "@seq:fixed@"}, ip=None)
    expected = chain.compute_hash({**row, "seq": 3, "prev_hash": "ab", "target_id": "9"})
    assert chain.hasher(row)(3, "ab", "9") == expected
