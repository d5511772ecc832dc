"""The workspace socket: who may connect, region-scoped events after commit, presence."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from testsupport import sign_in
from tickets.services import escalation
from tickets.services import tickets as svc
from tickets.tests.conftest import at

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    """The test's sync_to_async calls run in asgiref's worker thread: close its connection."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


def socket(client: Client | None) -> WebsocketCommunicator:
    from servicedesk.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, "/ws/workspace/", headers=headers)


async def joined(user) -> WebsocketCommunicator:
    client = Client()
    await sync_to_async(sign_in)(client, user)
    ws = socket(client)
    connected, code = await ws.connect()
    assert connected, code
    return ws


async def frame_of(ws, kind: str, limit: int = 10) -> dict:
    for _ in range(limit):
        frame = await ws.receive_json_from(timeout=3)
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


async def state_of(ws, state: str, limit: int = 10) -> dict:
    for _ in range(limit):
        frame = await frame_of(ws, "presence")
        if frame["state"] == state:
            return frame
    raise AssertionError(f"no presence {state}")


@pytest.fixture
def desk(queue_setup, make_customer, make_staff, make_unit, sla_setup):
    """An East China customer; an East agent, a North agent, a supervisor (every region)."""
    from accounts.models import Region

    _queue, supervisor, agents = queue_setup
    customer = make_customer()
    return {
        "customer": customer,
        "unit": make_unit(customer.organisation),
        "east": agents[0],
        "east2": agents[1],
        "north": make_staff(regions=[Region.objects.get(code="north")], full_name="North Agent"),
        "supervisor": supervisor,
    }


def _open(desk, **fields):
    customer = desk["customer"]
    return svc.ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        unit=desk["unit"],
        subject=fields.pop("subject", "Porosity in stainless seams"),
        body="Every seam shows pores.",
        **fields,
    )


# ------------------------------------------------------------------- who may connect


async def test_anonymous_sockets_are_refused_by_the_gate(desk):
    connected, code = await socket(None).connect()
    assert not connected and code == 4401


async def test_customers_are_refused(desk):
    client = Client()
    await sync_to_async(sign_in)(client, desk["customer"])
    connected, code = await socket(client).connect()
    assert not connected and code == 4404


async def test_staff_without_a_second_factor_are_refused(desk):
    client = Client()
    await sync_to_async(sign_in)(client, desk["east"], verified=False)
    connected, code = await socket(client).connect()
    assert not connected and code == 4403


# ------------------------------------------------------------------- events


async def test_a_new_ticket_reaches_its_region_and_the_supervisor_only(desk):
    east, north, lead = [await joined(desk[k]) for k in ("east", "north", "supervisor")]
    ticket = await sync_to_async(_open)(desk)
    for ws in (east, lead):
        frame = await frame_of(ws, "tickets")
        assert frame == {"type": "tickets", "ids": [ticket.pk], "what": "opened", "v": 1}
    assert await north.receive_nothing(timeout=0.3)
    for ws in (east, north, lead):
        await ws.disconnect()


async def test_changes_say_what_changed_and_carry_no_content(desk):
    ws = await joined(desk["east"])
    ticket = await sync_to_async(_open)(desk)
    await frame_of(ws, "tickets")
    await sync_to_async(svc.ticket_reply)(ticket=ticket, author=desk["customer"], body="Still.")
    frame = await frame_of(ws, "tickets")
    assert frame["what"] == "message" and frame["ids"] == [ticket.pk]
    assert set(frame) == {"type", "ids", "what", "v"}  # ids and versions: no subject, no body
    await sync_to_async(svc.ticket_transition)(ticket=ticket, status="waiting", actor=desk["east"])
    assert (await frame_of(ws, "tickets"))["what"] == "status"
    await ws.disconnect()


async def test_nothing_is_sent_before_commit_nor_for_a_rolled_back_change(desk):
    ws = await joined(desk["east"])
    holding, release = threading.Event(), threading.Event()
    result = {}

    def open_in_a_transaction(commit: bool) -> None:
        try:
            with transaction.atomic():
                result["ticket"] = _open(desk)
                holding.set()
                release.wait(5)
                if not commit:
                    raise RuntimeError("roll back")
        except RuntimeError:
            pass
        finally:
            from django.db import connection

            connection.close()

    loop = asyncio.get_running_loop()
    done = loop.run_in_executor(None, open_in_a_transaction, False)
    await loop.run_in_executor(None, holding.wait, 5)
    assert await ws.receive_nothing(timeout=0.3)  # written, not committed: nothing yet
    release.set()
    await done
    assert await ws.receive_nothing(timeout=0.3)  # rolled back: never

    holding.clear(), release.clear()
    done = loop.run_in_executor(None, open_in_a_transaction, True)
    await loop.run_in_executor(None, holding.wait, 5)
    assert await ws.receive_nothing(timeout=0.3)
    release.set()
    await done
    frame = await frame_of(ws, "tickets")
    assert frame["ids"] == [result["ticket"].pk]
    await ws.disconnect()


