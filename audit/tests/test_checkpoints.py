"""Signed checkpoints outside the database: written by beat and the command, checked by
audit_verify, shown in /metrics and the admin (issue 17, point 1; checklist item 30)."""

from __future__ import annotations

import base64
import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from audit import chain, checkpoints, signing
from audit.models import AuditCheckpoint, AuditEvent, ChainHead
from audit.services import CheckpointRefused, audit_checkpoint, audit_record
from testsupport import sign_in

pytestmark = pytest.mark.django_db


def write_events(n: int) -> None:
    for i in range(n):
        audit_record(action="test.event", target_type="tests.thing", target_id=i, data={"i": i})


def store() -> Path:
    return Path(django_settings.AUDIT_CHECKPOINT_PATH)


def store_lines() -> list[dict]:
    return [json.loads(line) for line in store().read_text().splitlines()]


def verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def as_superuser(*statements: str | tuple[str, list]) -> None:
    """Run statements the way a database superuser would: on PostgreSQL with every trigger
    bypassed for the session (session_replication_role = replica leaves no trace in the
    tables' trigger state), on SQLite (no triggers) as they are."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchone() == (True,), "the tamper tests run as a superuser"
            cursor.execute("SET session_replication_role = replica")
        try:
            for statement in statements:
                sql, params = statement if isinstance(statement, tuple) else (statement, [])
                cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")


def event_hash(seq: int) -> str:
    return AuditEvent.objects.get(seq=seq).hash


def test_the_signed_checkpoint_in_the_external_store_matches_the_database_head():
    """Checklist 30: the command appends a line to the store (not the database) holding the
    DB head's seq and hash, signed with Ed25519 by the audit signing key."""
    write_events(7)
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    head = ChainHead.objects.get()
    [line] = store_lines()
    assert (line["seq"], line["hash"]) == (head.seq, head.hash) == (7, event_hash(7))
    assert line["public_key"] == signing.public_key_b64() and line["algorithm"] == "Ed25519"
    # The signature is plain Ed25519 over the canonical JSON of the other fields: anyone with
    # the public key can check it without WeldDesk.
    unsigned = {k: v for k, v in line.items() if k != "signature"}
    message = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(line["public_key"])).verify(
        base64.b64decode(line["signature"]), message
    )
    row = AuditCheckpoint.objects.get()
    assert (row.seq, row.hash, chain.format_time(row.at)) == (7, head.hash, line["at"])
    assert f"seq 7, hash {head.hash}" in out.getvalue()
    assert "matches 1 signed checkpoints (the latest at seq 7" in verify()


def test_checkpoints_are_appended_never_rewritten():
    write_events(2)
    audit_checkpoint()
    first = store().read_bytes()
    write_events(3)
    audit_checkpoint()
    assert store().read_bytes().startswith(first)
    assert [line["seq"] for line in store_lines()] == [2, 5]


def test_beat_signs_a_checkpoint_every_few_minutes():
    from django_celery_beat.models import PeriodicTask

    from audit.tasks import checkpoint
    from core import periodic

    [schedule] = [s for s in periodic.registered() if s.task == "audit.checkpoint"]
    assert schedule.every_seconds == django_settings.AUDIT_CHECKPOINT_EVERY_SECONDS == 300
    periodic.ensure_periodic_tasks()
    task = PeriodicTask.objects.get(task="audit.checkpoint")
    assert (task.interval.every, task.interval.period, task.enabled) == (300, "seconds", True)
    write_events(4)
    assert checkpoint.delay().get() == 4
    assert [line["seq"] for line in store_lines()] == [4]


def test_truncating_the_chain_and_resetting_the_head_fails_verify_naming_the_gap():
    """The issue's first attack, as a superuser past every trigger: TRUNCATE audit_auditevent
    and the head back to seq 0 used to give "OK: 0 events"."""
    write_events(120)
    audit_checkpoint()
    as_superuser(
        "DELETE FROM audit_auditevent",  # TRUNCATE on PostgreSQL below
        ("UPDATE audit_chainhead SET seq = 0, hash = %s", [chain.GENESIS_HASH]),
    )
    if connection.vendor == "postgresql":
        as_superuser("TRUNCATE audit_auditevent")
    assert chain.verify_rows([], head=(0, chain.GENESIS_HASH)).ok  # what verify used to see
    with pytest.raises(CommandError) as failed:
        verify()
    message = str(failed.value)
    assert "covers seq 1..120" in message
    assert "the chain ends at seq 0: events 1..120 missing" in message
    assert failed.value.returncode == 1


