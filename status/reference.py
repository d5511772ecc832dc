"""Reference data: the four severity grades and their response playbooks.

Created when missing after every migrate (and after test flushes); supervisors edit them in
the admin afterwards, and an existing grade is never overwritten.
"""

from __future__ import annotations

from status.models import PlaybookStep, Severity, StepKind

# key, rank, English, Chinese, when to use it, update every (minutes), postmortem, steps
SEVERITIES = [
    (
        "sev1",
        1,
        "Nationwide hotline down",
        "全国热线中断",
        "The hotline cannot be reached anywhere, or several channels are down at once.",
        15,
        True,
        [
            (StepKind.PAGE, "Page the on-call telephony engineer and the duty manager."),
            (StepKind.PAGE, "Call the carrier's enterprise support line and open a fault."),
            (StepKind.BACKUP, "Switch the hotline number to the backup trunk."),
            (StepKind.BACKUP, "Bring in the mobile 4G/5G routers at every service centre."),
            (StepKind.CHANNEL, "Put every available agent on the online chat."),
            (StepKind.CHANNEL, "Turn on callback requests in the portal banner."),
            (StepKind.COMMUNICATE, "Publish an update every 15 minutes until resolved."),
        ],
    ),
    (
        "sev2",
        2,
        "Regional hotline down",
        "区域热线中断",
        "One regional line is down or answers fewer than half of its calls.",
        30,
        True,
        [
            (StepKind.PAGE, "Page the on-call telephony engineer."),
            (StepKind.BACKUP, "Route the region's calls to a neighbouring region's line."),
            (StepKind.BACKUP, "Bring in the region's mobile 4G/5G router."),
            (StepKind.CHANNEL, "Move two agents of the region to the online chat."),
            (StepKind.COMMUNICATE, "Publish an update every 30 minutes until resolved."),
        ],
    ),
    (
        "sev3",
        3,
        "Degraded service",
        "服务降级",
        "A channel works but slowly or partly: long queues, answer rate under 90 %.",
        60,
        False,
        [
            (StepKind.PAGE, "Tell the duty supervisor."),
            (StepKind.CHANNEL, "Point callers to the chat and the portal in the hold message."),
            (StepKind.COMMUNICATE, "Publish an update every hour until resolved."),
        ],
    ),
    (
        "sev4",
        4,
        "Minor issue",
        "轻微问题",
        "A small fault customers may notice, with an easy way around it.",
        240,
        False,
        [(StepKind.COMMUNICATE, "Publish an update when the cause is known and when it is fixed.")],
    ),
]


def ensure_severities() -> int:
    """Create the severity grades that do not exist yet, with their playbooks."""
    existing = set(Severity.objects.values_list("key", flat=True))
    taken_ranks = set(Severity.objects.values_list("rank", flat=True))
    created = 0
    for key, rank, name_en, name_zh, description, every, postmortem, steps in SEVERITIES:
        if key in existing or rank in taken_ranks:
            continue
        severity = Severity.objects.create(
            key=key,
            rank=rank,
            name_en=name_en,
            name_zh=name_zh,
            description=description,
            update_every_minutes=every,
            requires_postmortem=postmortem,
        )
        PlaybookStep.objects.bulk_create(
            [
                PlaybookStep(severity=severity, position=n, kind=kind, text=text)
                for n, (kind, text) in enumerate(steps, start=1)
            ]
        )
        created += 1
    return created


def ensure_on_migrate(*, sender, using: str = "default", **kwargs) -> None:
    from django.db import DEFAULT_DB_ALIAS

    if using == DEFAULT_DB_ALIAS:
        ensure_severities()
