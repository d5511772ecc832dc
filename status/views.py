"""The public status page (/status/): no sign-in, English and Chinese, an Atom feed and JSON.

Only published incidents and public components appear; drafts and internal notes never do.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from status import notify, reports, selectors
from status.models import Component, ComponentStatus


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    data = selectors.summary()
    bars = {pk: selectors.uptime_figure(days) for pk, days in data.uptime.items()}
    for component in data.components:
        component.bars = bars.get(component.pk)
    return render(
        request,
        "status/page.html",
        {
            "summary": data,
            "all_operational": data.overall == ComponentStatus.OPERATIONAL,
            "uptime_days": selectors.UPTIME_DAYS,
        },
    )


@require_GET
def incident(request: HttpRequest, pk: int) -> HttpResponse:
    found = selectors.incident_public(pk=pk)
    if found is None:
        raise Http404(_("No such incident."))
    return render(request, "status/incident.html", {"incident": found})


@require_GET
def report(request: HttpRequest, pk: int) -> HttpResponse:
    """The public report of a resolved incident: timeline, cause, what was done, compensation."""
    found = selectors.incident_report(pk=pk)
    if found is None:
        raise Http404(_("No report has been published for this incident."))
    return render(
        request,
        "status/report.html",
        {"incident": found, "sections": reports.sections_for(found)},
    )


def _component_json(c) -> dict:
    return {
        "key": c.key,
        "name": {"en": c.name_en, "zh": c.name_zh},
        "group": c.group.key,
        "kind": c.kind,
        "region": c.region.code if c.region_id else None,
        "status": c.status,
        "status_since": c.status_since.isoformat(),
    }


def _uptime_json(days) -> dict:
    """The 90-day figure (the days without data left out) and each impacted day's minutes."""
    figure = selectors.uptime_figure(days)
    return {
        "uptime_90d": figure.percent,
        "uptime_days_with_data": figure.days_with_data,
        "uptime_impacts": [
            {
                "date": d.date.isoformat(),
                "uptime": d.uptime,
                "minutes": {i["status"]: i["minutes"] for i in d.impacts},
                "seconds": {i["status"]: i["seconds"] for i in d.impacts},
            }
            for d in figure.impacted
        ],
    }


def _incident_json(i) -> dict:
    return {
        "id": i.pk,
        "url": reverse("status:incident", args=[i.pk]),
        "title": {"en": i.title_en, "zh": i.title_zh},
        "severity": i.severity.key,
        "state": i.state,
        "cause": {"en": i.cause_en, "zh": i.cause_zh},
        "expected_recovery": i.expected_recovery.isoformat() if i.expected_recovery else None,
        "started_at": i.started_at.isoformat(),  # when it happened (may be dated back)
        "declared_at": i.created_at.isoformat(),  # when it was typed
        "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
        "components": [c.key for c in i.components.all()],
        "updates": [
            {
                "state": u.state,
                "at": u.at.isoformat(),
                "posted_at": u.posted_at.isoformat(),
                "body": {"en": u.body_en, "zh": u.body_zh},
            }
            for u in i.updates.all()
        ],
    }


@require_GET
def summary_json(request: HttpRequest) -> JsonResponse:
    """GET /status/api/v1/summary.json: components, active and recent incidents, maintenance
    and the uptime of the last 90 days (docs/status-page.md)."""
    data = selectors.summary()
    response = JsonResponse(
        {
            "generated_at": data.at.isoformat(),
            "overall": data.overall,
            "components": [
                {**_component_json(c), **_uptime_json(data.uptime.get(c.pk, []))}
                for c in data.components
            ],
            "incidents": [_incident_json(i) for i in data.incidents],
            "recently_resolved": [_incident_json(i) for i in data.recent],
            "maintenance": [
                {
                    "id": m.pk,
                    "title": {"en": m.title_en, "zh": m.title_zh},
                    "details": {"en": m.body_en, "zh": m.body_zh},
                    "state": m.state,
                    "starts_at": m.starts_at.isoformat(),
                    "ends_at": m.ends_at.isoformat(),
                    "components": [c.key for c in m.components.all()],
                }
                for m in data.maintenances
            ],
        },
        json_dumps_params={"ensure_ascii": False},
    )
    response["Cache-Control"] = "public, max-age=15"
    response["Access-Control-Allow-Origin"] = "*"  # public data, read by partners' dashboards
    return response


class IncidentFeed(Feed):
    """Atom feed of the public incident updates (newest first), in the reader's language."""

    feed_type = Atom1Feed
    title = gettext_lazy("WeldDesk service status")
    subtitle = gettext_lazy("Incidents and their updates")

    def link(self):
        return reverse("status:page")

    def items(self):
        return selectors.feed_updates()

    def item_title(self, item):
        return f"[{item.incident.get_state_display()}] {item.incident.title}"

    def item_description(self, item):
        return item.body

    def item_link(self, item):
        return reverse("status:incident", args=[item.incident_id]) + f"#update-{item.pk}"

    def item_guid(self, item):
        return f"tag:welddesk,2026:status-update-{item.pk}"

    def item_pubdate(self, item):
        return item.at

    def item_updateddate(self, item):
        return item.at

    def get_feed(self, obj, request):
        feed = super().get_feed(obj, request)
        if not feed.items:  # an empty feed still says when it was made
            feed.latest_post_date = lambda: timezone.now()
        return feed


@require_POST
def subscribe(request: HttpRequest) -> HttpResponse:
    """The page's form: an address (and optionally components); a confirmation link follows."""
    from core.errors import ApplicationError

    if _too_many(request):
        messages.error(request, _("Too many requests from your network; please try later."))
        return redirect(reverse("status:page") + "#subscribe")
    picked = [int(v) for v in request.POST.getlist("components") if v.isdigit()]
    components = list(Component.objects.filter(pk__in=picked, is_public=True))
    try:
        notify.subscribe(
            email=request.POST.get("email", ""),
            components=components,
            language="zh-hans" if (get_language() or "").startswith("zh") else "en",
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("status:page") + "#subscribe")
    messages.success(request, _("Almost done: open the link we sent to your address to confirm."))
    return redirect(reverse("status:page") + "#subscribe")


# Subscription requests per client address an hour (each address also gets at most one
# confirmation an hour): the form must not become a way to mail strangers.
SUBSCRIBE_PER_CLIENT = 20


def _too_many(request: HttpRequest) -> bool:
    from core.net import client_ip
    from core.throttle import over_limit

    key = f"status:subscribe:{client_ip(request.META) or 'unknown'}"
    return over_limit(key, SUBSCRIBE_PER_CLIENT)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners open links); the POST confirms."""
    return _token_action(
        request,
        token,
        notify.confirm,
        _("Confirm the subscription"),
        _("Subscribed: we will tell you about incidents and maintenance."),
    )


@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    return _token_action(
        request,
        token,
        notify.unsubscribe,
        _("Unsubscribe"),
        _("Unsubscribed: you will get no more status e-mail."),
    )


def _token_action(request, token, action, label, done) -> HttpResponse:
    from core.errors import ApplicationError

    if request.method == "POST":
        try:
            action(token=token)
        except ApplicationError as exc:
            return render(request, "status/token.html", {"error": exc.message}, status=404)
        messages.success(request, done)
        return redirect("status:page")
    return render(request, "status/token.html", {"label": label})
