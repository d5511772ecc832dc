"""The agents' workspace speaks Chinese: every admin page of every registered ModelAdmin,
rendered for a zh-Hans superuser over the demo data, shows no English string of the project's
own (issue 18, point 6); so do the supervisors' reports, every one by each of its dimensions
(issue 20, point 4).

Three nets, over the visible text of each page (text nodes outside script/style, and the
title, aria-label, placeholder and alt attributes), the change pages of two objects a model:

1. The catalogue: a text that is exactly a msgid of locale/zh_Hans/LC_MESSAGES/django.po
   whose msgstr differs means the translation did not reach the page (empty msgstr, stale
   .mo, a string translated at import time instead of lazily).
2. Strings outside the catalogue: each page is also rendered in English. A text identical in
   both renderings is data, a proper noun, or a string nobody wrapped for translation. Data is
   recognised by value (every text stored in the database, decrypted), proper nouns and codes
   by the short ALLOWED list below; what is left is reported.
3. Codes: a text that shows the stored code of a choice ("premium", "waiting") where its
   translated label belongs.

A failure lists `page URL: "string"`, so whoever merges new strings knows what to translate
(`make messages`, then fill the msgstr in locale/zh_Hans/LC_MESSAGES/django.po).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts import services
from servicedesk.tests.test_i18n import po_entries
from testsupport import sign_in

pytestmark = pytest.mark.django_db

PO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

# The project's apps: their ModelAdmins (whatever model they register) are checked by net 2.
# Third-party admins (django_celery_beat) are rendered and checked against our catalogue only.
PROJECT_APPS = {
    "accounts",
    "audit",
    "chat",
    "compensation",
    "compliance",
    "core",
    "equipment",
    "intake",
    "knowledge",
    "logistics",
    "notifications",
    "portal",
    "status",
    "tickets",
}

# Words that stay as they are in a Chinese page, with the reason.
ALLOWED = {
    "WeldDesk": "the product's name",
    "SLA": "the service-level term Chinese agents use as is (服务级别 (SLA))",
    "CSAT": "the satisfaction score's name, as agents use it",
    "CSV": "a file format",
    "JSON": "a format",
    "API": "as used in Chinese UIs",
    "ID": "as used in Chinese UIs",
    "URL": "as used in Chinese UIs",
    "IP": "an address family",
    "TOTP": "the authenticator standard",
    "2FA": "the second factor, as the sign-in pages write it",
    "SEV": "severity keys (SEV1 ... SEV4) are codes",
    "Ctrl": "a key's name, as printed on the keyboard (the shortcuts dialog)",
    "Enter": "a key's name, as printed on the keyboard (the shortcuts dialog)",
    "Esc": "a key's name, as printed on the keyboard (the shortcuts dialog)",
    "E-mail": "never alone; kept for the mail headers shown in the audit detail",
    "HMAC": "the audit chain's algorithm, shown to auditors",
    "SHA": "a digest name",
    "UTC": "a time zone",
    "Asia": "time-zone names (Asia/Shanghai) are identifiers",
    "Shanghai": "time-zone names (Asia/Shanghai) are identifiers",
    "Etc": "time-zone names are identifiers",
    "GMT": "a time zone",
    "PDF": "a file format",
    "PNG": "a file format",
    "KB": "a unit",
    "MB": "a unit",
    "km": "a unit",
    "kg": "a unit",
    "celery": "a task or schedule name (an identifier)",
    "welddesk": "task and setting names (identifiers)",
    "tasks": "in dotted task names (identifiers)",
}

# Texts that stay English in a Chinese page, as a whole, with the reason.
ALLOWED_PHRASES = {
    "True": "the alt text of Django's yes/no icons (not translatable in Django 5.2)",
    "False": "the alt text of Django's yes/no icons (not translatable in Django 5.2)",
    "English": "the language menu names each language in itself (English, 简体中文)",
    "Sandbox Express": "the test carrier's name (logistics/carriers.py)",
}

# Catalogue entries whose English text is also correct in a Chinese page.
SAME_IN_CHINESE = {"SLA", "CSAT", "WeldDesk", "ID", "API", "P1", "P2", "P3", "P4", "OK"}


class VisibleText(HTMLParser):
    """Collect the texts a reader sees: text nodes and the attributes read out or shown (not
    scripts, styles, nor identifiers set in <code>)."""

    ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        # <code> holds identifiers (field names, model labels), the same in every language.
        if tag in ("script", "style", "template", "code"):
            self._hidden += 1
        values = dict(attrs)
        for name in self.ATTRIBUTES:
            if values.get(name):
                self._add(values[name])
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self._add(values["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template", "code") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self._add(data)

    def _add(self, text: str) -> None:
        text = " ".join(text.split())
        if text:
            self.texts.append(text)


def visible_texts(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.texts


def catalogue() -> dict[str, str]:
    return dict(po_entries(PO))


def _strings_in(value) -> list[str]:
    """The texts a stored value may be shown as: itself, its lines, JSON's leaves and dump."""
    if isinstance(value, str):
        return [value, *value.splitlines()]
    if isinstance(value, dict | list):
        out = [json.dumps(value), json.dumps(value, ensure_ascii=False)]
        for item in value.values() if isinstance(value, dict) else value:
            out += _strings_in(item)
        if isinstance(value, dict):
            out += [str(k) for k in value]
        return out
    return []


