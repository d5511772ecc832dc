"""Write every search index again under the current blind-index key (core.search_terms)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core import search_terms


class Command(BaseCommand):
    help = (
        "Derive every search index (ticket terms: keyed hashes of names, e-mails, subjects and "
        "messages) again under the current blind-index key, in batches. Run it after changing "
        "that key, or to build the index of rows written before it existed; it can be stopped "
        "and started again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, batch_size: int, no_progress: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        for name, rebuild in sorted(search_terms.rebuilders().items()):
            bar = tqdm(desc=name, unit="row", disable=no_progress, file=self.stderr._out)

            def progress(done: int, total: int, bar=bar) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            done = rebuild(batch_size=batch_size, progress=progress)
            bar.close()
            self.stdout.write(f"rebuild_search_index: {name}: {done} rows indexed.")
