"""Reads of the audit chain."""

from __future__ import annotations

from audit import chain
from audit.models import AuditEvent, ChainHead


def chain_verify(*, chunk_size: int = 5000) -> chain.Verification:
    """Verify the whole chain in seq order against the stored head."""
    head = ChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    rows = (
        AuditEvent.objects.order_by("seq")
        .values(*chain.HASHED_FIELDS, "hash")
        .iterator(chunk_size=chunk_size)
    )
    return chain.verify_rows(rows, head=head)


def person_activity(*, user_pk: int, limit: int = 50_000) -> list[dict]:
    """Audit events the person caused or that concern their account (references only)."""
    ref = f"user:{user_pk}"
    events = AuditEvent.objects.filter(actor_ref=ref) | AuditEvent.objects.filter(
        target_type="accounts.user", target_id=str(user_pk)
    )
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "action": e.action,
            "target": f"{e.target_type}:{e.target_id}" if e.target_type else "",
            "by_you": e.actor_ref == ref,
        }
        for e in events.order_by("seq")[:limit]
    ]