def data_values() -> set[str]:
    """Every text stored in the database (decrypted by the fields), and every object's str():
    a page may show any of them in either language. Not the codes of fields with choices (a
    page shows their labels), nor a code kept in a field of the same name without choices
    (a ticket's contract_tier copied from the machine's)."""
    coded = {f.name for f in _choice_fields()}
    codes = choice_codes()
    found: set[str] = set()
    for model in apps.get_models():
        fields = [
            f
            for f in model._meta.concrete_fields
            if f.get_internal_type() in ("CharField", "TextField", "SlugField", "JSONField")
            and not f.choices
        ]
        for obj in model._default_manager.all()[:2000]:
            with contextlib.suppress(Exception):  # a str() that needs more than the row
                found.add(str(obj))
            for f in fields:
                with contextlib.suppress(Exception):  # a value that cannot decrypt here
                    value = getattr(obj, f.attname)
                    if f.name in coded and value in codes:
                        continue
                    found.update(_strings_in(value))
    return {" ".join(v.split()) for v in found if len(v.strip()) >= 2}


ENGLISH_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’_./-]*")
_JOINED: dict[int, str] = {}


def _joined(data: list[str]) -> str:
    """All data values in one string, so "is this text inside some value" is one search."""
    if id(data) not in _JOINED:
        _JOINED.clear()
        _JOINED[id(data)] = "\x00".join(data)
    return _JOINED[id(data)]


def strip_data(text: str, data: list[str]) -> str:
    for value in data:
        if value in text:
            text = re.sub(rf"(?<![A-Za-z]){re.escape(value)}(?![A-Za-z])", " ", text)
    return text


def _choice_fields() -> list:
    return [
        f
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS
        for f in model._meta.concrete_fields
        if f.choices
    ]


def choice_codes() -> dict[str, str]:
    """The stored codes of the project's choices (premium, waiting, ...) whose label differs:
    a page that shows one shows a code instead of its translated label."""
    codes = {}
    for f in _choice_fields():
        for code, label in f.flatchoices:
            if isinstance(code, str) and code.isalpha() and len(code) > 2 and code != label:
                codes.setdefault(code, f"{f.model._meta.label}.{f.name}")
    return codes


def leftover_english(text: str, data: list[str]) -> str:
    """The English words of a text once data values, allowed words and codes are removed.

    A text found inside a stored text (a line of an article shown as markdown) is data."""
    if text in _joined(data):
        return ""
    text = strip_data(text, data)
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    words = [
        word
        for word in ENGLISH_WORD.findall(text)
        if word.strip("'’_./-") not in ALLOWED
        and "@" not in word
        and not any(c.isdigit() for c in word)
        and len(word) > 1
    ]
    return " ".join(words)


def seed_everything(superuser) -> None:
    """The demo desk (accounts, tickets, status, equipment, ...) through its seeders."""
    call_command("seed_demo", allow_production=True, stdout=io.StringIO())
    # What the demo has none of, made through the services as a desk makes them.
    from accounts.models import Organisation, User
    from audit.services.checkpoint import audit_checkpoint
    from chat.presence import presence_beat
    from chat.services import conversation_open
    from compliance.services import erasure_request
    from status.drills import drills_schedule
    from status.models import Component
    from status.services import maintenance_schedule

    customer = User.objects.filter(is_staff=False, organisation__isnull=False).first()
    agent = User.objects.filter(is_staff=True, is_superuser=False).first()
    services.api_key_create(
        actor=superuser, organisation=Organisation.objects.first(), name="ERP connector"
    )
    conversation_open(customer=customer)
    presence_beat(agent=agent)
    now = timezone.now()
    maintenance_schedule(
        actor=superuser,
        title_en="Hotline upgrade",
        title_zh="热线升级",
        components=Component.objects.all()[:1],
        starts_at=now + dt.timedelta(days=2),
        ends_at=now + dt.timedelta(days=2, hours=2),
    )
    drills_schedule()
    erasure_request(subject=customer, actor=superuser, reason="Customer asked by phone")
    _webhook_delivery(superuser, customer.organisation)
    audit_checkpoint()


