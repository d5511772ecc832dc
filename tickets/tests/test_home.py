"""The agents' home (issue 18, point 1): the admin index for staff who work tickets.

Blocks come from each app (core.home); each links to the filtered list showing its tickets.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Region
from chat.models import Conversation, ConversationStatus
from status.models import Incident, Severity
from testsupport import sign_in
from tickets import home_selectors
from tickets.models import Channel, QueueMember, Status, Survey, Ticket
from tickets.services import sla
from tickets.services.tickets import ticket_reply, ticket_transition

HOME = "/admin/"
CHANGELIST = "/admin/tickets/ticket/"


def blocks(response) -> dict:
    return {block.key: block for block in response.context["blocks"]}


def refs(block) -> set[str]:
    return {row.text.split(" · ")[0] for row in block.rows}


def listed(response) -> set[str]:
    return {t.reference for t in response.context["cl"].result_list}


def due_in(ticket: Ticket, minutes: float | None, **fields) -> Ticket:
    """Put the ticket's nearest running target `minutes` from now (None: nothing due soon),
    with its stored nearest due time kept as the SLA services keep it."""
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(
        first_responded_at=None,
        first_response_due=None if minutes is None else now + dt.timedelta(minutes=minutes),
        next_reply_due=None,
        resolution_due=now + dt.timedelta(days=5),
        sla_paused_at=None,
        **fields,
    )
    ticket.refresh_from_db()
    ticket.save(update_fields=sla.sla_track(ticket))
    return ticket


@pytest.fixture
def desk(client, queue_setup, open_ticket, make_customer, make_org, make_staff):
    """An East agent in the East queue, a colleague, and tickets of every kind."""
    queue, supervisor, (colleague, *_) = queue_setup
    me = make_staff(full_name="Lin Agent")
    QueueMember.objects.create(queue=queue, agent=me)
    mine_now = due_in(open_ticket(subject="mine, due in 30 min"), 30, assignee=me)
    mine_later = due_in(open_ticket(subject="mine, due in 3 h"), 180, assignee=me)
    others = due_in(open_ticket(subject="a colleague's"), 20, assignee=colleague)
    unassigned = due_in(open_ticket(subject="nobody's"), None, assignee=None)
    callback = due_in(
        open_ticket(subject="call me back"), None, assignee=None, channel=Channel.CALLBACK
    )
    # A West customer's ticket in the same queue: the East agent must not see it anywhere.
    south = make_customer(make_org(region="south"))
    foreign = due_in(
        open_ticket(south, subject="southern"),
        10,
        assignee=None,
        queue=queue,
        channel=Channel.CALLBACK,
    )
    sign_in(client, me)
    return {
        "client": client,
        "me": me,
        "queue": queue,
        "supervisor": supervisor,
        "colleague": colleague,
        "mine_now": mine_now,
        "mine_later": mine_later,
        "others": others,
        "unassigned": unassigned,
        "callback": callback,
        "foreign": foreign,
    }


def test_the_home_shows_my_work_and_hides_the_rest(desk):
    response = desk["client"].get(HOME)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/home.html"
    found = blocks(response)
    mine = found["tickets-mine"]
    # Mine only, the most urgent first.
    assert [row.text.split(" · ")[0] for row in mine.rows] == [
        desk["mine_now"].reference,
        desk["mine_later"].reference,
    ]
    assert mine.count == 2
    # Breaching within the hour: my 30-minute ticket and the colleague's (in my queue), not
    # the 3-hour one, nor the southern ticket (other region) due in 10 minutes.
    assert refs(found["tickets-hour"]) == {desk["mine_now"].reference, desk["others"].reference}
    assert refs(found["tickets-unassigned"]) == {
        desk["unassigned"].reference,
        desk["callback"].reference,
    }
    assert refs(found["tickets-callbacks"]) == {desk["callback"].reference}
    content = response.content.decode()
    assert desk["foreign"].reference not in content
    assert "southern" not in content
    # Agents do not see the per-agent load; the SLA colours are the workspace's.
    assert "tickets-load" not in found
    assert 'class="sla sla-' in content and 'class="prio prio-' in content
    assert 'href="/admin/models/"' in content


@pytest.mark.parametrize("kind", ["mine", "hour", "unassigned", "callbacks"])
def test_each_block_links_to_the_list_of_the_same_tickets(desk, kind):
    client = desk["client"]
    block = blocks(client.get(HOME))[f"tickets-{kind}"]
    assert block.link == f"{CHANGELIST}?work={kind}"
    response = client.get(block.link)
    assert response.status_code == 200
    assert listed(response) == refs(block)


def test_a_ticket_leaves_the_hour_block_when_its_clock_pauses_or_it_is_answered(desk):
    client = desk["client"]
    assert refs(blocks(client.get(HOME))["tickets-hour"]) == {
        desk["mine_now"].reference,
        desk["others"].reference,
    }
    ticket_transition(ticket=desk["mine_now"], status=Status.WAITING, actor=desk["me"])
    assert desk["mine_now"].reference not in refs(blocks(client.get(HOME))["tickets-hour"])
    # The first response stops that clock; the resolution is days away.
    ticket_reply(ticket=desk["others"], author=desk["colleague"], body="On our way.")
    assert refs(blocks(client.get(HOME))["tickets-hour"]) == set()


def test_a_block_counts_up_to_a_hundred_and_then_says_more(desk):
    client = desk["client"]
    home = client.get(HOME)
    assert blocks(home)["tickets-mine"].count == 2
    assert not blocks(home)["tickets-mine"].count_more
    _fill(desk, home_selectors.COUNT_CAP)  # 2 + 100 of mine
    response = client.get(HOME)
    mine = blocks(response)["tickets-mine"]
    assert (mine.count, mine.count_more) == (100, True)
    assert '<span class="home-count">100+</span>' in response.content.decode()
    # The list it links to holds them all.
    assert client.get(mine.link).context["cl"].result_count == 102


def test_a_block_shows_the_first_rows_of_the_list_it_links_to(desk):
    """The block and the list order alike (urgency: the nearest running due time first)."""
    client = desk["client"]
    _fill(desk, 6)
    Ticket.objects.filter(assignee=desk["me"]).update(sla_next_due=None)  # as if all paused
    for minutes, ticket in zip(
        (50, 5, 25), Ticket.objects.filter(assignee=desk["me"]).order_by("pk")[:3], strict=True
    ):
        due_in(ticket, minutes)
    block = blocks(client.get(HOME))["tickets-mine"]
    shown = [row.text.split(" · ")[0] for row in block.rows]
    listed_first = [
        t.reference for t in client.get(block.link).context["cl"].result_list[: len(shown)]
    ]
    assert shown == listed_first
    assert len(shown) == 5


def test_supervisors_see_their_queues_load_per_agent(client, desk):
    supervisor = desk["supervisor"]
    sign_in(client, supervisor)
    response = client.get(HOME)
    load = blocks(response)["tickets-load"]
    names = [row.text for row in load.rows]
    assert desk["me"].full_name in names and desk["colleague"].full_name in names
    mine = next(row for row in load.rows if row.text == desk["me"].full_name)
    # The link is the list of that agent's open tickets.
    listing = client.get(mine.url)
    assert listing.status_code == 200
    assert listed(listing) == {desk["mine_now"].reference, desk["mine_later"].reference}


def test_empty_blocks_say_so(client, make_staff):
    sign_in(client, make_staff(full_name="New Agent"))
    response = client.get(HOME)
    content = response.content.decode()
    for words in ("Nothing assigned to you.", "Nothing waiting.", "No active incidents."):
        assert words in content
    assert all(block.count in (0, None) for block in response.context["blocks"])


def test_the_home_renders_for_a_chinese_agent(client, make_staff):
    """The strings are wrapped for translation (the catalogue is the i18n engineer's): the page
    renders in zh-Hans and Django's own words are translated."""
    sign_in(client, make_staff(language="zh-hans"))
    response = client.get(HOME, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode()


def test_administrators_reach_the_model_index(client, make_staff):
    admin_user = make_staff(roles=(), is_superuser=True)
    sign_in(client, admin_user)
    home = client.get(HOME)
    assert home.status_code == 200 and 'href="/admin/models/"' in home.content.decode()
    models = client.get("/admin/models/")
    assert models.status_code == 200
    labels = {app["app_label"] for app in models.context["app_list"]}
    assert {"accounts", "tickets", "audit"} <= labels


def test_staff_who_do_not_work_tickets_keep_the_model_index(client, make_staff):
    officer = make_staff(roles=("compliance_officer",), regions=[])
    sign_in(client, officer)
    response = client.get(HOME)
    assert response.status_code == 200
    assert "app_list" in response.context and "blocks" not in response.context


def _fill(desk, n: int) -> None:
    """n rows for every block: mine (all due within the hour), unassigned callbacks in my
    queue, waiting chats, active incidents, answered surveys."""
    me, queue, template = desk["me"], desk["queue"], desk["unassigned"]
    now = timezone.now()
    start = Ticket.objects.count()
    copies = []
    for _ in range(n):
        for assignee, channel in ((me, Channel.PORTAL), (None, Channel.CALLBACK)):
            copy = Ticket.objects.get(pk=template.pk)
            copy.pk = None
            copy.reference = f"WD-2099-{start + len(copies):06d}"
            copy.assignee = assignee
            copy.channel = channel
            copy.first_response_due = now + dt.timedelta(minutes=30)
            copies.append(copy)
    Ticket.objects.bulk_create(copies)
    customer = template.requester
    Conversation.objects.bulk_create(
        Conversation(
            organisation=customer.organisation,
            customer=customer,
            queue=queue,
            status=ConversationStatus.WAITING,
        )
        for _ in range(n)
    )
    severity = Severity.objects.order_by("rank").first()
    Incident.objects.bulk_create(
        Incident(title_en=f"Outage {i}", title_zh=f"故障 {i}", severity=severity, created_by="t")
        for i in range(n)
    )
    Survey.objects.bulk_create(
        Survey(ticket=template, agent=me, queue=queue, rating=4, answered_at=now) for _ in range(n)
    )


def test_the_home_costs_the_same_queries_with_1_and_50_rows_per_block(desk):
    client = desk["client"]
    _fill(desk, 1)
    client.get(HOME)  # warm the per-process caches (SLA calendars, content types)
    with CaptureQueriesContext(connection) as one:
        first = client.get(HOME)
    _fill(desk, 49)
    with CaptureQueriesContext(connection) as fifty:
        second = client.get(HOME)
    counted = blocks(second)
    assert counted["tickets-mine"].count == 52  # 2 of the desk + 50
    assert counted["chat-waiting"].count == 50
    assert counted["status-incidents"].count == 50
    assert len(counted["tickets-mine"].rows) == 5
    assert blocks(first)["chat-waiting"].count == 1
    assert len(fifty.captured_queries) == len(one.captured_queries)
    assert len(one.captured_queries) <= 40
    print(f"home page: {len(one.captured_queries)} queries")  # noqa: T201


def test_a_supervisors_home_costs_the_same_with_1_and_50_agents(client, desk, make_staff):
    supervisor = desk["supervisor"]
    sign_in(client, supervisor)
    client.get(HOME)
    with CaptureQueriesContext(connection) as few:
        client.get(HOME)
    east = Region.objects.get(code="east")
    for _ in range(48):
        QueueMember.objects.create(queue=desk["queue"], agent=make_staff(regions=[east]))
    with CaptureQueriesContext(connection) as many:
        response = client.get(HOME)
    assert len(blocks(response)["tickets-load"].rows) == 52  # 3 + me + 48
    assert len(many.captured_queries) == len(few.captured_queries)


def test_every_block_link_answers(desk):
    """The chat, incident and survey links are admin lists with filters Django allows."""
    client = desk["client"]
    Survey.objects.create(
        ticket=desk["mine_now"],
        agent=desk["me"],
        queue=desk["queue"],
        rating=3,
        answered_at=timezone.now(),
    )
    found = blocks(client.get(HOME))
    for block in found.values():
        if block.link:
            assert client.get(block.link).status_code == 200, block.link
    surveys = client.get(found["tickets-csat"].link)
    assert [s.agent_id for s in surveys.context["cl"].result_list] == [desk["me"].pk]
    assert found["tickets-csat"].figure == "3.0 / 5"


def test_chats_and_incidents_blocks_show_only_what_is_mine_and_active(
    desk, make_customer, make_org
):
    client, queue = desk["client"], desk["queue"]
    east = desk["unassigned"].requester
    south = make_customer(make_org(region="south"))
    for customer in (east, south):
        Conversation.objects.create(
            organisation=customer.organisation,
            customer=customer,
            queue=queue,
            status=ConversationStatus.WAITING,
        )
    Conversation.objects.create(
        organisation=east.organisation, customer=east, queue=queue, status=ConversationStatus.ACTIVE
    )
    severity = Severity.objects.order_by("rank").first()
    Incident.objects.create(title_en="Hotline down", title_zh="热线中断", severity=severity)
    Incident.objects.create(
        title_en="Fixed yesterday", title_zh="昨日已修复", severity=severity, state="resolved"
    )
    found = blocks(client.get(HOME))
    chats = found["chat-waiting"]
    assert chats.count == 1 and [row.text for row in chats.rows] == [east.organisation.name]
    assert [row.text for row in found["status-incidents"].rows] == ["Hotline down"]
