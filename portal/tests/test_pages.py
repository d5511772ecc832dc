"""Portal pages: what a customer sees and may do, scoping, and query budgets."""

from __future__ import annotations

import io

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from portal import banners
from portal import views as portal_views
from testsupport import PASSWORD, add_totp, current_code, sign_in
from tickets.models import Status, Ticket
from tickets.services import tickets as svc

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def queries(client, url: str) -> int:
    """The statements of one warm request: the page is asked once first, so a cache that
    expired while a slow test built its data (the status banner's 30 s, the session's
    copy) is not counted as the page growing."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


# ------------------------------------------------------------------------------- access


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for name in ("portal:home", "portal:tickets", "portal:machines", "portal:profile"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_staff_are_sent_to_the_workspace(client, make_staff):
    sign_in(client, make_staff())
    response = client.get(reverse("portal:tickets"))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_another_organisations_ticket_and_machine_are_404(portal, make_customer, open_ticket):
    stranger = make_customer()
    theirs = open_ticket(stranger)
    assert portal.get(reverse("portal:ticket", args=[theirs.reference])).status_code == 404
    serial = theirs.unit.serial_number
    assert portal.get(reverse("portal:machine", args=[serial])).status_code == 404


# ------------------------------------------------------------------------------- home


def test_home_shows_open_tickets_machines_and_banners(portal, customer, open_ticket):
    ticket = open_ticket(customer)

    def incident(user):
        return [{"level": "outage", "title": "Hotline down <b>now</b>", "body": "ETA 14:00"}]

    banners.register(incident)
    try:
        page = portal.get(reverse("portal:home")).content.decode()
    finally:
        banners.unregister(incident)
    assert ticket.reference in page and ticket.subject in page
    assert ticket.unit.serial_number in page
    assert "Hotline down &lt;b&gt;now&lt;/b&gt;" in page  # escaped


def test_a_failing_banner_provider_does_not_break_the_page(portal):
    def broken(user):
        raise RuntimeError("status service down")

    banners.register(broken)
    try:
        assert portal.get(reverse("portal:home")).status_code == 200
    finally:
        banners.unregister(broken)


def test_home_query_budget_does_not_grow(portal, customer, open_ticket, make_unit):
    open_ticket(customer)
    one = queries(portal, reverse("portal:home"))
    for _ in range(12):
        open_ticket(customer, unit=make_unit(customer.organisation))
    assert queries(portal, reverse("portal:home")) == one


def test_home_counts_open_tickets_up_to_a_cap(portal, customer, open_ticket, monkeypatch):
    for _ in range(3):
        open_ticket(customer)
    assert "3 open tickets" in portal.get(reverse("portal:home")).content.decode()
    monkeypatch.setattr(portal_views, "HOME_COUNT_CAP", 2)
    page = portal.get(reverse("portal:home")).content.decode()
    assert "More than 2 open tickets" in page and "3 open tickets" not in page


# ------------------------------------------------------------------------------- tickets


def test_ticket_list_filters_searches_and_pages(portal, customer, open_ticket, queue_setup):
    agent = queue_setup[2][0]
    tickets = [open_ticket(customer, subject=f"Seam porosity {n}") for n in range(23)]
    svc.ticket_transition(ticket=tickets[0], status=Status.RESOLVED, actor=agent)
    page1 = portal.get(reverse("portal:tickets")).content.decode()
    assert "Page 1 of 2" in page1
    closed = portal.get(reverse("portal:tickets") + "?state=closed").content.decode()
    assert tickets[0].reference in closed and tickets[1].reference not in closed
    found = portal.get(reverse("portal:tickets") + f"?state=all&q={tickets[5].reference}")
    assert tickets[5].reference in found.content.decode()
    assert tickets[6].reference not in found.content.decode()
    empty = portal.get(reverse("portal:tickets") + "?q=nothing-like-this").content.decode()
    assert "No tickets match" in empty


def test_ticket_list_query_budget_does_not_grow(portal, customer, open_ticket):
    open_ticket(customer)
    one = queries(portal, reverse("portal:tickets"))
    for _ in range(25):
        open_ticket(customer)
    assert queries(portal, reverse("portal:tickets")) == one


def test_a_deeper_page_of_the_ticket_list_joins_only_its_own_rows(portal, customer, open_ticket):
    """The offset walks the ordered keys in a subquery; the joins run for the page's rows
    (selectors.KeyFirstPaginator), not for every ticket before the page."""
    for _ in range(23):
        open_ticket(customer)
    with CaptureQueriesContext(connection) as captured:
        response = portal.get(reverse("portal:tickets") + "?page=2")
    assert len(response.context["page"].object_list) == 3
    [page] = [
        q["sql"]
        for q in captured.captured_queries
        if "OFFSET 20" in q["sql"] and "JOIN" in q["sql"] and "tickets_ticket" in q["sql"]
    ]
    subquery = page.index("IN (SELECT")
    assert page.index("OFFSET 20") > subquery  # in the subquery of keys
    assert not page.rstrip().endswith("OFFSET 20")  # the joined rows are not offset


def test_the_ticket_list_counts_up_to_a_cap_and_pages_on_past_it(
    portal, customer, open_ticket, monkeypatch
):
    """Past the cap the count stops (one statement bounded by it) and the list says only
    "Page N": a full page has a next one, and every ticket is still reachable."""
    tickets = [open_ticket(customer) for _ in range(45)]
    monkeypatch.setattr(portal_views, "LIST_COUNT_CAP", 30)
    url = reverse("portal:tickets")
    with CaptureQueriesContext(connection) as captured:
        first = portal.get(url)
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 31" in counts[0]
    text = first.content.decode()
    assert "Page 1" in text and "Page 1 of" not in text
    seen = []
    number, page = 1, first.context["page"]
    while True:
        seen += [t.pk for t in page.object_list]
        if not page.has_next():
            break
        number += 1
        page = portal.get(f"{url}?page={number}").context["page"]
    # Pages 1 and 2 are full (40), page 3 holds the last 5 and has no next page.
    assert number == 3 and sorted(seen) == sorted(t.pk for t in tickets)
    last = portal.get(f"{url}?page=3").content.decode()
    assert 'rel="next"' not in last and 'rel="prev"' in last and "Page 3" in last
    # A list that ends exactly at a page's end has no next page leading nowhere.
    for ticket in tickets[:5]:
        ticket.delete()
    assert 'rel="next"' not in portal.get(f"{url}?page=2").content.decode()
    # Under the cap the list is counted exactly, as before.
    monkeypatch.setattr(portal_views, "LIST_COUNT_CAP", 45)
    assert "Page 1 of 2" in portal.get(url).content.decode()


@pytest.mark.parametrize("page", ["999999", "99999999999999999999", "abc", "-3", "0", "1e3"])
def test_a_capped_list_answers_any_page_number_without_an_error(
    portal, customer, open_ticket, monkeypatch, page
):
    """Past the cap every page number is served (the count is only a lower bound): one past
    the end is an empty page, a malformed one is the first page, none is an error."""
    for _ in range(3):
        open_ticket(customer)
    monkeypatch.setattr(portal_views, "LIST_COUNT_CAP", 1)
    response = portal.get(f"{reverse('portal:tickets')}?page={page}")
    assert response.status_code == 200
    shown = len(response.context["page"].object_list)
    assert shown == (0 if page == "999999" else 3)


def test_customer_files_a_fault_report_with_a_photo(portal, customer, make_unit, sla_setup):
    from equipment.models import FaultCode

    unit = make_unit(customer.organisation)
    code = FaultCode.objects.create(
        code="E-201", title_en="Protective lens dirty", title_zh="保护镜片脏污", severity="medium"
    )
    form = portal.get(reverse("portal:ticket_new")).content.decode()
    assert unit.serial_number in form and "E-201" in form
    photo = io.BytesIO(PNG)
    photo.name = "seam.png"
    response = portal.post(
        reverse("portal:ticket_new"),
        {
            "unit": unit.pk,
            "fault_code": code.pk,
            "subject": "Pores in every seam",
            "body": "Since the lens change every seam on 2 mm stainless shows pores.",
            "production": "degraded",
            "machines_affected": "1",
            "safety_risk": "no",
            "laser_power_w": "1500",
            "shielding_gas": "argon",
            "gas_flow_l_min": "15",
            "material": "stainless",
            "thickness_mm": "2",
            "photos": [photo],
        },
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(subject="Pores in every seam")
    assert response["Location"] == reverse("portal:ticket", args=[ticket.reference])
    assert ticket.requester == customer and ticket.unit == unit
    assert ticket.fault_report.fault_code == code
    assert ticket.fault_report.laser_power_w == 1500
    assert ticket.attachments.count() == 1
    page = portal.get(response["Location"]).content.decode()
    assert "Pores in every seam" in page and "seam.png" in page and "E-201" in page


def test_bad_fault_reports_get_field_errors_and_write_nothing(
    portal, customer, make_unit, make_customer
):
    unit = make_unit(customer.organisation)
    response = portal.post(
        reverse("portal:ticket_new"),
        {"unit": unit.pk, "subject": "", "body": "", "laser_power_w": "-5"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="id_subject_error0"' in page
    assert 'id="id_subject_error0"' in page
    # Another organisation's machine is not a choice.
    theirs = make_unit(make_customer().organisation)
    response = portal.post(
        reverse("portal:ticket_new"),
        {"unit": theirs.pk, "subject": "Pores", "body": "Pores everywhere."},
    )
    assert response.status_code == 400
    assert 'aria-describedby="id_unit_helptext id_unit_error0"' in response.content.decode()
    assert not Ticket.objects.exists()


def test_a_photo_that_is_not_an_image_is_refused(portal, customer, make_unit, sla_setup):
    unit = make_unit(customer.organisation)
    fake = io.BytesIO(b"MZ\x90\x00 this is a windows executable")
    fake.name = "photo.jpg"
    response = portal.post(
        reverse("portal:ticket_new"),
        {"unit": unit.pk, "subject": "Pores", "body": "Pores everywhere.", "photos": [fake]},
    )
    assert response.status_code == 400
    assert not Ticket.objects.exists()


def test_reply_close_and_rate_on_the_ticket_page(portal, customer, open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket(customer)
    svc.ticket_reply(ticket=ticket, author=agent, body="Please clean the protective lens.")
    svc.ticket_reply(ticket=ticket, author=agent, body="Secret note", internal=True)
    url = reverse("portal:ticket", args=[ticket.reference])
    page = portal.get(url).content.decode()
    assert "Please clean the protective lens." in page
    assert "Secret note" not in page
    response = portal.post(url, {"action": "reply", "body": "Cleaned it, seams are fine now."})
    assert response.status_code == 302
    assert "Cleaned it, seams are fine now." in [m.body for m in ticket.messages.all()]
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    page = portal.get(url).content.decode()
    assert "Rate our service" in page
    bad = portal.post(url, {"action": "rate", "rating": "9"})
    assert bad.status_code == 400
    assert portal.post(url, {"action": "rate", "rating": "5", "comment": "Fast"}).status_code == 302
    survey = ticket.surveys.get()
    assert (survey.rating, survey.comment) == (5, "Fast")
    assert "Rate our service" not in portal.get(url).content.decode()
    assert portal.post(url, {"action": "close"}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED


def test_ticket_page_query_budget_does_not_grow(portal, customer, open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket(customer)
    url = reverse("portal:ticket", args=[ticket.reference])
    one = queries(portal, url)
    for n in range(15):
        svc.ticket_reply(ticket=ticket, author=agent, body=f"Step {n}")
    assert queries(portal, url) == one


# ------------------------------------------------------------------------------- machines


def test_machine_pages_show_warranty_and_history(portal, customer, open_ticket, make_unit):
    ticket = open_ticket(customer)
    unit = ticket.unit
    listing = portal.get(reverse("portal:machines")).content.decode()
    assert unit.serial_number in listing
    page = portal.get(reverse("portal:machine", args=[unit.serial_number])).content.decode()
    assert ticket.reference in page
    assert unit.warranty_ends_on.strftime("%Y-%m-%d") in page


def test_machine_pages_query_budget_does_not_grow(portal, customer, open_ticket, make_unit):
    ticket = open_ticket(customer)
    one_list = queries(portal, reverse("portal:machines"))
    detail = reverse("portal:machine", args=[ticket.unit.serial_number])
    one_detail = queries(portal, detail)
    for _ in range(12):
        make_unit(customer.organisation)
        open_ticket(customer, unit=ticket.unit)
    assert queries(portal, reverse("portal:machines")) == one_list
    assert queries(portal, detail) == one_detail


# ------------------------------------------------------------------------------- profile


def test_profile_saves_preferences_and_refuses_sms_without_a_phone(portal, customer):
    url = reverse("portal:profile")
    assert queries(portal, url) <= 6
    response = portal.post(
        url,
        {
            "full_name": "陈工",
            "phone": "",
            "language": "zh-hans",
            "timezone": "Asia/Shanghai",
            "notify_email": "on",
            "notify_sms": "on",
        },
    )
    assert response.status_code == 400
    assert "Enter a mobile number to receive SMS." in response.content.decode()
    response = portal.post(
        url,
        {
            "full_name": "陈工",
            "phone": "+86 138 0000 0000",
            "language": "zh-hans",
            "timezone": "Asia/Shanghai",
            "notify_sms": "on",
            "reauth_password": PASSWORD,  # a new phone number: the password again
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.language, customer.notify_sms, customer.notify_email) == (
        "zh-hans",
        True,
        False,
    )
    # From now on the portal speaks Chinese to this customer.
    assert "工单" in portal.get(reverse("portal:home")).content.decode()


def _profile(customer, **changes) -> dict:
    return {
        "full_name": customer.full_name,
        "phone": customer.phone,
        "language": customer.language or "en",
        "timezone": customer.timezone,
        "notify_email": "on",
        **changes,
    }


@pytest.mark.parametrize("password", ["", "not my password"], ids=["none", "wrong"])
def test_a_customer_changes_their_phone_only_with_their_password(portal, customer, password):
    """Checklist 10 in the portal: a new phone number without the right password again is
    refused (403) and nothing is saved, not even the other fields of the form."""
    url = reverse("portal:profile")
    response = portal.post(
        url, _profile(customer, phone="+86 139 0000 0000", full_name="X", reauth_password=password)
    )
    assert response.status_code == 403
    assert "password" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.phone, customer.full_name) == ("", "陈工 Chen Gong")
    assert not AuditEvent.objects.filter(action="user.profile_changed").exists()


def test_a_customer_with_two_factor_needs_password_and_code_to_change_their_phone(portal, customer):
    device = add_totp(customer)
    url = reverse("portal:profile")
    new_phone = _profile(customer, phone="+86 139 0000 0000", reauth_password=PASSWORD)
    assert portal.post(url, new_phone).status_code == 403
    customer.refresh_from_db()
    assert customer.phone == ""
    response = portal.post(url, {**new_phone, "reauth_code": current_code(device)})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "+86 139 0000 0000"
    changed = AuditEvent.objects.get(action="user.profile_changed")
    assert changed.actor_ref == f"user:{customer.pk}" and "phone" in changed.changed_fields
    assert AuditEvent.objects.filter(action="auth.reauthenticated").count() == 1


def test_password_reset_sends_a_link_that_sets_a_new_password(
    client, customer, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    cache.clear()  # the throttle counts in the cache
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": customer.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = next(word for word in body.split() if "/accounts/password/reset/" in word)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert form.status_code == 200
    response = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else "/" + path,
        {"new_password1": "a-new-Passw0rd-2026", "new_password2": "a-new-Passw0rd-2026"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password("a-new-Passw0rd-2026")
    # Unknown addresses get the same answer and no e-mail.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": "nobody@x.example"})
    assert response.status_code == 302 and mail.outbox == []


def test_a_customer_who_turned_email_off_gets_no_ticket_mail(
    portal, customer, open_ticket, queue_setup
):
    from notifications.models import Outbox

    agent = queue_setup[2][0]
    ticket = open_ticket(customer)
    svc.ticket_reply(ticket=ticket, author=agent, body="First answer.")
    replies = Outbox.objects.filter(key__startswith="ticket-reply:")
    first = replies.count()
    assert first >= 1  # e-mail is on by default
    portal.post(
        reverse("portal:profile"),
        {"full_name": customer.full_name, "language": "en", "timezone": "Asia/Shanghai"},
    )
    customer.refresh_from_db()
    assert customer.notify_email is False
    svc.ticket_reply(ticket=ticket, author=agent, body="Second answer.")
    assert replies.count() == first


def test_switching_language_never_fails_on_an_older_inconsistency(portal, customer):
    from accounts.models import User

    User.objects.filter(pk=customer.pk).update(notify_sms=True)  # the desk removed the phone
    response = portal.post(reverse("accounts:language"), {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.language == "zh-hans"


def test_a_reply_to_a_ticket_closed_meanwhile_says_why(portal, customer, open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket(customer)
    url = reverse("portal:ticket", args=[ticket.reference])
    svc.ticket_transition(ticket=ticket, status=Status.CLOSED, actor=agent)
    response = portal.post(url, {"action": "reply", "body": "One more thing"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="msg error"' in page


def test_a_bad_state_keeps_the_search(portal, customer, open_ticket):
    ticket = open_ticket(customer, subject="Chiller alarm at night")
    other = open_ticket(customer, subject="Wire feed jams")
    page = portal.get(reverse("portal:tickets") + "?state=bogus&q=Chiller").content.decode()
    assert ticket.reference in page and other.reference not in page


def test_password_reset_is_audited_throttled_and_links_to_the_site(
    client, customer, settings, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from audit.models import AuditEvent

    cache.clear()  # the throttle counts in the cache
    settings.SITE_URL = "https://desk.welddesk.example"
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("accounts:password_reset"),
                {"email": customer.email},
                HTTP_HOST="localhost",
            )
        assert response.status_code == 302  # the same answer every time
    assert len(mail.outbox) == 3  # at most three an hour per address
    assert "https://desk.welddesk.example/accounts/password/reset/" in mail.outbox[0].body
    events = AuditEvent.objects.filter(action="user.password_reset_requested")
    assert events.count() == 3
    assert customer.email not in str(list(events.values_list("data", flat=True)))


def test_the_profile_language_cookie_follows_the_cookie_settings(portal, customer, settings):
    response = portal.post(
        reverse("portal:profile"),
        {"full_name": "Chen", "language": "zh-hans", "timezone": "Asia/Shanghai"},
    )
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "zh-hans"
    assert bool(cookie["httponly"]) == settings.LANGUAGE_COOKIE_HTTPONLY
    assert cookie["samesite"] == (settings.LANGUAGE_COOKIE_SAMESITE or "")


def test_a_customer_who_asked_for_sms_gets_one_on_an_answer_and_a_status_change(
    portal, customer, open_ticket, queue_setup, django_capture_on_commit_callbacks
):
    from notifications.sms import LocmemSMSBackend

    agent = queue_setup[2][0]
    ticket = open_ticket(customer)
    LocmemSMSBackend.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        svc.ticket_reply(ticket=ticket, author=agent, body="No SMS yet.")
    assert LocmemSMSBackend.outbox == []  # SMS is off by default
    portal.post(
        reverse("portal:profile"),
        {
            "full_name": customer.full_name,
            "phone": "+86 138 0013 8000",
            "language": "zh-hans",
            "timezone": "Asia/Shanghai",
            "notify_email": "on",
            "notify_sms": "on",
            "reauth_password": PASSWORD,
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        svc.ticket_reply(ticket=ticket, author=agent, body="Please check the chiller.")
    with django_capture_on_commit_callbacks(execute=True):
        svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    texts = [m["body"] for m in LocmemSMSBackend.outbox]
    assert len(texts) == 2
    assert all(m["to"] == "+86 138 0013 8000" for m in LocmemSMSBackend.outbox)
    assert ticket.reference in texts[0] and "服务台已回复" in texts[0]
    assert "已解决" in texts[1]
    # WeCom too, once the customer asks for it with their WeCom ID.
    from notifications.wecom import LocmemWeComBackend

    portal.post(
        reverse("portal:profile"),
        {
            "full_name": customer.full_name,
            "phone": "+86 138 0013 8000",
            "language": "zh-hans",
            "timezone": "Asia/Shanghai",
            "notify_email": "on",
            "notify_wecom": "on",
            "wecom_id": "zhang.wei",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        svc.ticket_reply(ticket=ticket, author=agent, body="Coolant level?")
    assert [m["to"] for m in LocmemWeComBackend.outbox] == ["zhang.wei"]
    assert ticket.reference in LocmemWeComBackend.outbox[0]["body"]


def test_a_customer_sets_a_webhook_and_sees_its_signing_secret(portal, customer, settings):
    from notifications.webhooks import signing_secret

    data = {
        "full_name": customer.full_name,
        "language": "en",
        "timezone": "Asia/Shanghai",
        "notify_email": "on",
        "notify_webhook_url": "https://10.0.0.5/hooks",
    }
    refused = portal.post(reverse("portal:profile"), data)
    assert refused.status_code == 400
    assert "cannot call this address" in refused.content.decode()
    settings.WEBHOOK_ALLOW_PRIVATE = True  # a closed installation
    assert portal.post(reverse("portal:profile"), data).status_code == 302
    page = portal.get(reverse("portal:profile")).content.decode()
    assert signing_secret("https://10.0.0.5/hooks") in page
