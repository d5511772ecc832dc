"""The restore drill (`manage.py restore_drill`): prove that the latest backup can be
restored and trusted, and how long that takes.

A backup nobody restored is a hope. The drill restores a pg_dump (custom format) into a
scratch database beside the live one, then runs `manage.py audit_verify` against it in a
process of its own: that process starts like any other (its encryption keys must decrypt the
restored canary row, so keys kept apart from the dump are proven to fit it), and the audit
chain must verify against every signed checkpoint the backup could contain (those up to its
chain head; later ones are what the backup lost). It compares every table's row count with
the live database, and reports:

* RTO, the seconds from the start to a verified restore (restore + verification);
* RPO, the age of the newest restored row: every write of the desk records an audit event in
  its transaction, so the newest event's time (sealed or still pending) is the newest write
  the backup holds.

The scratch database is dropped afterwards (unless kept), and the drill itself is recorded
in the audit chain (file name, figures, outcome; no data from the backup).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEvent, PendingAuditEvent
from audit.services import audit_record

ROOT = Path(__file__).resolve().parents[1]


class DrillFailed(Exception):
    """The backup could not be restored or did not verify; the message says which step."""


@dataclass
class TableCount:
    table: str
    restored: int
    live: int

    @property
    def difference(self) -> int:
        return self.live - self.restored


@dataclass
class DrillResult:
    backup: str
    restore_seconds: float
    verify_seconds: float
    rto_seconds: float
    newest_row_at: dt.datetime | None
    rpo_seconds: float | None
    chain_head: int
    checkpoints_checked: int
    verification: str
    tables: list[TableCount] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "backup": self.backup,
            "restore_seconds": round(self.restore_seconds, 2),
            "verify_seconds": round(self.verify_seconds, 2),
            "rto_seconds": round(self.rto_seconds, 2),
            "newest_row_at": self.newest_row_at.isoformat() if self.newest_row_at else None,
            "rpo_seconds": None if self.rpo_seconds is None else round(self.rpo_seconds, 1),
            "chain_head": self.chain_head,
            "checkpoints_checked": self.checkpoints_checked,
            "verification": self.verification,
            "tables": len(self.tables),
            "tables_differing": {t.table: t.difference for t in self.tables if t.difference},
        }


def latest_backup(directory: Path) -> Path:
    """The newest pg_dump (custom format, *.dump) in the directory."""
    dumps = sorted(directory.glob("*.dump"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise DrillFailed(f"no backup (*.dump) in {directory}")
    return dumps[-1]


def _live() -> dict:
    if connection.vendor != "postgresql":
        raise DrillFailed("the restore drill restores PostgreSQL backups; DATABASE_URL is not one")
    return connection.settings_dict


def _connect(db: dict, name: str):
    import psycopg

    return psycopg.connect(
        dbname=name,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        autocommit=True,
        connect_timeout=10,
    )


def _url(db: dict, name: str) -> str:
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(name, safe='')}"


def _tables(conn) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return [row[0] for row in rows]


def _counts(conn, tables: list[str]) -> dict[str, int]:
    from psycopg import sql

    if not tables:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {name}, count(*) FROM {table}").format(
            name=sql.Literal(table), table=sql.Identifier(table)
        )
        for table in tables
    )
    return dict(conn.execute(query).fetchall())


def _checkpoints_up_to(head: int, directory: Path) -> tuple[Path, int]:
    """The live checkpoint store's lines that the backup can hold (seq <= its chain head), in
    a file of their own; later lines are what the backup lost, not a broken chain."""
    source = Path(settings.AUDIT_CHECKPOINT_PATH)
    target = directory / "checkpoints.jsonl"
    kept = 0
    with open(target, "w", encoding="utf-8") as out:
        if source.exists():
            for line in source.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    seq = int(json.loads(line)["seq"])
                except (ValueError, KeyError, TypeError):
                    out.write(line + "\n")  # a damaged line stays: audit_verify names it
                    continue
                if seq <= head:
                    out.write(line + "\n")
                    kept += 1
    return target, kept


def restore_drill(*, backup: Path, keep: bool = False, jobs: int = 2, actor=None) -> DrillResult:
    """Restore `backup` into a scratch database, verify it, compare, record; raise
    DrillFailed naming the step that failed (the scratch database is dropped either way)."""
    db = _live()
    if not backup.is_file():
        raise DrillFailed(f"{backup} is not a file")
    started = time.monotonic()
    scratch = f"{db['NAME']}_drill_{int(time.time())}"[:63]
    maintenance = _connect(db, "postgres")
    from psycopg import sql

    maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    outcome = "failed"
    try:
        env = {**os.environ}
        if db.get("PASSWORD"):
            env["PGPASSWORD"] = db["PASSWORD"]
        pg_restore = shutil.which("pg_restore")
        if pg_restore is None:
            raise DrillFailed("pg_restore is not installed (apt-get install postgresql-client)")
        restore = subprocess.run(  # noqa: S603 - our own arguments, no shell
            [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
             f"--jobs={max(1, jobs)}", f"--dbname={_url(db, scratch)}", str(backup)],
            capture_output=True, text=True, env=env, timeout=6 * 3600,
        )  # fmt: skip
        restore_seconds = time.monotonic() - started
        if restore.returncode != 0:
            raise DrillFailed(f"pg_restore failed: {restore.stderr.strip()[-2000:]}")

        table = AuditEvent._meta.db_table
        pending = PendingAuditEvent._meta.db_table
        with _connect(db, scratch) as restored:
            # The newest write may still wait to be sealed (deferred sealing): its pending
            # event is in the backup too, and newer than the chain's last.
            head, newest = restored.execute(
                f'SELECT coalesce(max(seq), 0), greatest(max("at"), '  # noqa: S608 - models' tables
                f'(SELECT max("at") FROM "{pending}")) FROM "{table}"'
            ).fetchone()
            tables = _tables(restored)
            restored_counts = _counts(restored, tables)

        verify_started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="restore-drill-") as tmp:
            checkpoints, kept = _checkpoints_up_to(head, Path(tmp))
            verify = subprocess.run(  # noqa: S603 - our own arguments, no shell
                [sys.executable, str(ROOT / "manage.py"), "audit_verify",
                 "--checkpoints", str(checkpoints)],
                capture_output=True, text=True, timeout=6 * 3600, cwd=ROOT,
                env={**os.environ, "DATABASE_URL": _url(db, scratch),
                     "WELDDESK_STARTUP_CHECKS": "1"},
            )  # fmt: skip
        verify_seconds = time.monotonic() - verify_started
        if verify.returncode != 0:
            said = (verify.stderr.strip() or verify.stdout.strip())[-2000:]
            raise DrillFailed(f"the restored database did not verify: {said}")
        rto = time.monotonic() - started

        with _connect(db, db["NAME"]) as live:
            live_counts = _counts(live, [t for t in tables if t in set(_tables(live))])
        result = DrillResult(
            backup=backup.name,
            restore_seconds=restore_seconds,
            verify_seconds=verify_seconds,
            rto_seconds=rto,
            newest_row_at=newest,
            rpo_seconds=(timezone.now() - newest).total_seconds() if newest else None,
            chain_head=head,
            checkpoints_checked=kept,
            verification=verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else "",
            tables=[
                TableCount(table=t, restored=restored_counts[t], live=live_counts.get(t, 0))
                for t in tables
            ],
        )
        outcome = "verified"
        return result
    except DrillFailed as exc:
        _record(
            actor=actor, data={"backup": backup.name, "outcome": "failed", "why": str(exc)[:300]}
        )
        raise
    finally:
        if not keep:
            maintenance.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
        maintenance.close()
        if outcome == "verified":
            _record(
                actor=actor, data={**result.as_json(), "outcome": outcome, "kept": keep and scratch}
            )


def _record(*, actor, data: dict) -> None:
    """The drill in the audit chain: when, which file, the figures, the outcome."""
    with transaction.atomic():
        audit_record(action="operations.restore_drill", actor=actor, target_type="backup",
                     target_id=data.get("backup", ""), data=data)  # fmt: skip
