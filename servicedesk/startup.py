"""Start-up checks shared by the ASGI server, WSGI server and Celery workers."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("welddesk.startup")


def run_startup_checks() -> None:
    """Verify the encryption keys against the database; raise to stop the process."""
    if os.environ.get("WELDDESK_STARTUP_CHECKS", "1") == "0":
        return
    from core.startup import verify_encryption_keys

    outcome = verify_encryption_keys()
    log.info("encryption key check: %s", outcome)
