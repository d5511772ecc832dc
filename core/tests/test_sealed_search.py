"""Searches by e-mail or phone carry no personal data in any URL or log line (checklist 37).

Each search box that accepts an e-mail address or a phone number posts it; the answer is a
redirect to the list with the term sealed, and the list still finds the person. Tested for
people, organisations, tickets (requester), data subjects, the audit chain (actor) in the
admin, and the portal's ticket search.
"""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, quote, unquote, urlparse

import pytest
from cryptography import fernet
from cryptography.fernet import InvalidToken
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import reverse

from accounts import roles
from audit.models import AuditEvent
from audit.services import audit_record
from core import crypto, sealed_search
from testsupport import sign_in
from tickets.tests.conftest import machine, make_unit, open_ticket, queue_setup, sla_setup

__all__ = ["machine", "make_unit", "open_ticket", "queue_setup", "sla_setup"]  # fixtures

pytestmark = pytest.mark.django_db

EMAIL = "Chen.Zhiqiang@Jinchuan-HW.example"
PHONE = "+86 139 2266 4410"
CONTACT = "office@jinchuan-hw.example"
CONTACT_PHONE = "+86 769 2233 4455"


def forms_of(value: str) -> set[str]:
    """The ways a value can appear in a URL or a log."""
    variants = {value, value.lower(), value.strip()}
    variants |= {quote(v) for v in list(variants)} | {quote(v, safe="") for v in list(variants)}
    variants |= {v.replace(" ", "+") for v in list(variants)}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:
        variants |= {digits, digits[-11:]}
    return variants


def urls_in(html: str) -> list[str]:
    return [unquote(u) for u in re.findall(r'(?:href|action|src)="([^"]*)"', html)]


@pytest.fixture
def people(make_org, make_customer):
    org = make_org(
        "东莞锦川五金制品有限公司",
        region="south",
        contact_email=CONTACT,
        contact_phone=CONTACT_PHONE,
    )
    return make_customer(org, email=EMAIL.lower(), phone=PHONE), make_customer(org)


def search(client, *, post_to: str, data: dict, secret: str, caplog):
    """Post a search as its form does; return the list page it leads to, checking that
    neither the redirect, the list's links nor any log line carry the secret."""
    caplog.set_level(logging.DEBUG)
    posted = client.post(post_to, data)
    assert posted.status_code == 303, posted.status_code
    location = posted["Location"]
    assert "sealed%3A" in location or "sealed:" in location
    page = client.get(location)
    assert page.status_code == 200
    html = page.content.decode()
    for url in [location, unquote(location), *urls_in(html)]:
        assert not [v for v in forms_of(secret) if v.lower() in url.lower()], url
    logged = "\n".join(record.getMessage() for record in caplog.records).lower()
    assert not [v for v in forms_of(secret) if v.lower() in logged], "a log line holds it"
    return page, html


ADMIN_SEARCHES = [
    # (list, term, what must be found) - found: "customer", "org"
    ("accounts.user", EMAIL, "customer"),
    ("accounts.user", PHONE, "customer"),
    ("accounts.organisation", CONTACT, "org"),
    ("accounts.organisation", CONTACT_PHONE, "org"),
    ("compliance.datasubject", EMAIL, "customer"),
]


@pytest.mark.parametrize(("changelist", "term", "wanted"), ADMIN_SEARCHES)
def test_admin_search_by_email_or_phone_keeps_it_out_of_urls_and_logs(
    client, make_staff, people, caplog, changelist, term, wanted
):
    """The admin's search box posts; the list it leads to finds the person, and no URL on the
    way, no link on the page and no log line holds the e-mail or phone."""
    sign_in(client, make_staff(roles=(roles.SUPERVISOR, roles.COMPLIANCE)))
    customer, other = people
    app_label, model_name = changelist.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    form = client.get(url).content.decode()
    assert re.search(r'<form id="changelist-search" method="post" action="/admin/search/"', form)
    page, html = search(
        client,
        post_to="/admin/search/",
        data={"_changelist": changelist, "q": f"  {term} ", "o": "1"},
        secret=term,
        caplog=caplog,
    )
    target = customer if wanted == "customer" else customer.organisation
    assert [obj.pk for obj in page.context["cl"].result_list] == [target.pk]
    assert f'value="  {term} "' in html  # the box shows what was typed, from the page
    assert other.email not in html
    assert "o=1" in page.request["QUERY_STRING"]  # the list's other parameters are kept