def _webhook_delivery(superuser, organisation) -> None:
    """An endpoint of the organisation's system and a delivery of one of its ticket events,
    tried once (refused: nothing listens on the discard port), so the log has a page."""
    from django.test import override_settings

    from notifications import endpoints, services
    from notifications.models import Outbox, Status, WebhookDelivery, WebhookEndpoint

    with override_settings(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=True):
        endpoint, _secret = endpoints.endpoint_register(
            actor=superuser,
            organisation=organisation,
            url="http://127.0.0.1:9/welddesk",
            events=["ticket.opened", "ticket.answered", "ticket.status_changed"],
            description="ERP",
        )
        # Registered before the demo's tickets, so their events are the endpoint's.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            created_at=timezone.now() - dt.timedelta(days=400)
        )
        tickets = [str(pk) for pk in organisation.tickets.values_list("pk", flat=True)]
        row = (
            Outbox.objects.filter(channel="org_event", about_id__in=tickets).order_by("pk").first()
        )
        assert row is not None, "the demo wrote no event of the organisation's tickets"
        Outbox.objects.filter(pk=row.pk).update(status=Status.PENDING)
        services.outbox_deliver(outbox_id=row.pk)
        for delivery in WebhookDelivery.objects.filter(endpoint=endpoint):
            services.outbox_deliver(outbox_id=delivery.outbox_id)


def admin_pages(superuser) -> list[tuple[str, str]]:
    """(admin label, URL) of every changelist, add page and change pages of two objects."""
    request = RequestFactory().get("/admin/")
    request.user = superuser
    pages = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        label = f"{type(model_admin).__module__}.{type(model_admin).__name__}"
        if model_admin.has_view_permission(request):
            pages.append((label, reverse("admin:{}_{}_changelist".format(*info))))
        if model_admin.has_add_permission(request):
            with contextlib.suppress(NoReverseMatch):
                pages.append((label, reverse("admin:{}_{}_add".format(*info))))
        # The first and the last object: demo rows differ (a ticket with a contract tier, one
        # without; an incident resolved, one open).
        queryset = model_admin.get_queryset(request).order_by("pk")
        for pk in {o.pk for o in (queryset.first(), queryset.last()) if o is not None}:
            pages.append((label, reverse("admin:{}_{}_change".format(*info), args=[pk])))
        # The admin's own views beyond the standard ones (survey scores, totals, decide ...).
        first = queryset.first()
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            if name.rsplit("_", 1)[-1] in STANDARD_VIEWS or not name or name in FRAGMENTS:
                continue
            params = list(pattern.pattern.converters)
            if not params:
                EXTRA_VIEWS.add(reverse(f"admin:{name}"))
            elif params == ["pk"] and first is not None:
                EXTRA_VIEWS.add(reverse(f"admin:{name}", args=[first.pk]))
        pages += [(label, url) for url in sorted(EXTRA_VIEWS) if (label, url) not in pages]
    return pages


def report_pages() -> list[tuple[str, str]]:
    """The supervisors' reports (issue 20, point 4): not ModelAdmins, so listed here: the
    index and every registered report by each of its dimensions, over a year of the demo."""
    from core import reports

    pages = [("core.reports", reverse("admin-reports"))]
    for report in reports.all_reports():
        url = reverse("admin-report", args=[report.key])
        # No `by`: the first dimension, the default.
        for by in ["", *(key for key, _label in report.dimensions[1:])]:
            pages.append(("core.reports", f"{url}?period=365" + (f"&by={by}" if by else "")))
    return pages


STANDARD_VIEWS = {"changelist", "add", "history", "delete", "change", "autocomplete"}
# Not pages: JSON for the live layer, meaningless without the tickets it is asked for (its
# rows are the list's own, walked above); a saved view's id (not a ticket's) that redirects
# to the list (the views page itself is walked).
FRAGMENTS = {"tickets_ticket_live_rows", "tickets_ticket_view_open"}
EXTRA_VIEWS: set[str] = set()