async def test_the_sla_scan_tells_the_region_which_tickets_breached(desk):
    ws = await joined(desk["east"])
    north = await joined(desk["north"])
    ticket = await sync_to_async(_open)(desk, priority=1)
    await frame_of(ws, "tickets")
    counts = await sync_to_async(escalation.sla_scan)(now=at(2030, 1, 1, 12, 0))
    assert counts["breaches"] >= 1
    frame = await frame_of(ws, "tickets")
    assert frame == {"type": "tickets", "ids": [ticket.pk], "what": "sla"}
    assert await north.receive_nothing(timeout=0.3)
    await ws.disconnect()
    await north.disconnect()


# ------------------------------------------------------------------- presence


async def test_viewing_and_replying_are_seen_by_both_and_gone_on_leaving(desk):
    ticket = await sync_to_async(_open)(desk)
    a = await joined(desk["east"])
    await a.send_json_to({"type": "watch", "ticket": ticket.pk})
    assert await frame_of(a, "watching") == {"type": "watching", "ticket": ticket.pk}
    b = await joined(desk["east2"])
    await b.send_json_to({"type": "watch", "ticket": ticket.pk})
    seen_by_a = await frame_of(a, "presence")
    assert seen_by_a == {
        "type": "presence",
        "ticket": ticket.pk,
        "user": desk["east2"].pk,
        "name": desk["east2"].full_name,
        "state": "viewing",
    }
    seen_by_b = await frame_of(b, "presence")  # A answered B's hello
    assert (seen_by_b["user"], seen_by_b["state"]) == (desk["east"].pk, "viewing")

    await b.send_json_to({"type": "typing", "typing": True})
    # Delivery is at most once and a repeated state is harmless to the page: read on to it.
    assert (await state_of(a, "replying"))["user"] == desk["east2"].pk
    await b.send_json_to({"type": "typing", "typing": True})  # no change: nothing sent
    assert await a.receive_nothing(timeout=0.2)
    await b.disconnect()
    gone = await frame_of(a, "presence")
    assert (gone["user"], gone["state"]) == (desk["east2"].pk, "left")
    await a.disconnect()


async def test_an_agents_own_other_tab_is_not_someone_else(desk):
    ticket = await sync_to_async(_open)(desk)
    first, second = await joined(desk["east"]), await joined(desk["east"])
    for ws in (first, second):
        await ws.send_json_to({"type": "watch", "ticket": ticket.pk})
        await frame_of(ws, "watching")
    assert await first.receive_nothing(timeout=0.3)
    assert await second.receive_nothing(timeout=0.1)
    await first.disconnect()
    await second.disconnect()


async def test_a_ticket_of_another_region_cannot_be_watched(desk):
    ticket = await sync_to_async(_open)(desk)
    north = await joined(desk["north"])
    await north.send_json_to({"type": "watch", "ticket": ticket.pk})
    error = await frame_of(north, "error")
    assert error["code"] == "not_found"
    east = await joined(desk["east"])
    await east.send_json_to({"type": "watch", "ticket": ticket.pk})
    await frame_of(east, "watching")
    assert await north.receive_nothing(timeout=0.2)  # hears nothing of who views it
    await north.disconnect()
    await east.disconnect()


async def test_bad_frames_are_answered_and_the_socket_stays(desk):
    ws = await joined(desk["east"])
    await ws.send_to(text_data="not json")
    assert (await frame_of(ws, "error"))["code"] == "bad_frame"
    await ws.send_json_to({"type": "watch", "ticket": "1"})
    assert (await frame_of(ws, "error"))["code"] == "bad_frame"
    await ws.send_json_to({"type": "typing", "typing": True})
    assert (await frame_of(ws, "error"))["code"] == "not_watching"
    await ws.send_json_to({"type": "nope"})
    assert (await frame_of(ws, "error"))["code"] == "unknown_type"
    await ws.send_json_to({"type": "ping"})
    assert await frame_of(ws, "pong") == {"type": "pong"}
    await ws.disconnect()


# ------------------------------------------------------------------- on Redis


@pytest.mark.redis
async def test_events_and_presence_over_the_redis_layer(desk, settings):
    prefix = os.environ.get("CHANNEL_LAYER_PREFIX", "wd") + ":live-test"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "servicedesk.channel_layers.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]], "prefix": prefix},
        }
    }
    a = await joined(desk["east"])
    north = await joined(desk["north"])
    ticket = await sync_to_async(_open)(desk)
    assert (await frame_of(a, "tickets"))["ids"] == [ticket.pk]
    await a.send_json_to({"type": "watch", "ticket": ticket.pk})
    await frame_of(a, "watching")
    b = await joined(desk["east2"])
    await b.send_json_to({"type": "watch", "ticket": ticket.pk})
    assert (await frame_of(a, "presence"))["user"] == desk["east2"].pk
    assert (await frame_of(b, "presence"))["user"] == desk["east"].pk
    assert await north.receive_nothing(timeout=0.3)
    for ws in (a, b, north):
        await ws.disconnect()
