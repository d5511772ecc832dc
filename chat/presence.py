"""Agent presence from heartbeats, automatic assignment of waiting chats, accept and transfer.

Routing gives the oldest waiting conversation of a queue to an online member of that queue
with the fewest active chats, below their capacity. It runs when a chat opens, when an agent
comes online or frees a slot, and from the periodic sweep.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.permissions import sees_region, staff_seeing_region
from audit.services import audit_record
from chat.models import AgentPresence, Conversation, ConversationStatus, PresenceState
from core import softcache
from core.errors import ApplicationError, Forbidden
from core.realtime import publish_on_commit
from tickets.selectors import assignable_agents, is_assignable, is_queue_member, queue_member_ids
from tickets.services.assignment import route_queue


def presence_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=settings.CHAT_PRESENCE_TIMEOUT_SECONDS)


def presence_beat(*, agent: Any, state: str = PresenceState.ONLINE) -> AgentPresence:
    """Record a heartbeat (online or away), or a goodbye (offline); route if now available."""
    if not agent.is_staff:
        raise Forbidden(_("Only agents have a chat presence."))
    if state not in PresenceState.values:
        raise ApplicationError(_("Unknown presence state."), code="bad_state")
    presence, _created = AgentPresence.objects.get_or_create(agent=agent)
    was = presence.state
    presence.state = state
    presence.last_seen = timezone.now()
    presence.save(update_fields=["state", "last_seen"])
    if state == PresenceState.ONLINE and was != PresenceState.ONLINE:
        assign_waiting()
    return presence


MAX_CAPACITY = 20


@transaction.atomic
def presence_configure(
    *, presence: AgentPresence, actor: Any, capacity: Any, standby: Any
) -> AgentPresence:
    """A supervisor sets an agent's chat capacity and standby duty (audited); a capacity
    change lets waiting chats be assigned at once."""
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise ApplicationError(_("Capacity is a whole number."), code="bad_capacity")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise ApplicationError(
            _("Capacity is between 1 and %(n)s chats.") % {"n": MAX_CAPACITY},
            fields={"capacity": [_("Between 1 and %(n)s.") % {"n": MAX_CAPACITY}]},
            code="bad_capacity",
        )
    locked = AgentPresence.objects.select_for_update().get(pk=presence.pk)
    changes = {
        name: value
        for name, value in (("capacity", capacity), ("standby", bool(standby)))
        if getattr(locked, name) != value
    }
    if not changes:
        return locked
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(changes))
    audit_record(action="chat.presence_configured", actor=actor, target=locked, changes=changes)
    if "capacity" in changes:
        transaction.on_commit(assign_waiting)
    return locked


def presence_sweep(*, now: dt.datetime | None = None) -> int:
    """Write offline for agents whose last heartbeat is older than the timeout."""
    now = now or timezone.now()
    return (
        AgentPresence.objects.exclude(state=PresenceState.OFFLINE)
        .filter(Q(last_seen__lt=now - presence_timeout()) | Q(last_seen=None))
        .update(state=PresenceState.OFFLINE)
    )


def _available(
    queue_id: int, region_id: int | None, now: dt.datetime
) -> list[tuple[int, int, int]]:
    """(active chats, agent id, capacity) of the queue's online members with a free slot who
    may see the customer's region (a nationwide queue holds agents of some regions only)."""
    members = queue_member_ids(queue_id=queue_id, active_only=True)
    online = AgentPresence.objects.filter(
        Q(agent_id__in=members),
        Q(agent_id__in=staff_seeing_region(region_id)),
        state=PresenceState.ONLINE,
        last_seen__gte=now - presence_timeout(),
    ).values_list("agent_id", "capacity")
    capacity = dict(online)
    if not capacity:
        return []
    load = dict(
        Conversation.objects.filter(status=ConversationStatus.ACTIVE, agent_id__in=list(capacity))
        .values_list("agent_id")
        .annotate(n=Count("pk"))
        .values_list("agent_id", "n")
    )
    return sorted(
        (load.get(agent, 0), agent, cap)
        for agent, cap in capacity.items()
        if load.get(agent, 0) < cap
    )


