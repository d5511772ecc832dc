"""Periodic Celery tasks declared by the apps and installed into django-celery-beat.

Each app registers its schedules in AppConfig.ready(); after migrate the missing ones are
created. Existing rows are left alone, so schedules edited in the admin survive upgrades.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: str | None = None  # "minute hour day_of_month month_of_year day_of_week"
    description: str = ""


_registry: dict[str, Schedule] = {}


def register(schedule: Schedule) -> None:
    """Declare a periodic task (idempotent by name)."""
    if (schedule.every_seconds is None) == (schedule.crontab is None):
        raise ValueError("give exactly one of every_seconds and crontab")
    _registry[schedule.name] = schedule


def registered() -> list[Schedule]:
    return sorted(_registry.values(), key=lambda s: s.name)


def ensure_periodic_tasks() -> list[str]:
    """Create the registered periodic tasks that are missing; return the names created."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    created = []
    existing = set(PeriodicTask.objects.values_list("name", flat=True))
    for item in registered():
        if item.name in existing:
            continue
        fields: dict = {"name": item.name, "task": item.task, "description": item.description}
        if item.every_seconds is not None:
            fields["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=item.every_seconds, period=IntervalSchedule.SECONDS
            )
        else:
            minute, hour, dom, month, dow = item.crontab.split()
            fields["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=dom,
                month_of_year=month,
                day_of_week=dow,
                timezone=settings.TIME_ZONE,
            )
        PeriodicTask.objects.create(**fields)
        created.append(item.name)
    return created


def ensure_on_migrate(*, using: str = "default", **kwargs) -> None:
    if using == "default":
        ensure_periodic_tasks()
