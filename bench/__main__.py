"""Run the benchmarks against a scratch database and print (and save) the figures.

The scratch database is `var/bench.sqlite3`, or `<name>_bench` on the PostgreSQL server of
DATABASE_URL; it is dropped and migrated afresh on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BENCHES = [
    "audit",
    "audit_export",
    "tickets",
    "chat",
    "compensation",
    "search",
    "workspace",
    "ticket_page",
    "reports",
    "import_base",
    "alarms",
]


def scratch_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        parsed = urlparse(url)
        name = (parsed.path.lstrip("/") or "welddesk") + "_bench"
        return urlunparse(parsed._replace(path="/" + name))
    path = ROOT / "var" / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return f"sqlite:///{path}"


def recreate_postgres(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", choices=[*BENCHES, []], help="benchmarks to run (default: all)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the row counts")
    parser.add_argument(
        "--servers",
        help="chat: Daphne server processes, one row per number (e.g. 1,2,4; BENCH_CHAT_SERVERS)",
    )
    args = parser.parse_args()
    if args.servers:
        os.environ["BENCH_CHAT_SERVERS"] = args.servers

    url = scratch_database_url()
    if url.startswith("postgres"):
        recreate_postgres(url)
    os.environ["DATABASE_URL"] = url
    # The desk's settings plus the floor app of the tickets benchmark (bench/settings.py).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ["WELDDESK_STARTUP_CHECKS"] = "0"
    os.environ.setdefault("DEBUG", "1")
    sys.path.insert(0, str(ROOT))

    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    print(f"bench: migrating a scratch {connection.vendor} database ...", flush=True)
    call_command("migrate", verbosity=0)
    results = {
        "database": connection.vendor,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": {},
    }
    for name in args.names or BENCHES:
        module = __import__(f"bench.{name}", fromlist=["run"])
        print(f"bench: {name}", flush=True)
        results["runs"][name] = module.run(scale=args.scale)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"{connection.vendor}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"bench: figures saved to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
