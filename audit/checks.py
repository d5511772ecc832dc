"""Deploy checks of the audit chain's anchoring (`manage.py check --deploy`).

The embedded defaults sign checkpoints and exports with a key derived from SECRET_KEY and keep
the checkpoint store under var/, beside the database: fine for a demo, not a tamper-evident
anchor. A production desk names both (docs/operations.md, "Audit chain").
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_audit_anchor(app_configs=None, **kwargs) -> list[Error | Warning]:
    found: list[Error | Warning] = []
    if not settings.AUDIT_SIGNING_KEY.strip():
        found.append(
            Error(
                "AUDIT_SIGNING_KEY is not set: audit checkpoints and exports are signed with a "
                "key derived from SECRET_KEY.",
                hint="Set AUDIT_SIGNING_KEY to an Ed25519 key of its own (PEM, or base64 of 32 "
                "random bytes) and give verifiers its public key (audit_export --public-key).",
                id="welddesk.E010",
            )
        )
    store = Path(settings.AUDIT_CHECKPOINT_PATH).resolve()
    var_dir = Path(settings.VAR_DIR).resolve()
    if store == var_dir or var_dir in store.parents:
        found.append(
            Warning(
                f"AUDIT_CHECKPOINT_PATH is under {var_dir}, beside the desk's own files: whoever "
                "can rewrite the database can likely rewrite the checkpoints too.",
                hint="Point AUDIT_CHECKPOINT_PATH at append-only storage the database owner "
                "cannot rewrite (a separate volume with chattr +a, or a synced object-locked "
                "bucket).",
                id="welddesk.W011",
            )
        )
    return found
