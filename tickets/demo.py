"""Demo calendar, SLA policies, queues and a few tickets in different states."""

from __future__ import annotations

from accounts.models import Region
from accounts.selectors import user_by_email
from equipment.models import Unit
from tickets.defaults import ensure_calendar, ensure_policies
from tickets.models import (
    CannedResponse,
    Queue,
    QueueMember,
    SavedView,
    SearchTerm,
    Status,
    Ticket,
)
from tickets.services import search_index
from tickets.services import tickets as svc
from tickets.services.views import saved_view_create

QUEUES = [
    # slug, name, Chinese name, region, product line, agents, supervisor
    (
        "east-handheld",
        "East China · handheld",
        "华东 · 手持焊机",
        "east",
        "handheld",
        ["li.na@welddesk.example", "daniel.wu@welddesk.example"],
        "zhang.wei@welddesk.example",
    ),
    (
        "robotic",
        "Robotic cells (all regions)",
        "机器人工作站（全部区域）",
        None,
        "robotic",
        ["daniel.wu@welddesk.example"],
        "zhang.wei@welddesk.example",
    ),
    (
        "general",
        "General (all regions)",
        "综合（全部区域）",
        None,
        "",
        ["zhou.min@welddesk.example", "daniel.wu@welddesk.example"],
        "zhang.wei@welddesk.example",
    ),
]
CANNED = [
    (
        "Ask for photos",
        "请提供照片",
        "Hello {requester_name}, please send a photo of the seam and of the "
        "protective lens so we can check {reference} quickly. — {agent_name}",
        "{requester_name}您好，请发送焊缝和保护镜片的照片，"
        "以便我们尽快处理{reference}。— {agent_name}",
    ),
    (
        "Lens cleaning steps",
        "镜片清洁步骤",
        "Hello {requester_name}, please clean the protective lens with "
        "lint-free wipes and alcohol, then run a test seam. Tell us the result in {reference}.",
        "{requester_name}您好，请用无尘布和酒精清洁保护镜片后试焊，并在{reference}中告诉我们结果。",
    ),
]
TICKETS = [
    (
        "wang.jianguo@hengrui-weld.example",
        "HW2000-2025-0101",
        1,
        "fault",
        "焊缝气孔严重，产线停机",
        "今天早上开始所有不锈钢焊缝都有气孔，已更换气瓶仍无改善。",
        None,
    ),
    (
        "chen.zhiqiang@jinchuan-hw.example",
        "HW1500-2024-0420",
        3,
        "fault",
        "送丝机经常卡丝",
        "每焊接约20分钟就卡丝一次，请派工程师。",
        Status.WAITING,
    ),
    (
        "emma.schulz@beichen-heavy.example",
        "RC6000-2025-0031",
        2,
        "fault",
        "Robot cell stops with E512 interlock",
        "The cell stops every hour with E512.",
        None,
    ),
    (
        "zhao.lei@beichen-heavy.example",
        None,
        4,
        "shipping",
        "备件发货查询",
        "上周订购的保护镜片什么时候发货？",
        Status.RESOLVED,
    ),
]


# Saved views of the ticket list for the demo agents: (agent, name, query).
VIEWS = [
    ("li.na@welddesk.example", "我的工单（按优先级）", "assigned=mine&o=priority"),
    ("li.na@welddesk.example", "等待备件", "status__exact=on_hold"),
    ("daniel.wu@welddesk.example", "My tickets by priority", "assigned=mine&o=priority"),
    ("daniel.wu@welddesk.example", "Awaiting parts", "status__exact=on_hold"),
]
VIEW_PARAMETERS = {"assigned", "status__exact", "priority__exact", "queue__id__exact"}


def _seed_views() -> int:
    created = 0
    for email, name, query in VIEWS:
        agent = user_by_email(email)
        if agent is None or SavedView.objects.filter(owner=agent, name=name).exists():
            continue
        saved_view_create(owner=agent, name=name, query=query, allowed=VIEW_PARAMETERS)
        created += 1
    return created


def seed() -> int:
    created = 0
    calendar = ensure_calendar()
    ensure_policies(calendar)
    for slug, name, name_zh, region, line, agents, supervisor in QUEUES:
        queue, was_created = Queue.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "name_zh": name_zh,
                "region": Region.objects.filter(code=region).first() if region else None,
                "product_line": line,
                "supervisor": user_by_email(supervisor),
            },
        )
        created += was_created
        for email in agents:
            agent = user_by_email(email)
            if agent is not None:
                QueueMember.objects.get_or_create(queue=queue, agent=agent)
    for title, title_zh, en, zh in CANNED:
        created += CannedResponse.objects.get_or_create(
            title=title, defaults={"title_zh": title_zh, "body_en": en, "body_zh": zh}
        )[1]
    created += _seed_views()
    if Ticket.objects.exists():
        # A demo desk seeded before the search index existed: fill it once, so the agents'
        # search finds its tickets (production runs `manage.py rebuild_search_index`).
        if not SearchTerm.objects.exists():
            search_index.rebuild()
        return created
    agent = user_by_email("daniel.wu@welddesk.example")
    for email, serial, priority, kind, subject, body, status in TICKETS:
        requester = user_by_email(email)
        if requester is None:
            continue
        ticket = svc.ticket_open(
            actor=requester,
            organisation=requester.organisation,
            requester=requester,
            subject=subject,
            body=body,
            unit=Unit.objects.filter(serial_number=serial).first() if serial else None,
            priority=priority,
            kind=kind,
        )
        created += 1
        if status and agent is not None:
            svc.ticket_reply(ticket=ticket, author=agent, body="我们已收到，正在处理。")
            svc.ticket_transition(ticket=ticket, status=status, actor=agent)
    return created
