"""Base models and the encryption canary."""

from __future__ import annotations

from django.db import connection, models

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


def bulk_insert(objs: list[models.Model], *, batch_size: int = 2000) -> None:
    """Insert many new rows of one model and set their primary keys.

    On PostgreSQL the keys are drawn from the table's sequence in one query and the rows
    streamed with COPY: for hundreds of thousands of rows this is several times faster than
    `bulk_create`, which binds every value as a parameter. Elsewhere it is `bulk_create`.
    Rows are inserted as given: no signals, no `save()` (like `bulk_create`).
    """
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=batch_size)
        return
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f is not pk]
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [pk, *fields])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(objs)],
        )
        for obj, (key,) in zip(objs, cursor.fetchall(), strict=True):
            setattr(obj, pk.attname, key)
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row(
                    [getattr(obj, pk.attname)]
                    + [
                        f.get_db_prep_save(f.pre_save(obj, True), connection=connection)
                        for f in fields
                    ]
                )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
