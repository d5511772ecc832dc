"""Re-encrypt every encrypted column with the first key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from tqdm import tqdm

from core import crypto
from core.fields import encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt all personal data with the first key in FIELD_ENCRYPTION_KEYS, in batches. "
        "Rows already on that key are skipped, so an interrupted run can simply be started again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--max-batches", type=int, default=0, help="stop after this many batches (0: no limit)"
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, batch_size: int, max_batches: int, no_progress: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        models = [m for m in apps.get_models() if encrypted_fields(m)]
        totals = {"rotated": 0, "current": 0}
        batches = 0
        for model in models:
            fields = encrypted_fields(model)
            label = model._meta.label
            total = model._default_manager.count()
            bar = tqdm(
                total=total, desc=label, unit="row", disable=no_progress, file=self.stderr._out
            )
            last_pk = None
            while True:
                if max_batches and batches >= max_batches:
                    bar.close()
                    self._report(totals, interrupted=True)
                    return
                done, last_pk, rotated, current = self._batch(model, fields, last_pk, batch_size)
                batches += 1
                totals["rotated"] += rotated
                totals["current"] += current
                bar.update(done)
                if done < batch_size:
                    break
            bar.close()
        self._report(totals, interrupted=False)

    def _batch(self, model, fields, last_pk, batch_size):
        raw_names = {f.attname: f"_raw_{f.attname}" for f in fields}
        with transaction.atomic():
            qs = model._default_manager.select_for_update().order_by("pk")
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            qs = qs.annotate(
                **{
                    raw: Cast(attname, output_field=TextField())
                    for attname, raw in raw_names.items()
                }
            )
            rows = list(qs[:batch_size])
            stale = []
            for row in rows:
                if any(
                    getattr(row, raw) is not None and not crypto.is_primary(getattr(row, raw))
                    for raw in raw_names.values()
                ):
                    stale.append(row)
            if stale:
                # The instances hold plaintext; saving encrypts it with the first key.
                model._default_manager.bulk_update(stale, [f.name for f in fields])
        last = rows[-1].pk if rows else last_pk
        return len(rows), last, len(stale), len(rows) - len(stale)

    def _report(self, totals, *, interrupted: bool) -> None:
        verb = "stopped after the batch limit" if interrupted else "done"
        self.stdout.write(
            f"rotate_keys {verb}: {totals['rotated']} rows re-encrypted, "
            f"{totals['current']} already on the current key."
        )
