"""Checkpoints of the audit chain: the head signed and kept outside the database."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import chain, checkpoints, selectors, signing
from audit.models import AuditCheckpoint
from core.errors import ApplicationError

log = logging.getLogger(__name__)


class CheckpointRefused(ApplicationError):
    """The chain does not extend the latest checkpoint: signing it would certify tampering."""


def audit_checkpoint(*, now: datetime | None = None) -> AuditCheckpoint:
    """Sign the chain's head (seq, hash, time) and append it to the checkpoint store
    (AUDIT_CHECKPOINT_PATH) and to the database's copy; return the copy.

    A checkpoint certifies only a chain that extends the previous one: the events since it are
    verified link by link from its hash (the first checkpoint verifies the whole chain). A
    chain that went back or changed is refused with CheckpointRefused, so beat keeps failing
    loudly (and /metrics shows the checkpoint ageing) instead of signing the tampered state.

    Not itself audited: a checkpoint is a statement about the chain, kept outside it, and an
    event per checkpoint would leave every checkpoint one event behind the head.
    """
    key = signing.signing_key()
    trusted = signing.trusted_public_keys()
    store = checkpoints.FileStore(settings.AUDIT_CHECKPOINT_PATH)
    with store.appending() as fd:
        previous = store.last(trusted=trusted) or selectors.latest_stored_checkpoint(
            trusted=trusted
        )
        head = selectors.chain_head() or selectors.last_event() or (0, chain.GENESIS_HASH)
        _check_extends(previous, head)
        at = now or timezone.now()
        checkpoint = checkpoints.make(seq=head[0], hash=head[1], at=at, key=key)
        with transaction.atomic():
            row = AuditCheckpoint.objects.create(
                at=at,
                seq=checkpoint.seq,
                hash=checkpoint.hash,
                public_key=checkpoint.public_key,
                signature=checkpoint.signature,
            )
            store.append(fd, checkpoint)
    log.info("audit checkpoint written: seq %s, hash %s", checkpoint.seq, checkpoint.hash)
    return row


def _check_extends(previous: checkpoints.Checkpoint | None, head: tuple[int, str]) -> None:
    """Raise CheckpointRefused unless the chain up to head extends the previous checkpoint."""
    head_seq, _head_hash = head
    if previous is None:
        result = chain.verify_rows(selectors.chain_rows(through=head_seq), head=head)
    elif head_seq < previous.seq:
        raise CheckpointRefused(
            f"The audit chain head is at seq {head_seq}, behind the checkpoint of "
            f"{previous.at} at seq {previous.seq}: events {head_seq + 1}..{previous.seq} "
            "are missing. No checkpoint written; run manage.py audit_verify."
        )
    else:
        result = chain.verify_rows(
            selectors.chain_rows(after=previous.seq, through=head_seq),
            start_seq=previous.seq + 1,
            start_prev_hash=previous.hash,
            head=head,
        )
        if result.ok and previous.seq > 0 and selectors.event_hash(previous.seq) != previous.hash:
            raise CheckpointRefused(
                f"The audit event at seq {previous.seq} no longer has the hash the "
                f"checkpoint of {previous.at} signed. No checkpoint written; run "
                "manage.py audit_verify."
            )
    if not result.ok:
        raise CheckpointRefused(
            f"The audit chain is broken at seq {result.first_bad_seq}: {result.reason}. "
            "No checkpoint written; run manage.py audit_verify."
        )
