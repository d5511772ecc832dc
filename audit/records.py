"""The records of processing activities, in the words a regulator reads (GDPR art. 30,
PIPL art. 54): what is done with personal data, why, on what basis, about whom, who receives
it, how long it is kept and how it is protected.

The activities are written by hand: they describe the business, not the code, and the code's
names (models, fields, functions) never appear in them. The data held is derived from the
registry of personal-data fields (core.privacy), grouped by category, so a field added there
shows up here without anyone remembering this page. Every string is translated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from core import privacy

CONTRACT_BASIS = _(
    "Necessary to perform the service contract with the customer (GDPR art. 6(1)(b); "
    "PIPL art. 13(1)(2))."
)


@dataclass(frozen=True)
class Activity:
    name: Any
    purpose: Any
    legal_basis: Any
    subjects: Any
    data: Any
    recipients: Any
    retention: Any


ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        name=_("Customer service and repairs"),
        purpose=_(
            "Answering customers' requests about their welding equipment by web form, e-mail, "
            "chat and telephone; diagnosing faults, arranging repairs and service visits; "
            "measuring service quality."
        ),
        legal_basis=CONTRACT_BASIS,
        subjects=_("Employees of customer companies who contact us; our service staff."),
        data=_(
            "Name, e-mail address, telephone number, messaging account; what the person "
            "writes, says or uploads; satisfaction ratings and comments; the equipment "
            "concerned."
        ),
        recipients=_(
            "Our service staff responsible for the customer's region; our messaging providers "
            "(e-mail, text messages, WeCom), only to deliver notices."
        ),
        retention=_(
            "Conversations: 3 years after a request is closed; chats: 12 months after they "
            "close; the caller's number of a call: 90 days after the call."
        ),
    ),
    Activity(
        name=_("Delivery of spare parts"),
        purpose=_("Sending replacement parts to the customer's site and tracking the parcel."),
        legal_basis=CONTRACT_BASIS,
        subjects=_("The person receiving the parcel at the customer's site."),
        data=_("Delivery address and the recipient's telephone number."),
        recipients=_("The courier company carrying the parcel."),
        retention=_("1 year after delivery; then the address and number are removed."),
    ),
    Activity(
        name=_("Service notices and status information"),
        purpose=_(
            "Telling customers and subscribers about outages, planned maintenance and the "
            "progress of their requests."
        ),
        legal_basis=_(
            "For customers, the service contract (GDPR art. 6(1)(b); PIPL art. 13(1)(2)); for "
            "subscribers to the status page, their consent, withdrawn at any time by "
            "unsubscribing (GDPR art. 6(1)(a); PIPL art. 13(1)(1))."
        ),
        subjects=_("Customers' employees; people who subscribed to the status page."),
        data=_("E-mail address, telephone number or browser notification address; the notice."),
        recipients=_("Our messaging providers, only to deliver the notice."),
        retention=_(
            "Notices sent: 90 days; a subscription: until the person unsubscribes; browser "
            "notification addresses: while the account exists."
        ),
    ),
    Activity(
        name=_("Service credits after outages"),
        purpose=_(
            "Working out and granting the credits the contract promises when the service was "
            "unavailable, and telling the customer's contact."
        ),
        legal_basis=CONTRACT_BASIS,
        subjects=_("The customer's named contact; the staff who approve credits."),
        data=_("The contact's name, e-mail address and telephone number."),
        recipients=_("Our supervisors."),
        retention=_("While the customer's contract runs, then 2 years."),
    ),
    Activity(
        name=_("Accounts, security and the record of access"),
        purpose=_(
            "Letting people sign in safely; recording who read or changed what, so that misuse "
            "can be detected and proven."
        ),
        legal_basis=_(
            "Legal obligation to secure personal data and to be able to demonstrate it, and our "
            "legitimate interest in the security of the service (GDPR art. 6(1)(c) and (f), "
            "art. 32; PIPL art. 13(1)(3), art. 51)."
        ),
        subjects=_("Everyone with an account: customers' employees and our staff."),
        data=_(
            "Account details; the times and kinds of actions; network addresses. The record "
            "of access holds references to accounts, not names."
        ),
        recipients=_("Our compliance officers; auditors and authorities when the law requires."),
        retention=_(
            "Accounts: while they exist. The record of access is kept as evidence and cannot "
            "be altered; it holds no names, so an erasure leaves nothing identifying in it."
        ),
    ),
    Activity(
        name=_("Requests from the people concerned"),
        purpose=_(
            "Answering people who ask for a copy of their data or for its erasure, within the "
            "time the law sets."
        ),
        legal_basis=_("Legal obligation (GDPR art. 6(1)(c), arts. 15-17; PIPL arts. 44-47)."),
        subjects=_("The person making the request."),
        data=_("What identifies the person and the request itself; the copy given to them."),
        recipients=_("Our compliance officers; the person themselves."),
        retention=_("The decision is kept as evidence; the copy is not kept."),
    ),
)

SAFEGUARDS: tuple[Any, ...] = (
    _("Personal data is encrypted in the database; searches use keyed fingerprints, not names."),
    _("Staff sign in with a password and a second factor."),
    _("Service staff see only the customers of the regions assigned to them."),
    _("Every reading of a person's record by staff is recorded."),
    _(
        "The record of access is chained and signed, so a removed or altered entry is detected; "
        "exports of it are signed and can be checked by an outside auditor."
    ),
    _("Retention periods are applied automatically every night."),
    _("Erasure on request reaches every place the person's data is held, and is recorded."),
)


@dataclass(frozen=True)
class Held:
    category: Any
    purposes: list[Any]
    retention: list[Any]
    on_erasure: list[Any]
    encrypted: bool


def data_held() -> list[Held]:
    """The personal data held, one row a category, derived from the registry: what it serves,
    how long it is kept, what an erasure does, and whether all of it is encrypted at rest."""
    rows: dict[str, dict] = {}
    for entry in privacy.REGISTRY:
        row = rows.setdefault(
            str(entry.category),
            {"category": entry.category, "p": {}, "r": {}, "e": {}, "encrypted": True},
        )
        row["p"].setdefault(str(entry.purpose), entry.purpose)
        row["r"].setdefault(str(entry.retention), entry.retention)
        row["e"].setdefault(str(entry.erasure), entry.erasure)
        row["encrypted"] = row["encrypted"] and entry.encrypted
    return [
        Held(
            category=row["category"],
            purposes=list(row["p"].values()),
            retention=list(row["r"].values()),
            on_erasure=list(row["e"].values()),
            encrypted=row["encrypted"],
        )
        for row in rows.values()
    ]
