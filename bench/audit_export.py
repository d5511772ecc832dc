"""Compliance export: 1,000,000 audit events exported (throughput, peak memory) and verified.

The chain is seeded in batches with real hashes (as the sealer computes them). The export runs
as its own process (`manage.py audit_export`, the same generator the admin streams), so its
peak resident memory is its own (`os.wait4`); then the standalone verifier checks the file,
the signature and the chain, also in its own process.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection, connections

from audit import chain, export
from audit.models import AuditEvent, ChainHead

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 1_000_000
BATCH = 20_000


def _seed(total: int) -> None:
    head = ChainHead.objects.filter(pk=1).values_list("seq", "hash").first() or (
        0,
        chain.GENESIS_HASH,
    )
    seq, prev = head
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    made = 0
    t0 = time.perf_counter()
    while made < total:
        rows = []
        for _n in range(min(BATCH, total - made)):
            seq += 1
            row = {
                "seq": seq,
                "at": start + dt.timedelta(seconds=seq * 7),
                "actor_ref": f"user:{seq % 500}",
                "action": ("ticket.viewed", "ticket.opened", "ticket.replied")[seq % 3],
                "outcome": "success",
                "target_type": "tickets.ticket",
                "target_id": str(seq % 120_000),
                "changed_fields": ["status"] if seq % 3 == 2 else [],
                "data": {"reference": f"WD-2026-{seq % 120_000:06d}", "channel": "portal"},
                "ip": "10.0.0.1" if seq % 2 else None,
                "request_id": f"r{seq:08x}",
                "prev_hash": prev,
            }
            row["hash"] = prev = chain.compute_hash(row)
            rows.append(AuditEvent(**row))
        if connection.vendor == "postgresql":
            _copy(rows)
        else:
            AuditEvent.objects.bulk_create(rows, batch_size=2000)
        made += len(rows)
        print(f"\r  seeding: {made:,} events", end="", flush=True)
    ChainHead.objects.update_or_create(pk=1, defaults={"seq": seq, "hash": prev})
    print(f" in {time.perf_counter() - t0:.0f} s", flush=True)


def _copy(rows: list[AuditEvent]) -> None:
    """COPY with the primary key as given (seq is not a sequence)."""
    fields = [f for f in AuditEvent._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
                )


def _hwm_mb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM; exec resets it, unlike ru_maxrss,
    which would count the benchmark's own memory copied at fork)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _timed(args: list[str]) -> tuple[float, int, str]:
    """Run a child; return seconds, its peak resident memory in MB, and what it printed."""
    start = time.perf_counter()
    child = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
    )
    peak = 0
    while child.poll() is None:
        peak = max(peak, _hwm_mb(child.pid))
        time.sleep(0.05)
    output = child.stdout.read()
    if child.returncode != 0:
        raise RuntimeError(output)
    return time.perf_counter() - start, peak, output


def run(*, scale: float = 1.0) -> dict:
    total = int(EVENTS * scale)
    _seed(total)
    count = AuditEvent.objects.count()
    connections.close_all()
    out = ROOT / "var" / "bench-audit-export.zip"
    out.parent.mkdir(exist_ok=True)
    results = {"events": count}
    for fmt in ("csv", "jsonl"):
        seconds, peak_mb, _said = _timed(
            [sys.executable, "manage.py", "audit_export", "--out", str(out), "--format", fmt]
        )
        size = out.stat().st_size / 1e6
        print(
            f"  export {fmt:5}: {count / seconds:8,.0f} events/s ({seconds:.1f} s, "
            f"{size:.0f} MB zip), peak memory {peak_mb} MB",
            flush=True,
        )
        key = export.public_key_b64()
        v_seconds, v_peak, said = _timed(
            [sys.executable, "tools/verify_audit_export.py", str(out), "--public-key", key]
        )
        assert said.startswith("OK:"), said
        print(
            f"  verify {fmt:5}: {count / v_seconds:8,.0f} events/s ({v_seconds:.1f} s), "
            f"peak memory {v_peak} MB",
            flush=True,
        )
        results[fmt] = {
            "export_per_s": round(count / seconds),
            "export_peak_mb": peak_mb,
            "zip_mb": round(size, 1),
            "verify_per_s": round(count / v_seconds),
            "verify_peak_mb": v_peak,
        }
    out.unlink(missing_ok=True)
    return results
