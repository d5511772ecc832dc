"""Business calendars: a timezone, weekly working hours, holidays and make-up working days."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("Unknown time zone %(tz)s."), params={"tz": value}) from exc


class BusinessCalendar(models.Model):
    """When the desk works. `version` changes with every edit, so cached copies are refreshed."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_timezone]
    )
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=8,
        blank=True,
        default="CN",
        help_text=_("ISO country code whose statutory holidays the refresh command imports."),
    )
    version = models.PositiveIntegerField(default=1, editable=False, verbose_name=_("version"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")

    def __str__(self) -> str:
        return self.name


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class WorkingHours(models.Model):
    """One working interval on a weekday, in the calendar's local time."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="hours", verbose_name=_("calendar")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"))

    class Meta:
        ordering = ["calendar", "weekday", "starts"]
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends__gt=models.F("starts")), name="hours_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Holiday (closed)")
    WORKDAY = "workday", _("Make-up working day (open)")


class DaySource(models.TextChoices):
    PACKAGE = "package", _("Imported from the holidays package")
    MANUAL = "manual", _("Entered by a supervisor")


class CalendarDay(models.Model):
    """A date that differs from the weekly pattern: a holiday or a make-up working day.

    A make-up working day has the working hours of a normal Monday. Manual rows win over
    imported ones: a refresh never overwrites them.
    """

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="days", verbose_name=_("calendar")
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=120, blank=True)
    source = models.CharField(
        _("source"), max_length=8, choices=DaySource.choices, default=DaySource.MANUAL
    )

    class Meta:
        ordering = ["calendar", "date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"