def test_deleting_the_last_20_events_and_moving_the_head_back_fails_verify_naming_the_gap():
    """The issue's second attack: triggers off, the last 20 events deleted, the head moved
    back onto seq 100, so the chain alone is consistent."""
    write_events(120)
    audit_checkpoint()
    as_superuser(
        "DELETE FROM audit_auditevent WHERE seq > 100",
        ("UPDATE audit_chainhead SET seq = 100, hash = %s", [event_hash(100)]),
    )
    with pytest.raises(
        CommandError,
        match=r"BROKEN at seq 101: the checkpoint of \S+ covers seq 1\.\.120 with hash "
        r"[0-9a-f]{16}, the chain ends at seq 100: events 101\.\.120 missing",
    ):
        verify()


def test_a_history_rewritten_with_fresh_hashes_fails_at_the_checkpoint_that_covered_it():
    """A superuser who rewrites events 21..30 and recomputes every hash after them leaves a
    chain that verifies by itself; the checkpoint at seq 30 does not match it, the one at 10
    does, so the rewrite is somewhere in 11..30."""
    write_events(10)
    audit_checkpoint()
    write_events(20)
    audit_checkpoint()
    rows = list(AuditEvent.objects.filter(seq__gt=20).order_by("seq").values())
    prev = event_hash(20)
    rewritten = []
    for row in rows:
        row = {**row, "prev_hash": prev, "target_id": "forged" if row["seq"] == 21 else "x"}
        row["hash"] = prev = chain.compute_hash(row)
        rewritten.append(row)
    as_superuser("DELETE FROM audit_auditevent WHERE seq > 20")
    AuditEvent.objects.bulk_create([AuditEvent(**row) for row in rewritten])
    as_superuser(("UPDATE audit_chainhead SET hash = %s", [prev]))
    assert chain.verify_rows(
        AuditEvent.objects.order_by("seq").values(*chain.HASHED_FIELDS, "hash"),
        head=(30, prev),
    ).ok  # consistent by itself
    with pytest.raises(
        CommandError, match=r"BROKEN at seq 11: events 11\.\.30 differ from what the checkpoint"
    ):
        verify()


def test_the_writer_refuses_to_sign_a_chain_that_lost_what_a_checkpoint_covered():
    write_events(30)
    audit_checkpoint()
    as_superuser(
        "DELETE FROM audit_auditevent WHERE seq > 25",
        ("UPDATE audit_chainhead SET seq = 25, hash = %s", [event_hash(25)]),
    )
    with pytest.raises(CommandError, match=r"behind the checkpoint .* events 26\.\.30"):
        call_command("audit_checkpoint", stdout=StringIO())
    assert [line["seq"] for line in store_lines()] == [30]  # nothing signed the tampered chain
    assert AuditCheckpoint.objects.count() == 1


def test_the_writer_refuses_to_extend_a_checkpoint_whose_event_was_replaced():
    write_events(5)
    audit_checkpoint()
    as_superuser(("UPDATE audit_chainhead SET hash = %s", ["f" * 64]))
    with pytest.raises(CheckpointRefused, match="broken at seq 5"):
        audit_checkpoint()


def test_a_tampered_checkpoint_line_is_reported():
    write_events(3)
    audit_checkpoint()
    line = store_lines()[0]
    store().write_text(json.dumps({**line, "seq": 2}) + "\n")  # the chain really has 3
    with pytest.raises(CommandError) as failed:
        verify()
    assert "line 1 is not a valid checkpoint: its signature does not verify" in str(failed.value)


