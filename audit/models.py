"""Append-only audit events chained by hash, and the head of the chain."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class Outcome(models.TextChoices):
    SUCCESS = "success", _("success")
    FAILURE = "failure", _("failure")
    DENIED = "denied", _("denied")


class AuditEvent(models.Model):
    """One audited act. Holds references and non-personal values only, never personal data.

    hash = sha256(prev_hash + canonical JSON of the row); rows are never updated or deleted
    (a PostgreSQL trigger refuses it), so `audit_verify` can prove the chain intact.
    """

    seq = models.BigIntegerField(_("sequence number"), primary_key=True)
    at = models.DateTimeField(_("time"), db_index=True)
    # Looked up by equality only: the (actor_ref, at) index below serves it (migration 0008).
    actor_ref = models.CharField(_("actor"), max_length=64)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS
    )
    target_type = models.CharField(_("target type"), max_length=64, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    changed_fields = models.JSONField(_("changed fields"), default=list, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["actor_ref", "at"], name="audit_actor_at_idx"),
        ]
        default_permissions = ("view",)
        permissions = [("export_auditevent", "Can export audit events")]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_ref}"


class ChainHead(models.Model):
    """The last sequence number and hash; its row lock serialises writers of the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"chain head at seq {self.seq}"


class PendingAuditEvent(models.Model):
    """An audited act written in the business transaction, not yet sealed into the chain.

    With deferred sealing (AUDIT_SEALING=deferred, the default on PostgreSQL) a service writes
    this row without touching the chain head, so concurrent requests do not queue on its
    lock; `audit.services.audit_seal` moves pending rows into the chain in batches (right
    after each commit, and every few seconds from beat), assigning `seq`, `prev_hash` and
    `hash` in one locked pass. A rolled-back transaction leaves no pending row.
    """

    at = models.DateTimeField()
    actor_ref = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    changed_fields = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"pending {self.action} by {self.actor_ref}"


class AuditCheckpoint(models.Model):
    """A signed checkpoint of the chain (seq, hash, time), as also appended to the external
    store (AUDIT_CHECKPOINT_PATH). This copy is for the admin and /metrics; `audit_verify`
    trusts only signatures, so a forged or edited row here proves nothing."""

    at = models.DateTimeField(_("time"), db_index=True)
    seq = models.BigIntegerField(_("events covered"))
    hash = models.CharField(_("hash of the last event"), max_length=64)
    public_key = models.CharField(_("public key"), max_length=64)
    signature = models.CharField(_("signature"), max_length=128)

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"
        default_permissions = ("view",)
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")

    def __str__(self) -> str:
        return _("checkpoint at seq %(seq)s") % {"seq": self.seq}
