"""The e-mail backend of the fault drills' workers: files on disk, a provider that takes time.

Each message is written to EMAIL_FILE_PATH as the file backend does, after DRILL_SEND_SECONDS
(a slow SMTP server). While it waits, a mark `sending-<pid>-<delivery>` lies in
DRILL_MARKS_DIR, so a drill can kill the process that is in the middle of a delivery.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.core.mail.backends.filebased import EmailBackend


class DrillEmailBackend(EmailBackend):
    def send_messages(self, email_messages):
        seconds = float(os.environ.get("DRILL_SEND_SECONDS", "0"))
        marks = Path(os.environ.get("DRILL_MARKS_DIR", self.file_path))
        marks.mkdir(parents=True, exist_ok=True)
        names = "-".join(m.extra_headers.get("X-WeldDesk-Delivery", "x") for m in email_messages)
        mark = marks / f"sending-{os.getpid()}-{names}"
        mark.write_text(str(os.getpid()))
        try:
            time.sleep(seconds)
            return super().send_messages(email_messages)
        finally:
            mark.unlink(missing_ok=True)