def test_a_checkpoint_signed_by_another_key_is_reported_not_believed():
    write_events(3)
    stranger = Ed25519PrivateKey.generate()
    forged = checkpoints.make(
        seq=1, hash=event_hash(1), at=AuditEvent.objects.get(seq=1).at, key=stranger
    )
    store().write_text(forged.to_line())
    with pytest.raises(CommandError, match=r"line 1 .* signed by key [0-9a-f]{16}, which is"):
        verify()


def test_checkpoints_of_an_earlier_key_count_once_it_is_trusted(settings):
    write_events(3)
    old = Ed25519PrivateKey.generate()
    store().write_text(
        checkpoints.make(
            seq=3, hash=event_hash(3), at=AuditEvent.objects.get(seq=3).at, key=old
        ).to_line()
    )
    with pytest.raises(CommandError, match="neither the audit signing key"):
        verify()
    settings.AUDIT_TRUSTED_PUBLIC_KEYS = [signing.public_key_b64(old)]
    assert "matches 1 signed checkpoints" in verify()


def test_a_lost_store_is_reported_when_the_database_recorded_checkpoints():
    write_events(3)
    audit_checkpoint()
    store().unlink()
    with pytest.raises(CommandError, match="holds no checkpoint, but the database recorded 1"):
        verify()


def test_verify_checks_against_a_copy_of_the_store(tmp_path):
    write_events(8)
    audit_checkpoint()
    copy = tmp_path / "fetched.jsonl"
    copy.write_bytes(store().read_bytes())
    as_superuser(
        "DELETE FROM audit_auditevent WHERE seq > 6",
        ("UPDATE audit_chainhead SET seq = 6, hash = %s", [event_hash(6)]),
    )
    with pytest.raises(CommandError, match=r"events 7\.\.8 missing"):
        call_command("audit_verify", "--checkpoints", str(copy), stdout=StringIO())


def test_without_any_checkpoint_verify_says_so():
    write_events(2)
    assert "audit chain OK: 2 events" in verify()
    assert "no checkpoint yet in" in verify()


def test_metrics_show_the_head_and_the_latest_checkpoint(client):
    from prometheus_client.parser import text_string_to_metric_families

    write_events(9)
    row = audit_checkpoint()
    write_events(2)
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name.startswith("welddesk_audit_")
    }
    assert values == {
        "welddesk_audit_chain_head_seq": 11,
        "welddesk_audit_pending_events": 0,
        "welddesk_audit_oldest_pending_seconds": 0,
        "welddesk_audit_checkpoint_seq": 9,
        "welddesk_audit_checkpoint_timestamp_seconds": row.at.timestamp(),
        "welddesk_audit_checkpoint_hash_prefix": int(row.hash[:13], 16),
    }


def test_compliance_officers_and_supervisors_see_the_checkpoints_read_only(client, make_staff):
    write_events(4)
    row = audit_checkpoint()
    url = reverse("admin:audit_auditcheckpoint_changelist")
    sign_in(client, make_staff(roles=("agent",)))
    assert client.get(url).status_code == 403
    for role in ("compliance_officer", "supervisor"):
        sign_in(client, make_staff(roles=(role,)))
        page = client.get(url).content.decode()
        assert row.hash in page and 'alt="True"' in page
        assert client.get(reverse("admin:audit_auditcheckpoint_add")).status_code == 403
        change = reverse("admin:audit_auditcheckpoint_change", args=[row.pk])
        assert client.post(change, {"seq": 1}).status_code == 403
        delete = reverse("admin:audit_auditcheckpoint_delete", args=[row.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
    as_superuser(("UPDATE audit_auditcheckpoint SET seq = 3 WHERE id = %s", [row.pk]))
    assert 'alt="False"' in client.get(url).content.decode()  # an edited copy shows void


def test_a_void_checkpoint_row_in_the_database_is_reported():
    write_events(4)
    row = audit_checkpoint()
    store().unlink()  # only the database copy remains, edited
    as_superuser(("UPDATE audit_auditcheckpoint SET seq = 3 WHERE id = %s", [row.pk]))
    with pytest.raises(CommandError, match=f"database checkpoint {row.pk} is void"):
        verify()