def has_free_agent(conversation: Conversation, *, now: dt.datetime) -> bool:
    """True if an online agent of the chat's queue who may see its region has a free slot."""
    if conversation.queue_id is None:
        return False
    region_id = conversation.organisation.region_id if conversation.organisation_id else None
    return bool(_available(conversation.queue_id, region_id, now))


def customer_can_chat_now(*, customer: Any, now: dt.datetime | None = None) -> bool:
    """True if a new chat of this customer would find an online agent with a free slot in
    the queue it would go to (their region's): a message from elsewhere (WeChat) then opens a
    chat; otherwise it waits in a ticket (outside hours no agent is online)."""
    if customer is None or customer.organisation_id is None:
        return False
    region_id = customer.organisation.region_id
    queue = route_queue(region_id=region_id, product_line="")
    return queue is not None and bool(_available(queue.pk, region_id, now or timezone.now()))


def assign_waiting(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Give waiting conversations, oldest first, to the least busy online agent of their queue."""
    now = now or timezone.now()
    assigned = 0
    with transaction.atomic():
        waiting = list(
            Conversation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organisation")
            .filter(status=ConversationStatus.WAITING, queue__isnull=False)
            .order_by("created_at", "pk")[:limit]
        )
        # Free slots per (queue, region): agents limited to regions serve only theirs. What
        # this pass hands out is counted per agent across all of them.
        free: dict[tuple[int, int | None], list[tuple[int, int, int]]] = {}
        given: dict[int, int] = {}
        for conversation in waiting:
            region_id = conversation.organisation.region_id if conversation.organisation else None
            key = (conversation.queue_id, region_id)
            if key not in free:
                free[key] = _available(conversation.queue_id, region_id, now)
            slots = [
                (load + given.get(agent, 0), agent, cap)
                for load, agent, cap in free[key]
                if load + given.get(agent, 0) < cap
            ]
            if not slots:
                continue
            _load, agent_id, _cap = min(slots)
            _assign(conversation, agent_id, actor="system:chat-routing")
            given[agent_id] = given.get(agent_id, 0) + 1
            assigned += 1
    return assigned


def _assign(conversation: Conversation, agent_id: int, *, actor: Any) -> None:
    previous = conversation.agent_id
    conversation.agent_id = agent_id
    conversation.status = ConversationStatus.ACTIVE
    fields = ["agent", "status"]
    # The first agent ends the customer's wait; a transfer is no new wait (nor a first take
    # of a chat accepted before accepted_at was recorded).
    if previous is None and conversation.accepted_at is None:
        conversation.accepted_at = timezone.now()
        fields.append("accepted_at")
    conversation.save(update_fields=fields)
    audit_record(
        action="chat.assigned",
        actor=actor,
        target=conversation,
        data={"agent": agent_id, "previous": previous},
    )
    publish_on_commit(
        f"chat.{conversation.pk}",
        {"type": "chat.event", "frame": {"type": "assigned", "agent": agent_id}},
    )


@transaction.atomic
def conversation_accept(*, conversation: Conversation, agent: Any) -> Conversation:
    """An agent of the conversation's queue takes a waiting chat."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.status != ConversationStatus.WAITING:
        raise ApplicationError(_("Someone has taken this chat already."), code="taken")
    if not is_queue_member(queue_id=locked.queue_id, agent=agent):
        raise Forbidden(_("This chat is not in one of your queues."))
    _assign(locked, agent.pk, actor=agent)
    return locked


def _region_id(conversation: Conversation) -> int | None:
    return conversation.organisation.region_id if conversation.organisation_id else None


@transaction.atomic
def conversation_transfer(*, conversation: Conversation, to_agent: Any, actor: Any) -> Conversation:
    """Hand an active chat to another agent of the same queue who may see the customer's
    region (a nationwide queue holds agents of some regions only, who could not join it)."""
    locked = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=conversation.pk)
    )
    if locked.status == ConversationStatus.CLOSED:
        raise ApplicationError(_("This conversation is closed."), code="closed")
    # Only an active desk agent of the chat's queue (never a compliance officer, an inactive
    # member or an administrator who does not work the desk): the console's picker's rule.
    if locked.queue_id is None or not is_assignable(queue_id=locked.queue_id, agent=to_agent):
        raise ApplicationError(_("Transfer to an agent of this chat's queue."), code="bad_agent")
    if not sees_region(to_agent, _region_id(locked)):
        raise ApplicationError(
            _("That agent does not work for this customer's region."), code="bad_agent"
        )
    _assign(locked, to_agent.pk, actor=actor)
    return locked


