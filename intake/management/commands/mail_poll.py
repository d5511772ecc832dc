"""manage.py mail_poll [--mailbox NAME] [--idle] [--forever]: read the configured IMAP
mailboxes (MAIL_IMAP_MAILBOXES). Once by default; --forever keeps polling every --interval
seconds, or with --idle (one mailbox) waits for the server to announce new mail."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from intake.mail import imap


class Command(BaseCommand):
    help = "Read the configured IMAP mailboxes into tickets."

    def add_arguments(self, parser):
        parser.add_argument("--mailbox", default="", help="Only this mailbox (its name).")
        parser.add_argument("--forever", action="store_true")
        parser.add_argument("--idle", action="store_true", help="Use IDLE (one mailbox).")
        parser.add_argument("--interval", type=int, default=60)

    def handle(self, *args, mailbox, forever, idle, interval, **options):
        boxes = [b for b in imap.mailboxes() if not mailbox or b.name == mailbox]
        if not boxes:
            raise CommandError("No such mailbox configured (MAIL_IMAP_MAILBOXES).")
        if idle:
            if len(boxes) != 1:
                raise CommandError("--idle watches one mailbox: name it with --mailbox.")
            self._idle(boxes[0], forever=forever)
            return
        while True:
            for name, counts in imap.poll_mailboxes(name=mailbox).items():
                self.stdout.write(f"{name}: {counts}")
            if not forever:
                return
            time.sleep(max(interval, 5))

    def _idle(self, box: imap.Mailbox, *, forever: bool) -> None:
        conn = imap.connect(box)
        try:
            while True:
                self.stdout.write(f"{box.name}: {imap.poll_once(box, conn)}")
                if not forever:
                    return
                if imap.supports_idle(conn):
                    # Servers drop an IDLE after 30 minutes (RFC 2177): renew before that.
                    imap.idle_wait(conn, 25 * 60)
                else:
                    time.sleep(60)
        finally:
            conn.logout()
