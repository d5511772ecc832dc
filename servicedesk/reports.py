"""The supervisors' report pages in the admin: the index of reports and one report.

The figures come from the reports the apps register in core.reports; this module only parses
the filters, applies the viewer's region scope, calls the report and draws what it returns
(chart, table, CSV). It never reads a domain model, so a report added by an app appears here
without a change.

Who may see reports: superusers and staff with the supervisor or agent role. An agent sees the
figures of their regions only: `Filters.region_ids` is the intersection of the regions they
may see and the region they chose, and the region select offers only theirs; a foreign region
in the query is a 400, as any other bad filter. Other staff (a compliance officer) get a 403,
audited by accounts' refusal middleware like every 403.
"""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from accounts import roles, selectors
from accounts.permissions import has_role, staff_region_ids
from core import reports
from core.spreadsheet import csv_cell
from servicedesk import report_values
from servicedesk.charts import chart_svg

PRESETS = [
    ("7", gettext_lazy("Last 7 days")),
    ("30", gettext_lazy("Last 30 days")),
    ("90", gettext_lazy("Last 90 days")),
    ("365", gettext_lazy("Last 365 days")),
    ("custom", gettext_lazy("Dates below")),
]
DEFAULT_PRESET = "30"
BUCKETS = [
    ("", gettext_lazy("Automatic")),
    (reports.DAY, gettext_lazy("Day")),
    (reports.WEEK, gettext_lazy("Week")),
    (reports.MONTH, gettext_lazy("Month")),
]
# A longer span would make a day-by-day trend of thousands of points and invites a query
# over everything the desk ever recorded; two years compares this year with the last.
MAX_SPAN_DAYS = 731


def may_see_reports(user: Any) -> bool:
    return has_role(user, roles.SUPERVISOR, roles.AGENT)


def auto_bucket(days: int) -> str:
    """The bucket a trend of this many days is cut into: about 7 to 31 points."""
    if days <= 31:
        return reports.DAY
    if days <= 180:
        return reports.WEEK
    return reports.MONTH


def _region_name(region: Any) -> str:
    return region.name_zh if (get_language() or "").startswith("zh") else region.name_en