def transfer_agents(*, conversation: Conversation) -> list[Any]:
    """The agents a chat may be handed to (the console's picker): the active desk agents of its
    queue who may see its customer's region, the rule `conversation_transfer` applies."""
    if conversation.queue_id is None:
        return []
    allowed = staff_seeing_region(_region_id(conversation))
    return assignable_agents(queue_id=conversation.queue_id, among=allowed)


def queue_stats(*, now: dt.datetime | None = None) -> dict[str, float]:
    """Waiting conversations and the longest wait, for /metrics and surge alerts."""
    now = now or timezone.now()
    waiting = Conversation.objects.filter(status=ConversationStatus.WAITING)
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "waiting": waiting.count(),
        "longest_wait_seconds": (now - oldest).total_seconds() if oldest else 0.0,
    }


def chat_metrics():
    from prometheus_client.core import GaugeMetricFamily

    stats = queue_stats()
    waiting = GaugeMetricFamily("welddesk_chat_waiting", "Chats waiting for an agent.")
    waiting.add_metric([], stats["waiting"])
    yield waiting
    wait = GaugeMetricFamily(
        "welddesk_chat_longest_wait_seconds", "How long the oldest waiting chat has waited."
    )
    wait.add_metric([], stats["longest_wait_seconds"])
    yield wait


def surge_check(*, now: dt.datetime | None = None) -> int:
    """Call the standby roster when the waiting queue surges; return how many were told.

    A surge is CHAT_SURGE_WAITING chats waiting, or one waiting CHAT_SURGE_WAIT_SECONDS. Each
    standby agent who is not online gets an e-mail (and an SMS with a phone number: the
    message is urgent), in their language, through notifications; the roster is called at
    most once per repeat period.
    """
    from notifications.messages import Message, notify

    now = now or timezone.now()
    stats = queue_stats(now=now)
    surging = (
        stats["waiting"] >= settings.CHAT_SURGE_WAITING
        or stats["longest_wait_seconds"] >= settings.CHAT_SURGE_WAIT_SECONDS
    )
    if not surging:
        return 0
    period = int(now.timestamp()) // settings.CHAT_SURGE_REPEAT_SECONDS
    first = softcache.add(f"chat:surge:{period}", 1, timeout=settings.CHAT_SURGE_REPEAT_SECONDS)
    if not first:
        return 0  # this period's call went out already (or, with the cache down, is not known)
    standby = (
        AgentPresence.objects.filter(standby=True, agent__is_active=True)
        .exclude(state=PresenceState.ONLINE)
        .select_related("agent")
    )
    told = 0
    context = {
        "waiting": stats["waiting"],
        "minutes": int(stats["longest_wait_seconds"] // 60),
        "link": settings.SITE_URL + "/admin/chat/conversation/",
    }
    with transaction.atomic():
        for presence in standby:
            agent = presence.agent
            notify(
                to=agent,
                message=Message(
                    template="chat_surge",
                    key=f"chat-surge:{period}:{agent.pk}",
                    context=context,
                    urgent=True,
                ),
            )
            told += 1
        audit_record(
            action="chat.surge",
            actor="system:chat-routing",
            target_type="chat.queue",
            target_id="all",
            data={**stats, "told": told},
        )
    return told
