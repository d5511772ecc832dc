"""The one way to write the audit chain (events.py) and to anchor it outside (checkpoint.py).

Callers import from here: `from audit.services import audit_record`.
"""

from audit.services.checkpoint import CheckpointRefused, audit_checkpoint
from audit.services.events import (
    EVENT_FIELDS,
    actor_ref_for,
    audit_read,
    audit_record,
    audit_record_many,
    audit_record_sets,
    audit_seal,
    deferred,
    target_ref_for,
)

__all__ = [
    "EVENT_FIELDS",
    "CheckpointRefused",
    "actor_ref_for",
    "audit_checkpoint",
    "audit_read",
    "audit_record",
    "audit_record_many",
    "audit_record_sets",
    "audit_seal",
    "deferred",
    "target_ref_for",
]
