"""Base models and the encryption canary."""

from __future__ import annotations

import operator
from typing import Any

from django.db import connections, models, router
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedCharField

CANARY_PLAINTEXT = "welddesk-encryption-canary-v1"


class TimeStampedModel(models.Model):
    """Abstract base with creation and modification times."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class EncryptionCanary(models.Model):
    """One known value encrypted with the keys; start-up decrypts it to prove the keys fit."""

    value = EncryptedCharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("encryption canary")

    def __str__(self) -> str:
        return f"encryption canary #{self.pk}"


class IdempotencyRecord(models.Model):
    """The stored answer to one POST carrying an Idempotency-Key, per caller scope.

    A row is inserted (in flight) before the request runs and completed with the response in
    the same transaction as the request's own writes, so a crash leaves no answer without the
    writes it describes.
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # PostgreSQL: the server process of the connection that claimed the key. The connection of
    # a killed web process ends with it, so a claim whose backend is gone is abandoned at once
    # instead of after IDEMPOTENCY_STALE_SECONDS (core.idempotency).
    holder_pid = models.PositiveIntegerField(null=True, editable=False)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_uniq")
        ]

    def __str__(self) -> str:
        return f"idempotency {self.scope} {self.key[:16]}"


def lock_or_insert(model: type[models.Model], lookup: dict, new: models.Model) -> models.Model:
    """The row matching `lookup` (a unique key), locked; inserted from `new` first if missing.

    Race-free for two callers creating the same key at once: the second insert is ignored by
    the database, and both then lock the one row, instead of one failing with an
    IntegrityError. Call it inside a transaction.
    """
    row = model.objects.select_for_update().filter(**lookup).first()
    if row is not None:
        return row
    model.objects.bulk_create([new], ignore_conflicts=True)
    return model.objects.select_for_update().get(**lookup)


# Field types whose attribute value psycopg takes as it is (no conversion by Django).
_PLAIN_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
    models.BooleanField,
    models.CharField,
    models.SlugField,
    models.TextField,
    models.ForeignKey,
)


def bulk_insert(objs: list[models.Model], *, batch_size: int = 2000) -> None:
    """Insert many new rows of one model and set their primary keys.

    On PostgreSQL the keys are drawn from the table's sequence in one query and the rows
    streamed with COPY: for hundreds of thousands of rows this is several times faster than
    `bulk_create`, which binds every value as a parameter. Plain fields are copied as they
    are; every other field (dates, decimals, JSON, encrypted fields) goes through its own
    `pre_save` and `get_db_prep_save`, as `save()` would. Elsewhere it is `bulk_create`.
    Rows are inserted as given: no signals, no `save()` (like `bulk_create`).
    """
    if not objs:
        return
    model = type(objs[0])
    db = connections[router.db_for_write(model)]
    if db.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=batch_size)
        return
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f is not pk]
    table = db.ops.quote_name(meta.db_table)
    columns = ", ".join(db.ops.quote_name(f.column) for f in [pk, *fields])

    def converter(field):
        if type(field) in _PLAIN_FIELDS:
            return operator.attrgetter(field.attname)
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection=db)

    convert = [operator.attrgetter(pk.attname), *(converter(f) for f in fields)]
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(objs)],
        )
        for obj, (key,) in zip(objs, cursor.fetchall(), strict=True):
            setattr(obj, pk.attname, key)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([get(obj) for get in convert])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db.alias


def delete_with_files(queryset: Any, field: str = "file") -> int:
    """Delete rows, and the stored files they point to once the deletion commits: a rolled
    back transaction keeps both the rows and their files."""
    from django.db import transaction

    doomed = []
    count = 0
    for row in queryset.iterator():
        stored = getattr(row, field)
        if stored:
            doomed.append((stored.storage, stored.name))
        row.delete()
        count += 1

    def remove() -> None:
        for storage, name in doomed:
            storage.delete(name)

    transaction.on_commit(remove)
    return count