class ReportFilterForm(forms.Form):
    """The filters of a report page, read from the query string (GET)."""

    period = forms.ChoiceField(
        label=gettext_lazy("Period"),
        choices=PRESETS,
        required=False,
        help_text=gettext_lazy("Choose “Dates below” to use the dates."),
    )
    start = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("To"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    bucket = forms.ChoiceField(label=gettext_lazy("Points per"), choices=BUCKETS, required=False)
    region = forms.ChoiceField(label=gettext_lazy("Region"), required=False)
    by = forms.ChoiceField(label=gettext_lazy("By"), required=False)

    def __init__(self, data: Any, *, report: reports.Report, regions: list, scope, today):
        super().__init__(data)
        self.report = report
        self.scope = scope
        self.today = today
        everything = _("All regions") if scope is None else _("All my regions")
        self.fields["region"].choices = [
            ("", everything),
            *((str(region.pk), _region_name(region)) for region in regions),
        ]
        self.fields["region"].error_messages["invalid_choice"] = _(
            "You may not see the region %(value)s: choose one of the list."
        )
        if report.dimensions:
            self.fields["by"].choices = [(key, label) for key, label in report.dimensions]
        else:
            del self.fields["by"]
        self.fields["start"].widget.attrs["max"] = today.isoformat()
        self.fields["end"].widget.attrs["max"] = today.isoformat()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        start, end = data.get("start"), data.get("end")
        preset = data.get("period") or ("custom" if start or end else DEFAULT_PRESET)
        if preset == "custom":
            if not (start and end):
                raise forms.ValidationError(_("Give both dates, or choose a preset period."))
            if end < start:
                raise forms.ValidationError(_("The end date is before the start date."))
            if end > self.today:
                raise forms.ValidationError(
                    _("The end date is in the future: the latest is today, %(today)s.")
                    % {"today": formats.date_format(self.today, "SHORT_DATE_FORMAT")}
                )
            if (end - start).days + 1 > MAX_SPAN_DAYS:
                raise forms.ValidationError(
                    _("The period is longer than two years: choose at most %(days)d days.")
                    % {"days": MAX_SPAN_DAYS}
                )
        else:
            end = self.today
            start = end - dt.timedelta(days=int(preset) - 1)
        data["period"], data["start"], data["end"] = preset, start, end
        return data

    def filters(self) -> reports.Filters:
        """The report's Filters, once the form is valid."""
        data = self.cleaned_data
        start, end = data["start"], data["end"]
        days = (end - start).days + 1
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        # The desk's days: from 00:00 of the first day to 00:00 after the last (exclusive).
        period = reports.Period(
            start=dt.datetime.combine(start, dt.time.min, tzinfo=zone),
            end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
            bucket=data.get("bucket") or auto_bucket(days),
        )
        chosen = int(data["region"]) if data.get("region") else None
        if chosen is None:
            region_ids = None if self.scope is None else list(self.scope)
        else:
            region_ids = [chosen]  # the choices are the scope's regions only
        by = data.get("by") or (self.report.dimensions[0][0] if self.report.dimensions else "")
        return reports.Filters(period=period, region_ids=region_ids, by=by)


def _allowed(request) -> None:
    if not may_see_reports(request.user):
        raise PermissionDenied(_("Reports are for supervisors and agents."))


def _context(request, **extra: Any) -> dict[str, Any]:
    request.current_app = admin.site.name
    return {
        **admin.site.each_context(request),
        "reports_url": reverse("admin-reports"),
        **extra,
    }


def report_index(request):
    """Every registered report, grouped as its app grouped it, in the registry's order."""
    _allowed(request)
    groups: dict[str, dict[str, Any]] = {}
    for report in reports.all_reports():
        name = str(report.group)
        groups.setdefault(name, {"name": name, "reports": []})["reports"].append(
            {
                "key": report.key,
                "title": report.title,
                "description": report.description,
                "url": reverse("admin-report", args=[report.key]),
            }
        )
    context = _context(request, title=_("Reports"), groups=list(groups.values()))
    return TemplateResponse(request, "admin/reports/index.html", context)


NUMERIC = {reports.INT, reports.PERCENT, reports.DECIMAL, reports.MINUTES}


def _column_rows(table: reports.Table) -> list[list[dict[str, Any]]]:
    return [
        [
            {
                "text": report_values.display(column.kind, row.get(column.key)),
                "numeric": column.kind in NUMERIC,
            }
            for column in table.columns
        ]
        for row in table.rows
    ]


def _csv(report: reports.Report, table: reports.Table, span: tuple[dt.date, dt.date]):
    start, end = span
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{report.key}-{table.key}-{start.isoformat()}-{end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # A byte-order mark: Excel reads a CSV without one in the machine's code page, which
    # garbles Chinese on most desks' computers.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([csv_cell(str(column.label)) for column in table.columns])
    for row in table.rows:
        writer.writerow(
            [
                csv_cell(report_values.csv_value(column.kind, row.get(column.key)))
                for column in table.columns
            ]
        )
    return response


def report_page(request, key: str):
    """One report: the filter form, then each table's chart, table and CSV link.

    `?format=csv&table=<key>` with the same filters downloads that table instead.
    """
    _allowed(request)
    report = reports.get(key)
    if report is None:
        raise Http404(_("No such report."))
    output = request.GET.get("format", "")
    scope = staff_region_ids(request.user)
    data = request.GET.copy()
    if not data.get("period"):
        # Shown selected in the form as well as used: dates alone mean the dates.
        data["period"] = "custom" if data.get("start") or data.get("end") else DEFAULT_PRESET
    form = ReportFilterForm(
        data,
        report=report,
        regions=selectors.regions_visible(user=request.user),
        scope=scope,
        today=timezone.localdate(),
    )
    bad_format = output not in ("", "csv")
    if bad_format or not form.is_valid():
        if bad_format:
            form.add_error(None, _("Unknown format: the page or format=csv."))
        context = _context(request, title=report.title, report=report, form=form)
        return TemplateResponse(request, "admin/reports/report.html", context, status=400)
    filters = form.filters()
    span = (form.cleaned_data["start"], form.cleaned_data["end"])
    wanted = request.GET.get("table", "") if output == "csv" else None
    tables = report.compute(request.user, filters)
    if output == "csv":
        table = next((t for t in tables if t.key == wanted), None)
        if table is None:
            raise Http404(_("This report has no such table."))
        return _csv(report, table, span)
    query = request.GET.copy()
    for name in ("format", "table"):
        query.pop(name, None)
    drawn = []
    for table in tables:
        query["format"], query["table"] = "csv", table.key
        drawn.append(
            {
                "table": table,
                "chart": chart_svg(table),
                "rows": _column_rows(table),
                "headers": [
                    {"label": column.label, "numeric": column.kind in NUMERIC}
                    for column in table.columns
                ],
                "csv_url": "?" + query.urlencode(),
            }
        )
    bucket_names = {
        reports.DAY: _("day"),
        reports.WEEK: _("week"),
        reports.MONTH: _("month"),
    }
    context = _context(
        request,
        title=report.title,
        report=report,
        form=form,
        tables=drawn,
        span_start=span[0],
        span_end=span[1],
        bucket=bucket_names.get(filters.period.bucket, filters.period.bucket),
    )
    return TemplateResponse(request, "admin/reports/report.html", context)
