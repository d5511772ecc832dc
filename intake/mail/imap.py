"""The IMAP poller: each configured mailbox (MAIL_IMAP_MAILBOXES) read over TLS, each mail
fed to `mail_ingest`, and only then marked done on the server.

Crash safety: a mail is fetched with BODY.PEEK (the server does not mark it read) and
flagged (keyword $WeldDesk and \\Seen) or moved only after `mail_ingest` has committed its
ticket. A crash between the two leaves it unflagged; the next poll fetches it again and
`mail_ingest` finds its Message-ID already received, so it is neither lost nor doubled.
A mail the desk cannot read (400) is flagged $WeldDeskRefused so it does not come back on
every poll; a transient failure (database away) leaves it for the next poll.

IDLE (RFC 2177) is used where the server offers it: `mail_poll --idle` waits for the server
to announce new mail instead of asking every interval. Python 3.11's imaplib has no IDLE, so
`idle_wait` speaks it over imaplib's connection.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import logging
import os
import re
import select
import ssl
import time
from dataclasses import dataclass

from django.conf import settings

from core.errors import ApplicationError
from intake.mail.services import mail_ingest
from tickets.models import Queue

log = logging.getLogger(__name__)

DONE_KEYWORD = "$WeldDesk"
REFUSED_KEYWORD = "$WeldDeskRefused"


@dataclass(frozen=True)
class Mailbox:
    name: str
    host: str
    port: int = 993
    user: str = ""
    password: str = ""
    folder: str = "INBOX"
    queue: str = ""  # the queue's code for new tickets; empty: routed as usual
    done: str = "flag"  # "flag", or "move:<folder>"


def mailboxes() -> list[Mailbox]:
    """The configured mailboxes; each password comes from the environment variable its
    `password_env` names (never from the JSON, which may be logged or shown)."""
    try:
        items = json.loads(settings.MAIL_IMAP_MAILBOXES or "[]")
    except ValueError as exc:
        raise ApplicationError("MAIL_IMAP_MAILBOXES is not valid JSON.") from exc
    boxes = []
    for item in items if isinstance(items, list) else []:
        boxes.append(
            Mailbox(
                name=str(item["name"]),
                host=str(item["host"]),
                port=int(item.get("port", 993)),
                user=str(item.get("user", "")),
                password=os.environ.get(str(item.get("password_env", "")), ""),
                folder=str(item.get("folder", "INBOX")),
                queue=str(item.get("queue", "")),
                done=str(item.get("done", "flag")),
            )
        )
    return boxes


def connect(box: Mailbox, *, context: ssl.SSLContext | None = None) -> imaplib.IMAP4_SSL:
    """Log in over TLS (certificate and host name checked unless a test passes its own
    context) and select the mailbox's folder."""
    conn = imaplib.IMAP4_SSL(
        box.host,
        box.port,
        ssl_context=context or ssl.create_default_context(),
        timeout=settings.MAIL_IMAP_TIMEOUT,
    )
    conn.login(box.user, box.password)
    typ, _data = conn.select(_quote(box.folder))
    if typ != "OK":
        raise imaplib.IMAP4.error("cannot select the folder")
    return conn


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _waiting(conn: imaplib.IMAP4) -> list[bytes]:
    typ, data = conn.uid("SEARCH", None, f"UNKEYWORD {DONE_KEYWORD} UNKEYWORD {REFUSED_KEYWORD}")
    if typ != "OK" or not data or not data[0]:
        return []
    return data[0].split()


def _fetch(conn: imaplib.IMAP4, uid: bytes) -> bytes | None:
    typ, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
    if typ != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def _mark(conn: imaplib.IMAP4, uid: bytes, box: Mailbox, keyword: str = DONE_KEYWORD) -> None:
    conn.uid("STORE", uid, "+FLAGS", f"({keyword} \\Seen)")
    if keyword == DONE_KEYWORD and box.done.startswith("move:"):
        target = _quote(box.done.removeprefix("move:"))
        if b"MOVE" in b" ".join(_capabilities(conn)):
            conn.uid("MOVE", uid, target)
        else:
            conn.uid("COPY", uid, target)
            conn.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
            conn.expunge()