def test_ticket_search_by_requester_email_keeps_it_out_of_urls_and_logs(
    client, make_staff, make_customer, open_ticket, caplog
):
    sign_in(client, make_staff(roles=(roles.SUPERVISOR,)))
    huang = make_customer(email="huang.li@jinchuan.example")
    mine = open_ticket(huang)
    open_ticket()
    page, _html = search(
        client,
        post_to="/admin/search/",
        data={"_changelist": "tickets.ticket", "q": "Huang.Li@Jinchuan.example"},
        secret="huang.li@jinchuan.example",
        caplog=caplog,
    )
    assert [t.pk for t in page.context["cl"].result_list] == [mine.pk]
    # The pages, sorting and filter links carry the sealed term on.
    html = page.content.decode()
    assert 'href="?' in html and "sealed%3A" in html


def test_audit_search_by_actor_email_keeps_it_out_of_urls_logs_and_the_export_link(
    client, make_staff, caplog
):
    officer = make_staff(roles=(roles.COMPLIANCE,), email="sarah.lin@welddesk.example")
    agent = make_staff(email="li.na@welddesk.example")
    audit_record(action="ticket.viewed", actor=agent)
    audit_record(action="ticket.viewed", actor=officer)
    sign_in(client, officer)
    url = reverse("admin:audit_auditevent_changelist")
    assert '<form method="post" id="audit-search"' in client.get(url).content.decode()
    page, html = search(
        client,
        post_to=url,
        data={"actor": "Li.Na@welddesk.example", "action": "ticket.*", "target": ""},
        secret="li.na@welddesk.example",
        caplog=caplog,
    )
    events = list(page.context["cl"].result_list)
    assert events and {e.actor_ref for e in events} == {f"user:{agent.pk}"}
    assert 'value="Li.Na@welddesk.example"' in html
    export = re.search(r'href="(/admin/audit/auditevent/export/\?[^"]+format=csv)"', html)
    assert export and "li.na" not in unquote(export.group(1)).lower()
    # The export link's sealed search exports the same events.
    exported = client.get(export.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200


def test_every_link_of_the_audit_list_keeps_the_search(client, make_staff, monkeypatch):
    """Sorting, "Show all", the pages and an event's page (and back) keep the audit search:
    each link of the list leads to the same search, the actor still sealed."""
    from audit.admin import AuditEventAdmin

    officer = make_staff(roles=(roles.COMPLIANCE,))
    agent = make_staff(email="li.na@welddesk.example")
    for action in ("ticket.viewed", "ticket.viewed", "ticket.viewed", "user.viewed"):
        audit_record(action=action, actor=agent)
        audit_record(action=action, actor=officer)
    monkeypatch.setattr(admin.site._registry[AuditEvent], "list_per_page", 2)
    assert isinstance(admin.site._registry[AuditEvent], AuditEventAdmin)
    sign_in(client, officer)
    url = reverse("admin:audit_auditevent_changelist")
    posted = client.post(url, {"actor": "li.na@welddesk.example", "action": "ticket.*"})
    html = client.get(posted["Location"]).content.decode()
    links = {
        link.replace("&amp;", "&")
        for link in re.findall(r'href="(\?[^"]*|/admin/audit/auditevent/\d+/change/[^"]*)"', html)
    }
    kinds = {"o=": "sorting", "all=": "show all", "p=": "pages", "/change/": "an event"}
    assert {kind for key, kind in kinds.items() if any(key in link for link in links)} == set(
        kinds.values()
    ), links
    wanted = {f"user:{agent.pk}"}, {"ticket.viewed"}
    for link in links:
        if link.startswith("/"):  # an event's page keeps the list's search to go back to
            changelist_filters = parse_qs(urlparse(link).query)["_changelist_filters"][0]
            link = "?" + changelist_filters
        assert "li.na" not in unquote(link).lower(), link
        page = client.get(url + link)
        assert page.status_code == 200, link
        events = list(page.context["cl"].result_list)
        assert events, link
        assert ({e.actor_ref for e in events}, {e.action for e in events}) == wanted, link


def test_portal_ticket_search_by_requester_email_keeps_it_out_of_urls_and_logs(
    client, make_customer, open_ticket, caplog
):
    """A customer finds a colleague's tickets by e-mail address without it reaching a URL."""
    me = make_customer(email="me@hengrui.example")
    colleague = make_customer(me.organisation, email="colleague@hengrui.example")
    theirs = open_ticket(colleague, subject="Nozzle clogs")
    open_ticket(me, subject="Chiller alarm")
    sign_in(client, me)
    form = client.get(reverse("portal:tickets")).content.decode()
    assert re.search(r'<form method="post" class="filters" role="search">', form)
    _page, html = search(
        client,
        post_to=reverse("portal:tickets"),
        data={"state": "all", "q": "Colleague@Hengrui.example"},
        secret="colleague@hengrui.example",
        caplog=caplog,
    )
    assert theirs.reference in html and "Chiller alarm" not in html
    assert 'value="Colleague@Hengrui.example"' in html


@pytest.mark.parametrize("label", sorted(m._meta.label_lower for m in admin.site._registry))
def test_every_admin_list_opens_sealed_terms(label, make_staff):
    model_admin = next(a for m, a in admin.site._registry.items() if m._meta.label_lower == label)
    request = RequestFactory().get("/")
    request.user = make_staff(roles=(), is_superuser=True)
    changelist = model_admin.get_changelist(request)
    assert issubclass(changelist.search_form_class, sealed_search.SealedSearchForm)


def asking(user, session_key: str = "s" * 32):
    """A request of `user` in the session `session_key`, as a view or a form sees it."""
    return SimpleNamespace(user=user, session=SimpleNamespace(session_key=session_key))


def later(monkeypatch, seconds: int) -> None:
    """Move Fernet's clock (only Fernet's) `seconds` ahead."""
    import time

    now = time.time()
    monkeypatch.setattr(fernet, "time", SimpleNamespace(time=lambda: now + seconds))


def test_a_sealed_term_cannot_be_read_forged_or_kept(settings, make_staff):
    me = asking(make_staff())
    sealed = sealed_search.seal("wang.jianguo@hengrui-weld.example", request=me)
    assert sealed.startswith("sealed:") and "hengrui" not in sealed
    again = sealed_search.seal("wang.jianguo@hengrui-weld.example", request=me)
    assert sealed != again  # no linking
    assert sealed_search.unseal(sealed, request=me) == "wang.jianguo@hengrui-weld.example"
    for broken in ("sealed:", "sealed:" + sealed[7:-2] + "xx", "sealed:\x00", "sealed:华东"):
        with pytest.raises(sealed_search.SealError):
            sealed_search.unseal(broken, request=me)
    settings.STAFF_SESSION_MAX_SECONDS = -1  # older than a staff session may live
    with pytest.raises(sealed_search.SealError):
        sealed_search.unseal(sealed, request=me)


def test_a_seal_opens_only_for_the_person_and_the_session_that_made_it(make_staff):
    """A sealed URL copied from a log shows nothing to another staff member, nor to its owner
    in another session (signed in elsewhere, or again)."""
    agent = make_staff()
    sealed = sealed_search.seal("li.na@welddesk.example", request=asking(agent))
    for stranger in (
        asking(make_staff()),  # another person, even in the same session
        asking(agent, session_key="t" * 32),  # the owner, in another session
        SimpleNamespace(user=AnonymousUser(), session=None),
    ):
        with pytest.raises(sealed_search.SealError):
            sealed_search.unseal(sealed, request=stranger)
    assert sealed_search.unseal(sealed, request=asking(agent)) == "li.na@welddesk.example"


def test_another_persons_seal_is_a_message_in_the_admin_the_audit_and_the_portal(
    client, make_staff, make_customer, open_ticket
):
    """Through the pages: a list URL sealed for one person searches nothing for another, who
    is asked to search again (no 500, no result of the other's search, no term shown)."""
    officer, other_officer = (make_staff(roles=(roles.SUPERVISOR, roles.COMPLIANCE)) for _ in "ab")
    sign_in(client, officer)
    posted = [
        client.post("/admin/search/", {"_changelist": "accounts.user", "q": "li.na@x.example"}),
        client.post(reverse("admin:audit_auditevent_changelist"), {"actor": "li.na@x.example"}),
    ]
    customer = make_customer()
    colleague = make_customer(customer.organisation)
    open_ticket(customer, subject="Nozzle clogs")
    sign_in(client, customer)
    posted.append(client.post(reverse("portal:tickets"), {"state": "all", "q": "Nozzle"}))
    assert all(p.status_code == 303 for p in posted)
    admin_list, audit_list, portal_list = (p["Location"] for p in posted)

    sign_in(client, other_officer)
    page = client.get(admin_list)
    assert page.status_code == 200 and page.context["cl"].query == ""
    assert "This search has expired" in str(next(iter(page.context["messages"])))
    page = client.get(audit_list)
    assert page.status_code == 200 and page.context["search_form"].errors
    assert "This search has expired" in page.content.decode()
    assert "li.na@x.example" not in page.content.decode()
    sign_in(client, colleague)
    page = client.get(portal_list)
    html = page.content.decode()
    assert page.status_code == 200 and "This search has expired" in html
    assert 'value="Nozzle"' not in html


def test_a_seal_is_not_made_with_the_personal_data_key(make_customer):
    """Anyone may have any text sealed (the portal search): that must give no ciphertext under
    the key of the stored personal data, and a token of that key must open as no seal."""
    me = asking(make_customer())
    sealed = sealed_search.seal("王建国", request=me)
    with pytest.raises(InvalidToken):
        crypto.crypter().decrypt(sealed[len(sealed_search.PREFIX) :].encode())
    stored = crypto.encrypt(me.user.email)  # as the e-mail column holds it
    shaped_like_a_seal = crypto.encrypt(json.dumps({"q": "x", "o": sealed_search._owner(me)}))
    for token in (stored, shaped_like_a_seal):
        assert crypto.decrypt(token)  # the personal-data key opens it...
        with pytest.raises(sealed_search.SealError):  # ...the desk opens it as no seal
            sealed_search.unseal(sealed_search.PREFIX + token, request=me)


def test_seals_expire_after_a_staff_session_or_12_hours_for_customers(
    settings, monkeypatch, make_staff, make_customer
):
    settings.STAFF_SESSION_MAX_SECONDS = 3600
    agent, customer = asking(make_staff()), asking(make_customer())
    agents_seal = sealed_search.seal("x", request=agent)
    customers_seal = sealed_search.seal("y", request=customer)
    later(monkeypatch, 3600 + 5)
    with pytest.raises(sealed_search.SealError):
        sealed_search.unseal(agents_seal, request=agent)
    assert sealed_search.unseal(customers_seal, request=customer) == "y"
    later(monkeypatch, sealed_search.CUSTOMER_SEAL_SECONDS + 5)
    with pytest.raises(sealed_search.SealError):
        sealed_search.unseal(customers_seal, request=customer)


def test_seals_die_with_the_secret_key_unless_it_is_kept_as_a_fallback(settings, make_staff):
    me = asking(make_staff())
    sealed = sealed_search.seal("x", request=me)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = old + "-rotated"
    with pytest.raises(sealed_search.SealError):
        sealed_search.unseal(sealed, request=me)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert sealed_search.unseal(sealed, request=me) == "x"


@pytest.mark.parametrize("value", ["sealed:nonsense", "sealed:gAAAAA华东"])
def test_a_broken_seal_is_a_message_not_an_error(client, make_staff, people, value):
    sign_in(client, make_staff(roles=(roles.SUPERVISOR,)))
    response = client.get(reverse("admin:accounts_user_changelist"), {"q": value})
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert shown and "This search has expired" in shown[0]
    sign_in(client, people[0])
    page = client.get(reverse("portal:tickets"), {"q": value})
    assert page.status_code == 200 and "This search has expired" in page.content.decode()


def test_the_search_endpoint_refuses_what_is_not_a_list(client, make_staff):
    sign_in(client, make_staff(roles=(roles.SUPERVISOR,)))
    for name in ("", "accounts", "nope.nothing", "accounts.user:x", "a\x00.b"):
        response = client.post("/admin/search/", {"_changelist": name, "q": "x"})
        assert response.status_code == 400, name
    assert client.get("/admin/search/").status_code == 405
    anonymous = client.__class__().post("/admin/search/", {"_changelist": "accounts.user"})
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_the_autocomplete_whose_term_is_in_the_url_matches_names_not_emails(
    client, make_staff, people
):
    """select2 sends the typed term in the URL: there an organisation is found by its name,
    never by a contact's e-mail or phone (those are searched in the list, sealed)."""
    sign_in(client, make_staff(roles=(), is_superuser=True))
    org = people[0].organisation

    def found(term: str) -> list[str]:
        response = client.get(
            "/admin/autocomplete/",
            {
                "app_label": "equipment",
                "model_name": "unit",
                "field_name": "organisation",
                "term": term,
            },
        )
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert found("锦川") == [str(org.pk)]
    assert found(CONTACT) == [] and found(CONTACT_PHONE) == []


def test_every_search_box_answers_through_the_one_sealed_redirect(
    client, make_staff, make_customer, monkeypatch
):
    """Posting the term, sealing it and answering 303 is one rule, written once: the admin's
    boxes, the audit search and the portal's ticket search all answer through it."""
    answered = []
    real = sealed_search.sealed_redirect

    def spy(request, url, params, **kwargs):
        answered.append(url)
        return real(request, url, params, **kwargs)

    monkeypatch.setattr(sealed_search, "sealed_redirect", spy)
    sign_in(client, make_staff(roles=(roles.SUPERVISOR, roles.COMPLIANCE)))
    audit_list = reverse("admin:audit_auditevent_changelist")
    assert (
        client.post("/admin/search/", {"_changelist": "accounts.user", "q": "a"}).status_code == 303
    )
    assert client.post(audit_list, {"actor": "a@b.example"}).status_code == 303
    sign_in(client, make_customer())
    assert client.post(reverse("portal:tickets"), {"q": "a"}).status_code == 303
    assert answered == [
        reverse("admin:accounts_user_changelist"),
        audit_list,
        reverse("portal:tickets"),
    ]


def test_every_search_form_opens_seals_with_the_one_field(make_staff):
    """The admin lists, the audit search and the portal search use one sealed search field:
    it opens the seal for the asking person and limits the term as typed, not the seal."""
    from audit.admin import ACTOR_MAX, SearchForm
    from portal.forms import TicketFilterForm

    me = asking(make_staff())
    forms_and_fields = [
        (SearchForm, "actor", ACTOR_MAX),
        (TicketFilterForm, "q", TicketFilterForm.SEARCH_MAX),
    ]
    for form_class, name, limit in forms_and_fields:
        assert isinstance(form_class.base_fields[name], sealed_search.SealedSearchField)
        longest = "x" * (limit - len("@b.example")) + "@b.example"
        sealed = sealed_search.seal(longest, request=me)
        form = form_class({name: sealed}, request=me)
        assert form.is_valid() and form.cleaned_data[name] == longest
        too_long = form_class({name: sealed_search.seal(longest + "x", request=me)}, request=me)
        assert not too_long.is_valid() and "at most" in str(too_long.errors[name])
        someone_elses = form_class({name: sealed}, request=asking(make_staff()))
        assert not someone_elses.is_valid()
        assert "This search has expired" in str(someone_elses.errors[name])
        assert f'maxlength="{limit}"' in str(form[name])
    changelist_form = sealed_search.SealedSearchForm({"q": "plain"})
    assert isinstance(changelist_form.fields["q"], sealed_search.SealedSearchField)
