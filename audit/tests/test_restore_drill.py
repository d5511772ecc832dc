"""The restore drill restores a real pg_dump of the test database into a scratch database,
verifies it with a process of its own, and reports RTO and RPO; a dump it cannot restore, or
keys that cannot read it, fail the drill by name, and the scratch database never stays."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent, PendingAuditEvent
from audit.services import audit_record, audit_seal
from core.startup import verify_encryption_keys

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _dump(path) -> None:
    db = connection.settings_dict
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    env = {**os.environ, **({"PGPASSWORD": db["PASSWORD"]} if db.get("PASSWORD") else {})}
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={path}", "--host", db.get("HOST") or "localhost",
         "--port", str(db.get("PORT") or 5432), "--username", db.get("USER") or "postgres",
         db["NAME"]],
        check=True, env=env, timeout=300,
    )  # fmt: skip


def _scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            [connection.settings_dict["NAME"] + "_drill_%"],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def backup(tmp_path, settings):
    """A dump of the test database holding a canary and a few audit events."""
    settings.AUDIT_CHECKPOINT_PATH = str(tmp_path / "checkpoints.jsonl")
    verify_encryption_keys()
    for n in range(3):
        audit_record(action="test.before_backup", target_type="thing", target_id=n)
    path = tmp_path / "welddesk.dump"
    _dump(path)
    return path


def test_the_drill_restores_verifies_and_reports_rto_and_rpo(backup):
    head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    audit_record(action="test.after_backup", target_type="thing", target_id=9)  # not in it
    out = StringIO()
    call_command("restore_drill", file=str(backup), as_json=True, stdout=out, stderr=StringIO())
    figures = json.loads(out.getvalue())
    assert figures["chain_head"] == head
    assert figures["rto_seconds"] >= figures["restore_seconds"] > 0
    assert 0 <= figures["rpo_seconds"] < 600
    assert figures["verification"].startswith(f"audit chain OK: {head} events, head seq {head}")
    # The live database has the event written after the dump (and the drill's own record).
    assert figures["tables_differing"][AuditEvent._meta.db_table] >= 1
    assert _scratch_databases() == []
    recorded = AuditEvent.objects.filter(action="operations.restore_drill").get()
    assert recorded.data["outcome"] == "verified" and recorded.data["backup"] == "welddesk.dump"


def test_the_newest_dump_of_the_directory_is_the_one_restored(backup, tmp_path):
    older = tmp_path / "older.dump"
    older.write_bytes(b"not a dump")
    os.utime(older, (1, 1))
    out = StringIO()
    call_command("restore_drill", dir=str(tmp_path), stdout=out, stderr=StringIO())
    assert "Restore drill of welddesk.dump: verified." in out.getvalue()


def test_a_dump_that_cannot_be_restored_fails_the_drill_and_leaves_nothing(tmp_path):
    bad = tmp_path / "broken.dump"
    bad.write_bytes(b"PGDMP but not really")
    with pytest.raises(CommandError, match="pg_restore failed"):
        call_command("restore_drill", file=str(bad), stdout=StringIO(), stderr=StringIO())
    assert _scratch_databases() == []
    recorded = AuditEvent.objects.filter(action="operations.restore_drill").get()
    assert recorded.data["outcome"] == "failed"


def test_keys_that_cannot_read_the_backup_fail_the_drill(backup, monkeypatch):
    """The verification starts like any process of the desk: keys that do not decrypt the
    restored canary (the kept keys were the wrong ones) stop it."""
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    with pytest.raises(CommandError, match="did not verify") as failed:
        call_command("restore_drill", file=str(backup), stdout=StringIO(), stderr=StringIO())
    assert "FIELD_ENCRYPTION_KEYS" in str(failed.value)
    assert _scratch_databases() == []


@pytest.mark.audit_deferred
def test_a_write_not_yet_sealed_when_the_dump_was_taken_counts_for_the_rpo(tmp_path, settings):
    """With deferred sealing the newest writes wait as pending events until the sealer runs;
    the backup holds them, so the newest of them dates the backup, not the chain's last."""
    settings.AUDIT_CHECKPOINT_PATH = str(tmp_path / "checkpoints.jsonl")
    verify_encryption_keys()
    audit_record(action="test.sealed", target_type="thing", target_id=1)
    audit_seal()
    audit_record(action="test.pending", target_type="thing", target_id=2)
    waiting = PendingAuditEvent.objects.get(action="test.pending")
    path = tmp_path / "welddesk.dump"
    _dump(path)
    try:
        out = StringIO()
        call_command("restore_drill", file=str(path), as_json=True, stdout=out, stderr=StringIO())
        figures = json.loads(out.getvalue())
        assert dt.datetime.fromisoformat(figures["newest_row_at"]) == waiting.at
        assert figures["chain_head"] == AuditEvent.objects.get(action="test.sealed").seq
    finally:
        audit_seal()  # the pending events (the drill's own record too) into the chain