def _capabilities(conn: imaplib.IMAP4) -> list[bytes]:
    return [c.encode() if isinstance(c, str) else c for c in conn.capabilities]


def poll_once(box: Mailbox, conn: imaplib.IMAP4) -> dict[str, int]:
    """Ingest every mail of the selected folder not yet done; return counts."""
    queue = Queue.objects.filter(slug=box.queue).first() if box.queue else None
    counts = {"ingested": 0, "duplicates": 0, "refused": 0, "failed": 0}
    for uid in _waiting(conn):
        raw = _fetch(conn, uid)
        if raw is None:
            counts["failed"] += 1
            continue
        try:
            done = mail_ingest(raw=raw, source=f"imap:{box.name}"[:100], queue=queue)
        except ApplicationError:
            _mark(conn, uid, box, REFUSED_KEYWORD)
            counts["refused"] += 1
            continue
        except Exception:
            # Transient (the database away): left unflagged for the next poll.
            log.exception("mailbox %s: mail uid %s not ingested", box.name, uid.decode())
            counts["failed"] += 1
            break
        _mark(conn, uid, box)  # only now: its ticket is committed
        counts["duplicates" if done.duplicate else "ingested"] += 1
    log.info("mailbox %s polled: %s", box.name, counts)
    return counts


def supports_idle(conn: imaplib.IMAP4) -> bool:
    return b"IDLE" in b" ".join(_capabilities(conn))


def idle_wait(conn: imaplib.IMAP4, seconds: float) -> bool:
    """IDLE until the server announces new mail (True) or `seconds` pass (False).
    Returns False at once when the server does not offer IDLE.

    Read from the socket itself with select (imaplib's buffered file must not see a
    timeout: it is unusable after one); nothing is buffered there between commands."""
    if not supports_idle(conn):
        return False
    sock = conn.socket()
    buffer = b""

    def line(deadline: float) -> bytes | None:
        nonlocal buffer
        while b"\r\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if not pending and not select.select([sock], [], [], remaining)[0]:
                return None
            chunk = sock.recv(65536)
            if not chunk:
                raise imaplib.IMAP4.abort("the server closed the connection")
            buffer += chunk
        found, buffer = buffer.split(b"\r\n", 1)
        return found

    tag = conn._new_tag()
    conn.send(tag + b" IDLE\r\n")
    answer = line(time.monotonic() + settings.MAIL_IMAP_TIMEOUT)
    if answer is None or not answer.startswith(b"+"):
        raise imaplib.IMAP4.abort("IDLE refused")
    news = False
    deadline = time.monotonic() + seconds
    while (got := line(deadline)) is not None:
        if re.match(rb"\* \d+ (EXISTS|RECENT)", got):
            news = True
            break
    conn.send(b"DONE\r\n")
    closing = time.monotonic() + settings.MAIL_IMAP_TIMEOUT
    while (got := line(closing)) is not None and not got.startswith(tag):
        pass
    return news


def poll_mailboxes(*, name: str = "", context: ssl.SSLContext | None = None) -> dict[str, dict]:
    """Poll each configured mailbox once (or the one named); a mailbox that cannot be
    reached is logged by name and skipped, the others are still read."""
    results: dict[str, dict] = {}
    for box in mailboxes():
        if name and box.name != name:
            continue
        try:
            conn = connect(box, context=context)
        except (OSError, imaplib.IMAP4.error) as exc:
            log.warning("mailbox %s: cannot connect (%s)", box.name, type(exc).__name__)
            results[box.name] = {"error": type(exc).__name__}
            continue
        try:
            results[box.name] = poll_once(box, conn)
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                conn.logout()
    return results
