"""Audit chain: append throughput (1 and 8 writers) and verification speed."""

from __future__ import annotations

import threading
import time

from django.db import connections, transaction

from audit.selectors import chain_verify
from audit.services import audit_record


def _append(n: int, tag: str) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(
                action="bench.event", target_type="bench.thing", target_id=i, data={"tag": tag}
            )


def run(*, scale: float = 1.0) -> dict:
    single = int(2000 * scale)
    start = time.perf_counter()
    _append(single, "single")
    single_rate = single / (time.perf_counter() - start)
    print(f"  append, 1 writer:   {single_rate:8.0f} events/s ({single} events)")

    writers, each = 8, int(500 * scale)
    threads = [
        threading.Thread(target=lambda: (_append(each, "multi"), connections.close_all()))
        for _ in range(writers)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    multi_rate = writers * each / (time.perf_counter() - start)
    print(f"  append, {writers} writers:  {multi_rate:8.0f} events/s ({writers * each} events)")

    start = time.perf_counter()
    result = chain_verify()
    verify_rate = result.count / (time.perf_counter() - start)
    assert result.ok, result.reason
    print(f"  verify:             {verify_rate:8.0f} events/s ({result.count} events, chain OK)")
    return {
        "append_1_writer_per_s": round(single_rate),
        "append_8_writers_per_s": round(multi_rate),
        "verify_per_s": round(verify_rate),
        "events": result.count,
    }
