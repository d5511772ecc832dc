"""Data-subject access: a customer downloads everything held about them, nothing of others."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from testsupport import sign_in

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def world(make_org, make_customer, make_staff):
    from chat import services as chat_services
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.services.tickets import ticket_open, ticket_reply

    ensure_policies(ensure_calendar())
    org = make_org("Hengrui", contact_email="me@hengrui.example", contact_name="Wang Jianguo")
    me = make_customer(
        org, email="me@hengrui.example", full_name="Wang Jianguo", phone="13800138000"
    )
    colleague = make_customer(org, email="colleague@hengrui.example", full_name="Li Colleague")
    agent = make_staff(full_name="Agent Zhou")
    ticket = ticket_open(
        actor=me,
        organisation=org,
        requester=me,
        subject="Pores in the seam",
        body="My seams show pores since Monday.",
        attachments=[SimpleUploadedFile("seam.png", PNG, content_type="image/png")],
    )
    ticket_reply(ticket=ticket, author=agent, body="Please check the gas flow.")
    ticket_reply(ticket=ticket, author=agent, body="Internal: customer is grumpy", internal=True)
    ticket_open(
        actor=colleague,
        organisation=org,
        requester=colleague,
        subject="Colleague's own ticket",
        body="Something private of Li.",
    )
    chat_services.conversation_open(customer=me)
    return me, colleague, agent, ticket


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_a_customer_downloads_their_data_after_their_password(client, world, password):
    me, colleague, agent, ticket = world
    sign_in(client, me)
    url = reverse("portal:data_export")
    assert client.get(url).status_code == 200
    wrong = client.post(url, {"password": "not it"})
    assert wrong.status_code == 400 and "Your password is not correct." in wrong.content.decode()
    response = client.post(url, {"password": password})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = _zip(response)
    names = set(archive.namelist())
    assert {"profile.json", "tickets.json", "chats.json", "consents.json"} <= names
    assert any(n.startswith("attachments/tickets/") and n.endswith("seam.png") for n in names)
    profile = json.loads(archive.read("profile.json"))
    assert profile["email"] == "me@hengrui.example" and profile["phone"] == "13800138000"
    assert profile["organisation_contact"]["contact_name"] == "Wang Jianguo"
    tickets = json.loads(archive.read("tickets.json"))
    assert [t["reference"] for t in tickets] == [ticket.reference]
    bodies = [(m["from"], m["body"]) for m in tickets[0]["messages"]]
    assert ("you", "My seams show pores since Monday.") in bodies
    assert ("WeldDesk", "Please check the gas flow.") in bodies
    everything = b"".join(archive.read(n) for n in names if n.endswith(".json")).decode()
    # Nobody else's personal data, and no internal notes.
    for other in ("Agent Zhou", agent.email, "Li Colleague", colleague.email, "private of Li"):
        assert other not in everything
    assert "grumpy" not in everything
    assert AuditEvent.objects.filter(action="privacy.access_exported").count() == 1
    assert AuditEvent.objects.filter(action="privacy.access_refused").count() == 1


def test_a_compliance_officer_exports_anyone_and_others_cannot(client, world, make_staff):
    me, _colleague, _agent, _ticket = world
    changelist = reverse("admin:compliance_datasubject_changelist")
    data = {"action": "export_data", "_selected_action": [me.pk]}
    supervisor = make_staff(roles=("supervisor",))
    sign_in(client, supervisor)
    assert client.post(changelist, data).status_code == 403
    officer = make_staff(roles=("compliance_officer",))
    sign_in(client, officer)
    found = client.get(changelist, {"q": "ME@hengrui.example"}).context["cl"].result_list
    assert [p.pk for p in found] == [me.pk]
    response = client.post(changelist, data)
    assert response.status_code == 200
    assert json.loads(_zip(response).read("profile.json"))["email"] == "me@hengrui.example"
    event = AuditEvent.objects.get(action="privacy.access_exported")
    assert event.actor_ref == f"user:{officer.pk}" and event.data == {"by": "compliance"}
    assert "hengrui" not in json.dumps(event.data)


def test_a_colleague_on_a_shared_ticket_is_left_out_of_my_export_and_keeps_their_own(
    client, world, password
):
    """Checklist 38: another customer's name and words on a shared ticket are redacted from
    the subject's export; the colleague's own export holds only what they wrote."""
    from tickets.services.tickets import ticket_reply

    me, colleague, _agent, ticket = world
    ticket_reply(ticket=ticket, author=colleague, body="Li Colleague here, call me on 13900139000")
    sign_in(client, me)
    mine = _zip(client.post(reverse("portal:data_export"), {"password": password}))
    everything = b"".join(mine.read(n) for n in mine.namelist() if n.endswith(".json")).decode()
    assert "My seams show pores since Monday." in everything
    for other in ("Li Colleague", "13900139000", colleague.email):
        assert other not in everything
    client.logout()
    sign_in(client, colleague)
    theirs = _zip(client.post(reverse("portal:data_export"), {"password": password}))
    shared = [
        t for t in json.loads(theirs.read("tickets.json")) if t["reference"] == ticket.reference
    ]
    assert shared == [
        {
            "reference": ticket.reference,
            "messages": [
                {
                    "from": "you",
                    "at": shared[0]["messages"][0]["at"],
                    "body": "Li Colleague here, call me on 13900139000",
                }
            ],
        }
    ]
    assert "My seams show pores" not in theirs.read("tickets.json").decode()


# ------------------------------------------------------------------ README.txt (issue 20, 7)


def test_the_readme_lists_every_file_with_what_it_holds(client, world, password):
    from compliance import dsar

    me, _colleague, _agent, _ticket = world
    sign_in(client, me)
    archive = _zip(client.post(reverse("portal:data_export"), {"password": password}))
    readme = archive.read("README.txt").decode()
    assert re.match(
        r"Everything WeldDesk holds about you, exported \d{4}-\d\d-\d\d \d\d:\d\d UTC\.\n", readme
    )
    for name in archive.namelist():
        if name.endswith(".json"):
            assert f"- {name}: {dsar.FILES[name]}\n" in readme
        elif name.startswith("attachments/"):
            assert f"- {name}\n" in readme
    assert "- tickets.json: The tickets you asked for" in readme


def test_the_readme_is_in_the_persons_language_whoever_asks(client, world, make_staff, monkeypatch):
    """A Chinese customer's README is in Chinese even when an English-speaking officer
    exports it: every text of it is asked of gettext with the person's language active."""
    from django.utils import translation

    from compliance import dsar

    me, _colleague, _agent, _ticket = world
    me.language = "zh-hans"
    me.save(update_fields=["language"])
    asked: list[tuple[str, str | None]] = []

    def gettext(text):
        asked.append((text, translation.get_language()))
        return translation.gettext(text)

    class Description:
        """A file's description that notes the language it is rendered in."""

        def __init__(self, text):
            self.text = text

        def __str__(self):
            asked.append((self.text, translation.get_language()))
            return translation.gettext(self.text)

        def __format__(self, spec):
            return format(str(self), spec)

    monkeypatch.setattr(dsar, "_", gettext)
    monkeypatch.setattr(
        dsar, "FILES", {name: Description(str(text)) for name, text in dsar.FILES.items()}
    )
    officer = make_staff(roles=("compliance_officer",), language="en")
    sign_in(client, officer)
    changelist = reverse("admin:compliance_datasubject_changelist")
    response = client.post(changelist, {"action": "export_data", "_selected_action": [me.pk]})
    readme = _zip(response).read("README.txt").decode()
    assert len(asked) >= 5 + len(dsar.FILES)  # the introduction, headings and each file
    assert {language for _text, language in asked} == {"zh-hans"}
    with translation.override("zh-hans"):
        for text, _language in asked:
            if "%(" not in text:
                assert translation.gettext(text) in readme
    assert translation.get_language() != "zh-hans"  # the override did not leak


def test_a_person_without_a_language_gets_the_desks_default(world, settings):
    from compliance import dsar

    me, _colleague, _agent, _ticket = world
    me.language = ""
    assert dsar.person_language(me) == settings.LANGUAGE_CODE
    me.language = "xx-nonsense"
    assert dsar.person_language(me) == settings.LANGUAGE_CODE
    me.language = "zh-hans"
    assert dsar.person_language(me) == "zh-hans"


def test_a_file_missing_from_storage_is_said_so(world):
    from compliance import dsar

    me, _colleague, _agent, _ticket = world
    text = dsar.readme(
        me, files=["profile.json"], uploads=[("attachments/a.png", True), ("b.png", False)]
    )
    assert "- attachments/a.png\n" in text and "- b.png: missing from storage\n" in text
