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
