"""Reference data: the four severity grades and their response playbooks.

Created when missing after every migrate (and after test flushes); supervisors edit them in
the admin afterwards, and an existing grade is never overwritten.
"""

from __future__ import annotations

from status.models import PlaybookStep, Severity, StepKind

# key, rank, English, Chinese, when to use it (English, Chinese), update every (minutes),
# postmortem, steps (kind, English, Chinese)
SEVERITIES = [
    (
        "sev1",
        1,
        "Nationwide hotline down",
        "全国热线中断",
        "The hotline cannot be reached anywhere, or several channels are down at once.",
        "全国各地均无法接通热线，或多个渠道同时中断。",
        15,
        True,
        [
            (
                StepKind.PAGE,
                "Page the on-call telephony engineer and the duty manager.",
                "呼叫值班电话工程师和值班经理。",
            ),
            (
                StepKind.PAGE,
                "Call the carrier's enterprise support line and open a fault.",
                "致电运营商政企客服热线并报障。",
            ),
            (
                StepKind.BACKUP,
                "Switch the hotline number to the backup trunk.",
                "将热线号码切换到备用中继线。",
            ),
            (
                StepKind.BACKUP,
                "Bring in the mobile 4G/5G routers at every service centre.",
                "在各服务中心启用移动 4G/5G 路由器。",
            ),
            (
                StepKind.CHANNEL,
                "Put every available agent on the online chat.",
                "安排所有空闲客服接待在线咨询。",
            ),
            (
                StepKind.CHANNEL,
                "Turn on callback requests in the portal banner.",
                "在门户横幅中开启回电预约。",
            ),
            (
                StepKind.COMMUNICATE,
                "Publish an update every 15 minutes until resolved.",
                "每 15 分钟发布一次进展，直至解决。",
            ),
        ],
    ),
    (
        "sev2",
        2,
        "Regional hotline down",
        "区域热线中断",
        "One regional line is down or answers fewer than half of its calls.",
        "某区域热线中断，或接通率不足一半。",
        30,
        True,
        [
            (StepKind.PAGE, "Page the on-call telephony engineer.", "呼叫值班电话工程师。"),
            (
                StepKind.BACKUP,
                "Route the region's calls to a neighbouring region's line.",
                "将本区域来电转接到相邻区域的热线。",
            ),
            (
                StepKind.BACKUP,
                "Bring in the region's mobile 4G/5G router.",
                "启用本区域的移动 4G/5G 路由器。",
            ),
            (
                StepKind.CHANNEL,
                "Move two agents of the region to the online chat.",
                "调两名本区域客服接待在线咨询。",
            ),
            (
                StepKind.COMMUNICATE,
                "Publish an update every 30 minutes until resolved.",
                "每 30 分钟发布一次进展，直至解决。",
            ),
        ],
    ),
    (
        "sev3",
        3,
        "Degraded service",
        "服务降级",
        "A channel works but slowly or partly: long queues, answer rate under 90 %.",
        "渠道可用但缓慢或部分可用：排队时间长，接通率低于 90%。",
        60,
        False,
        [
            (StepKind.PAGE, "Tell the duty supervisor.", "通知值班主管。"),
            (
                StepKind.CHANNEL,
                "Point callers to the chat and the portal in the hold message.",
                "在等待提示音中引导来电客户使用在线咨询和客户门户。",
            ),
            (
                StepKind.COMMUNICATE,
                "Publish an update every hour until resolved.",
                "每小时发布一次进展，直至解决。",
            ),
        ],
    ),
    (
        "sev4",
        4,
        "Minor issue",
        "轻微问题",
        "A small fault customers may notice, with an easy way around it.",
        "客户可能注意到的小故障，且有简单的替代办法。",
        240,
        False,
        [
            (
                StepKind.COMMUNICATE,
                "Publish an update when the cause is known and when it is fixed.",
                "查明原因和修复后各发布一次进展。",
            )
        ],
    ),
]


def ensure_severities() -> int:
    """Create the severity grades that do not exist yet, with their playbooks."""
    existing = set(Severity.objects.values_list("key", flat=True))
    taken_ranks = set(Severity.objects.values_list("rank", flat=True))
    created = 0
    for (
        key,
        rank,
        name_en,
        name_zh,
        description,
        description_zh,
        every,
        postmortem,
        steps,
    ) in SEVERITIES:
        if key in existing or rank in taken_ranks:
            continue
        severity = Severity.objects.create(
            key=key,
            rank=rank,
            name_en=name_en,
            name_zh=name_zh,
            description=description,
            description_zh=description_zh,
            update_every_minutes=every,
            requires_postmortem=postmortem,
        )
        PlaybookStep.objects.bulk_create(
            [
                PlaybookStep(severity=severity, position=n, kind=kind, text=text, text_zh=text_zh)
                for n, (kind, text, text_zh) in enumerate(steps, start=1)
            ]
        )
        created += 1
    return created


def ensure_on_migrate(*, sender, using: str = "default", **kwargs) -> None:
    from django.db import DEFAULT_DB_ALIAS

    if using == DEFAULT_DB_ALIAS:
        ensure_severities()
