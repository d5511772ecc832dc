"""Searches by e-mail or phone carry no personal data in any URL or log line (checklist 37).

Each search box that accepts an e-mail address or a phone number posts it; the answer is a
redirect to the list with the term sealed, and the list still finds the person. Tested for
people, organisations, tickets (requester), data subjects, the audit chain (actor) in the
admin, and the portal's ticket search.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

import pytest
from django.contrib import admin
from django.test import RequestFactory, override_settings
from django.urls import reverse

from accounts import roles
from audit.services import audit_record
from core import sealed_search
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


def test_a_sealed_term_cannot_be_read_forged_or_kept(settings):
    sealed = sealed_search.seal("wang.jianguo@hengrui-weld.example")
    assert sealed.startswith("sealed:") and "hengrui" not in sealed
    assert sealed != sealed_search.seal("wang.jianguo@hengrui-weld.example")  # no linking
    assert sealed_search.unseal(sealed) == "wang.jianguo@hengrui-weld.example"
    for broken in ("sealed:", "sealed:" + sealed[7:-2] + "xx", "sealed:\x00", "sealed:华东"):
        with pytest.raises(sealed_search.SealError):
            sealed_search.unseal(broken)
    settings.STAFF_SESSION_MAX_SECONDS = -1  # older than a staff session may live
    with pytest.raises(sealed_search.SealError):
        sealed_search.unseal(sealed)


@pytest.mark.parametrize("value", ["sealed:nonsense", "sealed:gAAAAA华东"])
def test_a_broken_seal_is_a_message_not_an_error(client, make_staff, people, value):
    sign_in(client, make_staff(roles=(roles.SUPERVISOR,)))
    response = client.get(reverse("admin:accounts_user_changelist"), {"q": value})
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert shown and "This search has expired" in shown[0]
    with override_settings(STAFF_SESSION_MAX_SECONDS=-1):
        portal_user = people[0]
        sign_in(client, portal_user)
        sealed = sealed_search.seal("x")
        page = client.get(reverse("portal:tickets"), {"q": sealed})
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
