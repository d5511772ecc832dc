"""The one way e-mail becomes ticket data: `mail_ingest`, fed by the IMAP poller, the
raw-MIME endpoint and `manage.py mail_ingest FILE...`.

A mail is read (intake.mail.parse), threaded (intake.mail.selectors.thread_ticket) and then
written in one transaction: the reply or the new ticket, its attachments (through the ticket
attachment checks), the original as an .eml attachment, the InboundMail row that makes a
second delivery of the same Message-ID a no-op, and the audit row. Rules (docs/email.md):

- A reply is added to its ticket only when the sender is an active person of the ticket's
  organisation (for the unidentified-senders organisation: only its requester). Anyone else
  quoting a ticket's Message-ID or reference gets a ticket of their own; the answered ticket
  is named only in the audit row and a notice to its agent, never shown to them.
- Bounces and automatic answers (Auto-Submitted, Precedence, Return-Path <>, DSNs) open no
  ticket and are recorded as ignored, so a vacation reply never loops with the desk.
- A new ticket's acknowledgement is the mail's own (intake.mail.autoreply: threaded, never
  to machines, a few an hour per sender at most), not the portal's "ticket opened" notice.
- Unknown senders: MAIL_UNKNOWN_SENDERS "contact" files them as an inactive contact of the
  organisation "Unidentified e-mail senders" of the queue's region (agents match them
  later; inactive: they cannot sign in and see the other strangers' tickets); "reject" drops
  the mail, audited.

No address, name or text goes to a log or the audit chain: ids, outcomes and counts only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from accounts.models import Organisation, User
from audit.services import audit_record
from core import crypto
from core.errors import ApplicationError
from intake.mail import autoreply, selectors
from intake.mail.parse import MailParseError, ParsedMail, parse, sender_verified
from intake.models import InboundMail, MailOutcome
from tickets.models import Channel, Kind, Queue, Status, Ticket
from tickets.services import notify
from tickets.services.attachments import CheckedFile, scan_upload
from tickets.services.attachments_store import attachment_store
from tickets.services.tickets import MAX_BODY, ticket_open, ticket_reply

log = logging.getLogger(__name__)

ACTOR = "system:mail"
UNKNOWN_SENDERS = "Unidentified e-mail senders / 未识别邮件发件人"
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Ingested:
    outcome: str
    ticket_id: int | None
    inbound_id: int
    duplicate: bool = False


def _mail_id(mail: ParsedMail, raw: bytes) -> str:
    """The Message-ID, or for a mail without one a stable id made from its bytes."""
    if mail.message_id:
        return mail.message_id[:250]
    return f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@welddesk.invalid>"


def mail_ingest(*, raw: bytes, source: str, queue: Queue | None = None) -> Ingested:
    """Turn one raw e-mail into a reply or a ticket (see the module docstring).

    Idempotent by Message-ID: the same mail again returns what the first one did, marked
    `duplicate`. Raises ApplicationError (400 "bad_mail", 413 "too_large") for bytes that
    are no mail the desk can read.
    """
    if len(raw) > settings.MAIL_MAX_BYTES:
        raise ApplicationError(
            _("The e-mail is larger than the limit."), code="too_large", status_code=413
        )
    try:
        mail = parse(raw)
    except MailParseError as exc:
        raise ApplicationError(
            _("This is not an e-mail the desk can read (%(why)s).") % {"why": exc},
            code="bad_mail",
        ) from exc
    message_id = _mail_id(mail, raw)
    earlier = InboundMail.objects.filter(message_id=message_id).first()
    if earlier is not None:
        return Ingested(earlier.outcome, earlier.ticket_id, earlier.pk, duplicate=True)
    sender = account_selectors.user_by_email(mail.sender)
    # Scanned before the transaction: a refusal's audit row must outlive a rollback.
    files, refused = _checked_files(mail)
    original = _original(raw)
    try:
        inbound = _file(mail, message_id, sender, files, refused, original, source, queue)
    except IntegrityError:
        # The same mail by two ways at once (the poller and the endpoint): one wins.
        earlier = InboundMail.objects.filter(message_id=message_id).first()
        if earlier is None:
            raise
        return Ingested(earlier.outcome, earlier.ticket_id, earlier.pk, duplicate=True)
    log.info("mail %s from %s: %s", inbound.pk, inbound.source, inbound.outcome)
    return Ingested(inbound.outcome, inbound.ticket_id, inbound.pk)


@transaction.atomic
def _file(
    mail: ParsedMail,
    message_id: str,
    sender: User | None,
    files: list[Any],
    refused: list[str],
    original: Any,
    source: str,
    queue: Queue | None,
) -> InboundMail:
    """Write what the mail becomes, in one transaction (see the module docstring)."""
    inbound = InboundMail(
        message_id=message_id,
        source=source[:100],
        sender_bidx=crypto.blind_index("email", mail.sender),
        received_at=timezone.now(),
    )
    ticket, how = (None, "")
    if mail.bounce or mail.auto_submitted:
        inbound.outcome = MailOutcome.IGNORED
    elif sender is not None and (sender.is_staff or sender.organisation_id is None):
        # Agents answer in the workspace; a staff address is no customer.
        inbound.outcome = MailOutcome.REJECTED
    elif sender is None and (
        settings.MAIL_UNKNOWN_SENDERS == "reject"
        or (sender := _unidentified_contact(mail, queue)) is None
    ):
        inbound.outcome = MailOutcome.REJECTED
    else:
        ticket, how = selectors.thread_ticket(mail)
        message = None
        if ticket is not None and _may_answer(sender, ticket) and _sender_trusted(mail):
            message = _reply(ticket, sender, mail, files, refused)
        if message is not None:
            inbound.outcome = MailOutcome.REPLIED
        else:
            inbound.outcome = MailOutcome.OPENED if ticket is None else MailOutcome.STRANGER
            answered = ticket
            ticket = _open(sender, mail, files, refused, queue)
            message = ticket.messages.order_by("pk").first()
            inbound.auto_replied = autoreply.mail_acknowledge(
                ticket=ticket,
                mail=mail,
                message_id=message_id,
                sender=sender,
                sender_bidx=inbound.sender_bidx,
            )
            if answered is not None:
                _outsider_notice(answered, ticket, how)
        if original is not None:
            # The sender's, so their erasure deletes it (tickets_erase_person), but outside
            # their upload quota: it is the mail itself, not a file they chose to send.
            attachment_store.save(
                ticket=ticket, upload=original, actor=None, message=message, owner=sender
            )
        inbound.ticket, inbound.ticket_message = ticket, message
    inbound.save(force_insert=True)
    audit_record(
        action="mail.received",
        actor=ACTOR,
        target=ticket if ticket is not None else inbound,
        data={
            "mail": inbound.pk,
            "outcome": inbound.outcome,
            "source": inbound.source,
            "found_by": how,
            "attachments": len(files),
            "refused": len(refused),
        },
    )
    return inbound


def _outsider_notice(answered: Ticket, opened: Ticket, how: str) -> None:
    """Someone outside a ticket's organisation answered its mail: audited, and its agent
    (else the queue's supervisor) told where the mail went, without who sent it."""
    audit_record(
        action="mail.outsider_reply",
        actor=ACTOR,
        target=answered,
        data={"opened": opened.pk, "found_by": how},
    )
    with translation.override(settings.LANGUAGE_CODE):
        note = _(
            "An e-mail from someone outside the customer's organisation, or whose sender "
            "the mail server could not verify, answered this ticket's mail. It was not "
            "added here; it is ticket %(ref)s."
        ) % {"ref": opened.reference}
    notify.notify_flagged(answered, tag=f"outsider-mail:{opened.pk}", note=note)


def _sender_trusted(mail: ParsedMail) -> bool:
    """A From address is anyone's to write: with MAIL_AUTHSERV_ID set, a mail answers a
    ticket only when the desk's mail server verified its sender (DMARC, or aligned DKIM or
    SPF; parse.sender_verified). Unverified, it opens a ticket of its own and the answered
    ticket's agent is told, as for an outsider. Empty, the From address is believed
    (development; `check --deploy` warns)."""
    authserv_id = settings.MAIL_AUTHSERV_ID
    return not authserv_id or sender_verified(mail, authserv_id)


def _may_answer(sender: User, ticket: Ticket) -> bool:
    """Only a person of the ticket's organisation adds to it; in the organisation of the
    unidentified senders (strangers to each other) only the ticket's requester."""
    if sender.organisation_id != ticket.organisation_id:
        return False
    if ticket.organisation.name == UNKNOWN_SENDERS:
        return ticket.requester_id == sender.pk
    return sender.is_active


def _body(mail: ParsedMail, refused: list[str]) -> str:
    text = mail.body.strip() or _("(The e-mail has no text; see the original attached.)")
    if len(text) > MAX_BODY - 500:
        text = text[: MAX_BODY - 500] + "\n\n" + _("(Shortened; see the original attached.)")
    if refused:
        text += "\n\n" + "\n".join(refused)
    return text


def _subject(mail: ParsedMail) -> str:
    subject = mail.subject.strip()
    if len(subject) < 3:
        subject = _("E-mail without a subject")
    return subject[:MAX_SUBJECT]


def _reply(ticket: Ticket, sender: User, mail: ParsedMail, files, refused) -> Any:
    """Add the mail to its ticket; None when the ticket takes no more replies (closed, or
    resolved too long ago): then the mail opens a ticket of its own."""
    if ticket.status == Status.CLOSED:
        return None
    try:
        message = ticket_reply(
            ticket=ticket, author=sender, body=_body(mail, refused), channel=Channel.EMAIL
        )
    except ApplicationError as exc:
        if exc.code in ("ticket_closed", "reopen_expired"):
            return None
        raise
    _save_files(ticket, message, files, sender)
    return message


def _open(sender: User, mail: ParsedMail, files, refused, queue: Queue | None) -> Ticket:
    ticket = ticket_open(
        notify_requester=False,  # the mail's own acknowledgement (intake.mail.autoreply)
        actor=ACTOR,
        organisation=sender.organisation,
        requester=sender,
        subject=_subject(mail),
        body=_body(mail, refused),
        kind=Kind.QUESTION,
        channel=Channel.EMAIL,
        queue=queue,
    )
    _save_files(ticket, ticket.messages.order_by("pk").first(), files, sender)
    return ticket


def _save_files(ticket: Ticket, message: Any, files: list[Any], sender: User) -> None:
    for upload in files:
        try:
            attachment_store.save(ticket=ticket, upload=upload, actor=sender, message=message)
        except ApplicationError:
            # Over the sender's quota: the original .eml still holds the file.
            log.info("mail attachment over quota on ticket %s", ticket.pk)


def _checked_files(mail: ParsedMail) -> tuple[list[Any], list[str]]:
    """The attachments that pass the ticket attachment checks (type by content, size,
    malware scan); a line for each refused one, to put under the stored text."""
    passed, refused = [], []
    for item in mail.attachments:
        upload = SimpleUploadedFile(item.name, item.content, item.content_type)
        try:
            attachment_store.check(upload, actor=ACTOR)
        except ApplicationError as exc:
            refused.append(_("Attachment not accepted: %(why)s") % {"why": exc.message})
            continue
        passed.append(upload)
    return passed, refused


def _original(raw: bytes) -> Any:
    """The mail as received, kept as original.eml (served only as a download, sandboxed).

    It is not a type the upload allowlist takes, so it is checked here: size and the
    malware scan (a refusal is audited; the mail is then kept without its original)."""
    if len(raw) > settings.ATTACHMENT_MAX_BYTES:
        return None
    upload = SimpleUploadedFile("original.eml", raw, "message/rfc822")
    checked = CheckedFile(
        name="original.eml",
        content_type="message/rfc822",
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        is_image=False,
    )
    try:
        upload._welddesk_scan = scan_upload(upload, checked, actor=ACTOR, target=None)
    except ApplicationError:
        return None
    upload._welddesk_checked = checked
    return upload


def _unidentified_contact(mail: ParsedMail, queue: Queue | None) -> User | None:
    """An inactive contact for an unknown address, in the unidentified-senders organisation
    of the queue's region (else the first region)."""
    from accounts.services import organisation_create
    from accounts.services.users import user_create, user_set_access

    region = (queue.region if queue is not None else None) or account_selectors.region_for_line("")
    organisation: Organisation | None = account_selectors.organisation_by_name(
        name=UNKNOWN_SENDERS, region=region
    )
    if organisation is None:
        organisation = organisation_create(actor=ACTOR, name=UNKNOWN_SENDERS, region=region)
    name = mail.sender_name or mail.sender.split("@", 1)[0]
    try:
        user = user_create(
            email=mail.sender, full_name=name[:150], organisation=organisation, actor=ACTOR
        )
    except ApplicationError:
        return None  # an address the accounts refuse (malformed): the mail is rejected
    return user_set_access(user=user, actor=ACTOR, is_active=False)


@transaction.atomic
def mail_erase_person(*, email_bidx: str, actor: Any) -> int:
    """Erasure: received mails keep their outcome and ticket, not who sent them."""
    if not email_bidx:
        return 0
    erased = InboundMail.objects.filter(sender_bidx=email_bidx).update(sender_bidx="")
    if erased:
        audit_record(action="intake.mails_erased", actor=actor, data={"mails": erased})
    return erased


def mails_expire(*, received_before: Any, dry_run: bool) -> dict[str, int]:
    """Retention: received mails keep their outcome and ticket, not who sent them (the
    sender's blind index only serves the hourly acknowledgement limit)."""
    old = InboundMail.objects.filter(received_at__lt=received_before).exclude(sender_bidx="")
    count = old.count()
    if not dry_run and count:
        old.update(sender_bidx="")
    return {"mails": count}
