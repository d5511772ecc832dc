"""The agents' search box: every kind of term, ranking, pages, scope, erasure, key rotation."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Region
from accounts.services import organisation_update, user_update_profile
from compliance import services as compliance
from core import crypto, search_terms
from equipment.models import FaultCode
from tickets import search
from tickets.models import SearchTerm, TermSource, Ticket
from tickets.services import tickets as svc
from tickets.tests.conftest import at

CHANGELIST = "/admin/tickets/ticket/"
NAME = "王建国"
EMAIL = "wang.jianguo@hanwei-laser.example"
CHINESE_BODY = "激光功率不稳定，焊缝出现大量气孔，请尽快派工程师。"
NOTE = "Replaced the collimator lens; customer should check the chiller next week."


def listed(response) -> list[str]:
    assert response.status_code == 200
    return [t.reference for t in response.context["cl"].result_list]


@pytest.fixture
def e101(db):
    return FaultCode.objects.create(
        code="E101", title_en="Laser power low", title_zh="激光功率低", severity="major"
    )


@pytest.fixture
def wang_ticket(open_ticket, make_customer, make_org, make_unit, e101, queue_setup):
    org = make_org("苏州精工激光有限公司", name_en="Suzhou Precision Laser")
    wang = make_customer(org, email=EMAIL, full_name=NAME)
    ticket = open_ticket(
        wang,
        unit=make_unit(org),
        subject="Porosity in stainless seams",
        body=CHINESE_BODY,
        fault_report={"fault_code": e101},
    )
    agent = queue_setup[2][0]
    svc.ticket_reply(ticket=ticket, author=agent, body=NOTE, internal=True)
    return ticket


@pytest.fixture
def bystander(open_ticket, make_customer):
    """A ticket of the same region that none of the searches below should find."""
    return open_ticket(
        make_customer(email="li.na@other.example", full_name="李娜"),
        subject="Cooling alarm",
        body="The chiller beeps twice an hour.",
    )


# ------------------------------------------------------------------- terms


def test_text_is_cut_into_words_pairs_and_whole_chunks():
    assert search_terms.terms("Ｅ101 Nozzle, the LENS") == {"e101", "nozzle", "lens"}
    assert search_terms.terms(NAME) == {"王建", "建国"}
    assert search_terms.terms(NAME, unigrams=True) == {"王建", "建国", "王", "建", "国"}
    assert {EMAIL, "wang.jianguo", "wang", "jianguo", "hanwei"} <= search_terms.terms(
        f"mail {EMAIL}."
    )
    assert search_terms.query_terms("wang.jianguo") == ["wang.jianguo"]
    assert search_terms.query_terms("功率不稳 E101") == ["功率", "率不", "不稳", "e101"]
    assert search_terms.query_terms("王") == ["王"]
    # Nothing searchable: punctuation, control characters, only common words.
    for text in ("!!!  ...", "\x00\x01", "the and of", ""):
        assert search_terms.query_terms(text) == []


# ------------------------------------------------------------------- every kind of term


@pytest.mark.parametrize(
    "typed",
    [
        "{reference}",
        "{reference_lower}",
        "{year_number}",
        "{number}",
        "{serial}",
        "E101",
        "e101",
        "精工激光",
        "Suzhou precision",
        NAME,
        "王",
        "wang.jianguo",
        EMAIL.upper(),
        "porosity",
        "STAINLESS seams",
        "功率不稳定",
        "焊缝出现大量气孔",
        "collimator",
        "chiller lens",
        "wang e101 功率",
    ],
)
def test_every_kind_of_term_finds_the_ticket(agent_client, wang_ticket, bystander, typed):
    client, _me = agent_client
    ref = wang_ticket.reference
    typed = typed.format(
        reference=ref,
        reference_lower=ref.lower(),
        year_number=ref.split("-", 1)[1],
        number=ref.rsplit("-", 1)[1],
        serial=wang_ticket.unit.serial_number,
    )
    found = listed(client.get(CHANGELIST, {"q": typed}))
    assert found == [ref], (typed, found)


def test_every_term_must_match(agent_client, wang_ticket, bystander):
    client, _me = agent_client
    assert listed(client.get(CHANGELIST, {"q": "chiller"})) == [
        bystander.reference,
        wang_ticket.reference,
    ] or set(listed(client.get(CHANGELIST, {"q": "chiller"}))) == {
        bystander.reference,
        wang_ticket.reference,
    }
    assert listed(client.get(CHANGELIST, {"q": "chiller collimator"})) == [wang_ticket.reference]
    assert listed(client.get(CHANGELIST, {"q": "chiller 王建国"})) == [wang_ticket.reference]
    assert listed(client.get(CHANGELIST, {"q": "porosity nonexistentword"})) == []


def test_the_search_form_posts_and_finds_by_name(agent_client, wang_ticket, bystander):
    client, _me = agent_client
    response = client.post(
        "/admin/search/", {"_changelist": "tickets.ticket", "q": NAME}, follow=True
    )
    assert listed(response) == [wang_ticket.reference]
    assert NAME not in response.redirect_chain[-1][0]


def test_internal_notes_count_only_for_staff(wang_ticket):
    everyone = Ticket.objects.all()
    assert list(search.search_tickets(everyone, "collimator")) == [wang_ticket]
    assert list(search.search_tickets(everyone, "collimator", internal=False)) == []
    assert list(search.search_tickets(everyone, "气孔", internal=False)) == [wang_ticket]


def test_the_portal_and_api_search_the_same_index(wang_ticket, bystander, make_staff):
    """tickets.selectors.ticket_list (the portal's and the API's `?q=`) searches the index as
    the workspace box does: a word of a message, the requester's e-mail, a serial number; the
    customer never by the words of an internal note."""
    from tickets import selectors

    customer = wang_ticket.requester
    agent = make_staff(regions=list(Region.objects.all()))
    for typed in ("气孔", EMAIL, wang_ticket.unit.serial_number, "stainless seams"):
        for who in (customer, agent):
            assert list(selectors.ticket_list(user=who, search=typed)) == [wang_ticket], typed
    assert list(selectors.ticket_list(user=agent, search="collimator")) == [wang_ticket]
    assert list(selectors.ticket_list(user=customer, search="collimator")) == []
    assert list(selectors.ticket_list(user=agent, search="chiller beeps")) == [bystander]


# ------------------------------------------------------------------- references


def test_a_bare_number_means_a_reference_only_when_one_ticket_has_it(
    agent_client, open_ticket, make_customer, make_org
):
    client, _me = agent_client
    # No number in the names: "1" must stand for nothing but a reference.
    customer = make_customer(make_org("Hengrui"), full_name="Hengrui Buyer")
    this_year = [open_ticket(customer, subject="Lens", body="Dirty lens.") for _n in range(6)]
    sixth = this_year[5]
    assert sixth.reference.endswith("-000006")
    assert listed(client.get(CHANGELIST, {"q": "6"})) == [sixth.reference]
    assert listed(client.get(CHANGELIST, {"q": "000006"})) == [sixth.reference]
    # A ticket numbered 1 last year too: "1" is ambiguous and matches no reference.
    last_year = open_ticket(customer, subject="Old lens", body="Dirty.", now=at(2025, 5, 1, 9))
    assert last_year.reference == "WD-2025-000001"
    assert listed(client.get(CHANGELIST, {"q": "1"})) == []
    assert set(listed(client.get(CHANGELIST, {"q": "000001"}))) == {
        last_year.reference,
        this_year[0].reference,
    }
    assert listed(client.get(CHANGELIST, {"q": "2025-000001"})) == [last_year.reference]
    # A number that is also a word of a message: found there, never as reference 000016.
    mention = svc.ticket_reply(ticket=this_year[1], author=customer, body="Error 16 twice.")
    assert listed(client.get(CHANGELIST, {"q": "16"})) == [mention.ticket.reference]


def test_reference_and_serial_matches_rank_above_a_mention_in_a_message(
    agent_client, open_ticket, make_customer
):
    client, _me = agent_client
    customer = make_customer()
    first = open_ticket(customer, subject="Spatter", body="Spatter everywhere.")
    second = open_ticket(customer, subject="Lens", body=f"Same as {first.reference}?")
    third = open_ticket(
        customer, subject="Feeder", body=f"Unit {first.unit.serial_number} again, see 000002"
    )
    # Newest first would put the mentions first; the rank puts the reference first.
    assert listed(client.get(CHANGELIST, {"q": first.reference})) == [
        first.reference,
        second.reference,
    ]
    assert listed(client.get(CHANGELIST, {"q": first.unit.serial_number})) == [
        first.reference,
        third.reference,
    ]
    assert listed(client.get(CHANGELIST, {"q": "000002"})) == [second.reference, third.reference]
    # A column sort still wins when the agent asks for one.
    by_ref = listed(client.get(CHANGELIST, {"q": first.reference, "o": "1"}))
    assert by_ref == sorted(by_ref)


# ------------------------------------------------------------------- pages and budgets


def test_pages_and_query_count_with_1_and_50_matches(
    agent_client, open_ticket, make_customer, django_assert_num_queries
):
    client, _me = agent_client
    customer = make_customer()
    open_ticket(customer, subject="Nozzle clogged", body="喷嘴堵塞")
    client.get(CHANGELIST, {"q": "nozzle 喷嘴"})  # warm the per-process caches
    with CaptureQueriesContext(connection) as one:
        assert len(listed(client.get(CHANGELIST, {"q": "nozzle 喷嘴"}))) == 1
    for n in range(55):
        open_ticket(customer, subject=f"Nozzle clogged again {n}", body="喷嘴又堵塞了")
    with django_assert_num_queries(len(one)):
        response = client.get(CHANGELIST, {"q": "nozzle 喷嘴"})
    assert len(listed(response)) == 50
    cl = response.context["cl"]
    assert cl.result_count == 56 and cl.multi_page
    second = listed(client.get(CHANGELIST, {"q": "nozzle 喷嘴", "p": "2"}))
    assert len(second) == 6 and not set(second) & set(listed(response))


def test_a_ranked_page_and_its_count_come_from_one_statement(
    agent_client, open_ticket, make_customer
):
    """The count of a search in rank order rides on the page's own statement (a window
    over the matches); only a column sort, or a page past the end, counts apart."""
    client, _me = agent_client
    customer = make_customer()
    for n in range(53):
        open_ticket(customer, subject=f"Nozzle clogged {n}", body="喷嘴堵塞")
    with CaptureQueriesContext(connection) as ranked:
        assert len(listed(client.get(CHANGELIST, {"q": "nozzle 喷嘴", "p": "2"}))) == 3
    statements = [q["sql"].upper() for q in ranked.captured_queries]
    assert sum("COUNT(*) OVER ()" in sql for sql in statements) == 1
    assert not any("SELECT COUNT(" in sql for sql in statements)
    with CaptureQueriesContext(connection) as by_column:
        assert len(listed(client.get(CHANGELIST, {"q": "nozzle 喷嘴", "o": "1"}))) == 50
    statements = [q["sql"].upper() for q in by_column.captured_queries]
    assert not any("OVER ()" in sql for sql in statements)
    assert sum("SELECT COUNT(" in sql for sql in statements) == 1


def test_a_single_page_of_matches_is_read_by_its_keys(agent_client, wang_ticket, bystander):
    """Django lists a single page as the whole queryset; a ranked search reads the rows of the
    keys it found with the count (`id IN (...)`: PostgreSQL then plans for those rows, not for
    every ticket the terms might match), and nothing at all when nothing matched."""
    client, _me = agent_client
    client.get(CHANGELIST, {"q": NAME})  # warm the per-process caches
    with CaptureQueriesContext(connection) as found:
        assert listed(client.get(CHANGELIST, {"q": NAME})) == [wang_ticket.reference]
    rows = [q["sql"] for q in found.captured_queries if '"tickets_ticket"."subject"' in q["sql"]]
    assert len(rows) == 1 and re.search(r'"tickets_ticket"\."id" IN \(\d+\)', rows[0])
    with CaptureQueriesContext(connection) as nothing:
        assert listed(client.get(CHANGELIST, {"q": "zzyzx"})) == []
    assert not any('"tickets_ticket"."subject"' in q["sql"] for q in nothing.captured_queries)
    # Nothing found: the ranked statement alone answers the count (0) and the empty page.
    assert len(nothing) == len(found) - 1


def test_a_ranking_holds_only_for_the_list_it_was_searched_in(open_ticket, make_customer):
    customer = make_customer()
    first = open_ticket(customer, subject="Nozzle clogged", body="喷嘴堵塞")
    second = open_ticket(customer, subject="Nozzle worn", body="喷嘴磨损")
    found = search.search_tickets(Ticket.objects.all(), "nozzle").order_by("search_rank", "-pk")
    assert search.ranking_of(found) is not None
    # Filtered after the search, or sorted otherwise: paged as any list, never by the stale
    # ranking (which would list tickets the later filter excluded).
    narrowed = found.filter(pk=first.pk)
    assert search.ranking_of(narrowed) is None
    assert search.ranking_of(found.order_by("-created_at")) is None
    assert search.ranking_of(found.order_by("-pk")).newest  # the API's and portal's lists
    paginator = search.RankedPaginator(narrowed, 50)
    assert paginator.count == 1 and list(paginator.page(1).object_list) == [first]
    assert search.RankedPaginator(found, 50).count == 2
    assert {t.pk for t in search.RankedPaginator(found, 50).page(1).object_list} == {
        first.pk,
        second.pk,
    }


# ------------------------------------------------------------------- what is stored


def test_the_index_holds_keyed_hashes_not_text(wang_ticket):
    rows = list(SearchTerm.objects.filter(ticket=wang_ticket).values_list("term", "source"))
    assert rows and all(isinstance(term, int) for term, _source in rows)
    stored = {term for term, _source in rows}
    assert search_terms.term_hash("建国") in stored
    assert search_terms.term_hash("collimator") in stored
    # Its own key purpose: not the e-mail blind index's value, nor a plain hash of the term.
    assert int(crypto.keyed_hash("email", EMAIL)[:16], 16) not in stored
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tickets_searchterm")
        dump = repr(cursor.fetchall())
    for plain in (NAME, "王建", "wang", "jianguo", "collimator", "气孔", "porosity"):
        assert plain not in dump
    sources = {source for _term, source in rows}
    assert set(TermSource.values) == sources


# ------------------------------------------------------------------- kept up to date


def test_changes_of_subject_name_organisation_and_replies_reach_the_index(
    agent_client, wang_ticket, queue_setup
):
    client, _me = agent_client
    agent = queue_setup[2][0]
    svc.ticket_update(ticket=wang_ticket, actor=agent, subject="Spatter on galvanised sheet")
    assert listed(client.get(CHANGELIST, {"q": "galvanised"})) == [wang_ticket.reference]
    assert listed(client.get(CHANGELIST, {"q": "porosity"})) == []
    user_update_profile(user=wang_ticket.requester, actor=agent, full_name="王建军")
    assert listed(client.get(CHANGELIST, {"q": "王建军"})) == [wang_ticket.reference]
    assert listed(client.get(CHANGELIST, {"q": "王建国"})) == []
    organisation_update(organisation=wang_ticket.organisation, actor=None, name="无锡光电")
    assert listed(client.get(CHANGELIST, {"q": "无锡光电"})) == [wang_ticket.reference]
    svc.ticket_reply(ticket=wang_ticket, author=agent, body="Please send a photo of the seam.")
    assert listed(client.get(CHANGELIST, {"q": "photo seam"})) == [wang_ticket.reference]


def test_a_new_serial_number_reaches_the_index(agent_client, wang_ticket):
    from equipment.services import unit_update

    client, _me = agent_client
    old = wang_ticket.unit.serial_number
    unit_update(unit=wang_ticket.unit, actor=None, serial_number="HW2000-RENAMED-1")
    assert listed(client.get(CHANGELIST, {"q": "hw2000-renamed-1"})) == [wang_ticket.reference]
    assert listed(client.get(CHANGELIST, {"q": old})) == []


def test_retention_takes_the_erased_messages_terms(wang_ticket, queue_setup):
    import datetime as dt

    from django.utils import timezone

    agent = queue_setup[2][0]
    svc.ticket_transition(ticket=wang_ticket, status="closed", actor=agent)
    everyone = Ticket.objects.all()
    assert list(search.search_tickets(everyone, "气孔")) == [wang_ticket]
    svc.tickets_expire(closed_before=timezone.now() + dt.timedelta(days=1), dry_run=False)
    assert list(search.search_tickets(everyone, "气孔")) == []
    # The agent's note is no customer text: it stays, and so do its terms.
    assert list(search.search_tickets(everyone, "collimator")) == [wang_ticket]


def test_merged_messages_are_found_on_the_ticket_they_moved_to(
    agent_client, open_ticket, make_customer, queue_setup
):
    client, _me = agent_client
    customer = make_customer()
    keep = open_ticket(customer, subject="Alarm", body="Alarm again.")
    dup = open_ticket(customer, subject="Alarm twice", body="Collimator overheating.")
    svc.ticket_merge(duplicates=[dup], into=keep, actor=queue_setup[2][0])
    assert listed(client.get(CHANGELIST, {"q": "collimator overheating"})) == [keep.reference]


# ------------------------------------------------------------------- erasure and rotation


def test_an_erasure_removes_the_persons_terms(agent_client, wang_ticket, make_staff, password):
    client, _me = agent_client
    customer = wang_ticket.requester
    officer = make_staff(roles=("compliance_officer",))
    before = set(SearchTerm.objects.filter(ticket=wang_ticket).values_list("term", flat=True))
    request = compliance.erasure_request(subject=customer, actor=customer, password=password)
    compliance.erasure_review(request=request, actor=officer, approve=True)
    after = set(SearchTerm.objects.filter(ticket=wang_ticket).values_list("term", flat=True))
    for gone in ("王建", "建国", "wang.jianguo", EMAIL, "jianguo", "气孔", "功率"):
        assert search_terms.term_hash(gone) in before
        assert search_terms.term_hash(gone) not in after, gone
    for typed in (NAME, "wang.jianguo", EMAIL, "焊缝出现大量气孔"):
        assert listed(client.get(CHANGELIST, {"q": typed})) == [], typed
    # The ticket itself, its unit and the agent's note are still found.
    assert listed(client.get(CHANGELIST, {"q": "collimator"})) == [wang_ticket.reference]
    assert listed(client.get(CHANGELIST, {"q": wang_ticket.reference})) == [wang_ticket.reference]


def test_a_new_key_and_a_rebuild_keep_search_working(
    agent_client, wang_ticket, bystander, settings, capsys
):
    client, _me = agent_client
    old = set(SearchTerm.objects.values_list("term", flat=True))
    settings.BLIND_INDEX_KEY = "f" * 64
    assert listed(client.get(CHANGELIST, {"q": NAME})) == []  # old hashes, new key
    call_command("rebuild_search_index", "--batch-size", "1")
    out = capsys.readouterr()
    assert "tickets: 2 rows indexed" in out.out and "tickets" in out.err  # progress bar
    new = set(SearchTerm.objects.values_list("term", flat=True))
    assert new and not new & old
    for typed in (NAME, "wang.jianguo", "E101", "collimator", "气孔", wang_ticket.reference):
        assert listed(client.get(CHANGELIST, {"q": typed})) == [wang_ticket.reference], typed


# ------------------------------------------------------------------- scope and bad input


def test_other_regions_tickets_never_appear(staff_client, wang_ticket):
    client, _north = staff_client(regions=[Region.objects.get(code="north")])
    for typed in (NAME, wang_ticket.reference, "E101", "collimator"):
        assert listed(client.get(CHANGELIST, {"q": typed})) == []
    # Not even as the one holder of a bare reference number.
    number = str(int(wang_ticket.reference.rsplit("-", 1)[1]))
    assert listed(client.get(CHANGELIST, {"q": number})) == []


def test_api_and_portal_pages_keep_the_scope(
    client, make_staff, wang_ticket, bystander, open_ticket
):
    """The API's and the portal's search lists, paged from the index's keys: an agent of
    another region finds nothing (nor counts it), the customer never by an internal note's
    words, and a page lists the newest matches first with the whole count."""
    from testsupport import sign_in

    for n in range(3):
        open_ticket(wang_ticket.requester, subject=f"Porosity again {n}", body="气孔")
    sign_in(client, make_staff(regions=[Region.objects.get(code="north")]))
    for typed in (NAME, wang_ticket.reference, "collimator", "气孔"):
        body = client.get("/api/v1/tickets/", {"q": typed}).json()
        assert body["count"] == 0 and body["results"] == [], typed
    client.logout()
    sign_in(client, make_staff(regions=[Region.objects.get(code="east")]))
    body = client.get("/api/v1/tickets/", {"q": "collimator"}).json()
    assert [row["reference"] for row in body["results"]] == [wang_ticket.reference]
    body = client.get("/api/v1/tickets/", {"q": "气孔", "page_size": 2, "page": 2}).json()
    found = Ticket.objects.filter(search_terms__term=search_terms.term_hash("气孔")).distinct()
    newest = list(found.order_by("-pk").values_list("reference", flat=True))
    assert body["count"] == 4 and [r["reference"] for r in body["results"]] == newest[2:4]
    client.logout()
    sign_in(client, wang_ticket.requester)
    assert client.get("/api/v1/tickets/", {"q": "collimator"}).json()["count"] == 0
    page = client.get("/portal/tickets/", {"q": "collimator", "state": "all"}).context["page"]
    assert page.paginator.count == 0 and list(page.object_list) == []
    page = client.get("/portal/tickets/", {"q": "气孔", "state": "all"}).context["page"]
    assert page.paginator.count == 4 and [t.reference for t in page.object_list] == newest
    assert bystander.reference not in newest


def test_an_organisation_moving_region_moves_its_tickets_search_scope(
    client, make_staff, wang_ticket
):
    """The region scope is the ticket's organisation's region read at search time (the
    index holds no region: nothing to rewrite when an organisation moves)."""
    from testsupport import sign_in

    east = make_staff(regions=[Region.objects.get(code="east")])
    north = make_staff(regions=[Region.objects.get(code="north")])
    organisation_update(
        organisation=wang_ticket.organisation, actor=None, region=Region.objects.get(code="north")
    )
    for agent, expected in ((east, 0), (north, 1)):
        sign_in(client, agent)
        for typed in ("collimator", NAME):
            assert client.get("/api/v1/tickets/", {"q": typed}).json()["count"] == expected
        client.logout()


@pytest.mark.parametrize(
    "typed", ["x" * 5000, "王" * 300, "\x00", "abc\x00def", "!!! ... ???", "@@@", "the of and"]
)
def test_bad_input_is_an_empty_list_never_an_error(agent_client, wang_ticket, typed):
    client, _me = agent_client
    response = client.get(CHANGELIST, {"q": typed})
    if "\x00" in typed:
        # The desk refuses NUL in any parameter, before the list (a 400 with a reason).
        assert response.status_code == 400
    else:
        assert listed(response) == []
    assert search.search_tickets(Ticket.objects.all(), typed[:200]).count() == 0
    posted = client.post("/admin/search/", {"_changelist": "tickets.ticket", "q": typed})
    assert posted.status_code in (303, 302, 400)
    if len(typed) > search.MAX_QUERY_LENGTH:
        text = response.content.decode()
        assert re.search(r"at most \d+ characters", text), "the too-long term is explained"


def test_a_demo_desk_seeded_before_the_index_gets_it_filled(db, settings):
    """`make run` on a desk seeded by an earlier version: the seeder fills the empty index."""
    settings.DEBUG = True
    call_command("seed_demo", stdout=None)
    ticket = Ticket.objects.order_by("pk").first()
    SearchTerm.objects.all().delete()  # as after migrating a desk seeded before the index
    call_command("seed_demo", stdout=None)
    from tickets.services.search_index import reference_terms

    hashes = search_terms.hashes(reference_terms(ticket.reference))
    assert SearchTerm.objects.filter(ticket=ticket, term__in=hashes).exists()
