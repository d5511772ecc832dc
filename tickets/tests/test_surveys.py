"""One-click satisfaction surveys: signed, no login, single use."""

from __future__ import annotations

from django.core import signing

from tickets.models import Status, Survey
from tickets.services import surveys
from tickets.services import tickets as svc


def _resolved(open_ticket, queue_setup):
    ticket = open_ticket()
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=queue_setup[2][0])
    survey = Survey.objects.get(ticket=ticket)
    token = signing.dumps({"s": survey.pk, "n": survey.nonce.hex}, salt=surveys.SALT, compress=True)
    return ticket, survey, token


def test_rating_by_link_once(open_ticket, queue_setup, client):
    _ticket, survey, token = _resolved(open_ticket, queue_setup)
    url = f"/tickets/survey/{token}/"
    page = client.get(url + "?score=5")
    assert page.status_code == 200 and b'value="5" required checked' in page.content
    survey.refresh_from_db()
    assert survey.answered_at is None  # a GET (a mail scanner) records nothing
    response = client.post(url, {"rating": "5", "comment": "Fast help <b>thanks</b>"})
    assert response.status_code == 200
    survey.refresh_from_db()
    assert survey.rating == 5 and survey.comment == "Fast help <b>thanks</b>"
    again = client.post(url, {"rating": "1"})
    assert b"already been answered" in again.content
    survey.refresh_from_db()
    assert survey.rating == 5


def test_forged_or_bad_input_is_refused(open_ticket, queue_setup, client):
    _ticket, _survey, token = _resolved(open_ticket, queue_setup)
    assert client.get(f"/tickets/survey/{token}x/").status_code == 404
    response = client.post(f"/tickets/survey/{token}/", {"rating": "9"})
    assert response.status_code == 400
    assert b"Choose a rating from 1 to 5" in response.content