def render(client: Client, url: str) -> str:
    response = client.get(url)
    if url in EXTRA_VIEWS and response.status_code in (403, 405):
        return ""  # a view that only takes a POST
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    if not response.get("Content-Type", "").startswith("text/html"):
        return ""  # a download (an export)
    return b"".join(response).decode() if response.streaming else response.content.decode()


@pytest.fixture
def desk(make_staff):
    superuser = make_staff(
        roles=(), email="root.zh@welddesk.example", is_superuser=True, language="zh-hans"
    )
    seed_everything(superuser)
    client = sign_in(Client(), superuser)
    return superuser, client


def test_every_admin_page_is_chinese_for_a_chinese_agent(desk):
    superuser, client = desk
    pages = admin_pages(superuser)
    pages.insert(0, ("admin index", reverse("admin:index")))
    pages += report_pages()
    zh = {url: visible_texts(render(client, url)) for _label, url in pages}

    superuser.language = "en"
    superuser.save(update_fields=["language"])
    en = {url: set(visible_texts(render(client, url))) for _label, url in pages}

    translations = catalogue()
    untranslated_msgids = {
        msgid
        for msgid, msgstr in translations.items()
        if msgstr != msgid and msgid not in SAME_IN_CHINESE and ENGLISH_WORD.search(msgid)
    }
    # Role groups are named by their codes (agent, supervisor): Django's own group pages show
    # the name as the object's title, so those codes are not looked for.
    codes = {
        code: field
        for code, field in choice_codes().items()
        if not Group.objects.filter(name=code).exists()
    }
    data_set = data_values()
    data = sorted(data_set, key=len, reverse=True)
    # A stored text that is exactly a code (in an audit event's data, say) hides no code.
    data_not_codes = [v for v in data if v not in codes]
    project = {url for label, url in pages if label.split(".")[0] in PROJECT_APPS}
    project.add(reverse("admin:index"))

    not_translated, not_in_catalogue, codes_shown = [], [], []
    verdicts: dict[str, str] = {}
    for url, texts in zh.items():
        for text in dict.fromkeys(texts):
            if text in untranslated_msgids and text not in ALLOWED_PHRASES and text not in data_set:
                not_translated.append(f'{url}: "{text}"')
                continue
            if url not in project:
                continue
            if text not in en[url]:
                shown = set(ENGLISH_WORD.findall(strip_data(text, data_not_codes))) & codes.keys()
                codes_shown += [
                    f'{url}: "{text}"  (the code {c!r} of {codes[c]} instead of its label)'
                    for c in sorted(shown)
                ]
                continue
            if text not in verdicts:
                verdicts[text] = leftover_english(text, data)
            if verdicts[text]:
                not_in_catalogue.append(f'{url}: "{text}"  (English: {verdicts[text]})')

    message = []
    if not_translated:
        message.append(
            "In the catalogue but shown in English (translate the msgstr, run `make messages`):"
        )
        message += sorted(set(not_translated))
    if not_in_catalogue:
        message.append(
            "Same text in the English and the Chinese page, not data: wrap it for translation "
            "(gettext / {% translate %}) and translate it, or add a proper noun to ALLOWED:"
        )
        message += sorted(set(not_in_catalogue))
    if codes_shown:
        message.append("A stored code shown instead of its label (use get_FOO_display):")
        message += sorted(set(codes_shown))
    if message:
        pytest.fail("\n".join(message), pytrace=False)


def test_the_walk_covers_every_registered_admin_with_a_change_page(desk):
    """The demo data gives every project ModelAdmin an object, so its change page is walked."""
    superuser, _client = desk
    with_change = {label for label, url in admin_pages(superuser) if url.endswith("/change/")}
    missing = [
        f"{type(a).__module__}.{type(a).__name__}"
        for a in admin.site._registry.values()
        if type(a).__module__.split(".")[0] in PROJECT_APPS
        and f"{type(a).__module__}.{type(a).__name__}" not in with_change
    ]
    assert missing == [], "\n".join(missing)


def test_the_check_catches_an_unwrapped_string(desk, monkeypatch):
    """Net 2 works: an English heading nobody wrapped is reported."""
    assert leftover_english("Assign to queue", []) == "Assign to queue"
    assert leftover_english("WeldDesk SLA", []) == ""
    assert leftover_english("王建国 Wang Jianguo", ["Wang Jianguo"]) == ""
    assert visible_texts('<p title="Hint">A<script>x</script> b</p>') == ["Hint", "A", "b"]
