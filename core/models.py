"""Base models and the encryption canary."""

from __future__ import annotations

from django.db import models

from core.fields import EncryptedCharField

CANARY_PLAINTEXT = "welddesk-encryption-canary-v1"


class TimeStampedModel(models.Model):
    """Abstract base with creation and modification times."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class EncryptionCanary(models.Model):
    """One known value encrypted with the keys; start-up decrypts it to prove the keys fit."""

    value = EncryptedCharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "encryption canary"

    def __str__(self) -> str:
        return f"encryption canary #{self.pk}"
