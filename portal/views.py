"""The customer portal's pages: thin views over the tickets, equipment and knowledge apps."""

from __future__ import annotations

import uuid
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.permissions import is_customer
from accounts.qr import qr_svg
from accounts.services import platforms as platform_services
from accounts.services.otp import has_confirmed_totp
from chat import bot as chat_bot
from chat import services as chat_services
from compensation import selectors as compensation_selectors
from compensation import services as compensation_services
from compliance import services as compliance_services
from core import jsoninput, sealed_search
from core.errors import ApplicationError
from core.forms import apply_service_errors
from equipment import selectors as equipment_selectors
from logistics import selectors as logistics_selectors
from notifications import services as notification_services
from notifications import webhooks, webpush
from portal import banners, knowledge_bridge
from portal.forms import (
    FaultReportForm,
    ProfileForm,
    RatingForm,
    ReplyForm,
    TicketFilterForm,
)
from status import selectors as status_selectors
from tickets import search as ticket_search
from tickets import selectors as ticket_selectors
from tickets.models import ACTIVE_STATUSES, Channel, Kind, Status
from tickets.services import surveys
from tickets.services import tickets as ticket_services

PER_PAGE = 20
HOME_TICKETS = 10
# The home counts a customer's open tickets up to this many ("1000+ open tickets"): the
# heading is all the count is for, and counting 100,000 active tickets of the largest
# customer took most of the page's 220 ms at a million tickets.
HOME_COUNT_CAP = 1000
# The ticket list counts up to this many (100 pages), then shows "Page N" with a next page
# while pages are full: counting the largest customer's 102,000 open tickets was 17 ms of the
# list's 55 ms at a million tickets, for a total no one pages through.
LIST_COUNT_CAP = 2000
CLOSED_STATUSES = [Status.RESOLVED, Status.CLOSED]


def customer_required(view):
    """Signed-in customers only; staff are sent to the agent workspace."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not is_customer(request.user):
            if request.user.is_staff:
                return redirect("admin:index")
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def render_portal(
    request: HttpRequest, template: str, context: dict, status: int = 200
) -> HttpResponse:
    """Render a portal page with the banners every portal page shows (an outage, a notice);
    the page floor (bench/floor/pages.py) renders through it too, to cost the same."""
    context.setdefault("portal_banners", banners.active(request.user))
    return render(request, template, context, status=status)


def _page(request: HttpRequest, queryset, per_page: int = PER_PAGE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _ticket_page(request: HttpRequest, queryset):
    """The ticket list's page: a search takes the page's keys and the count from the search
    index in one statement (tickets.search.RankedPaginator), then reads only the page's rows;
    other lists are paged as any list."""
    raw = request.GET.get("page") or "1"
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else 1
    paginator = ticket_search.RankedPaginator(
        queryset, PER_PAGE, number=number, count_cap=LIST_COUNT_CAP
    )
    return paginator.get_page(raw)


# ---------------------------------------------------------------------------------- home


@customer_required
@never_cache
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    tickets = ticket_selectors.ticket_list(user=user, status=list(ACTIVE_STATUSES))
    units = equipment_selectors.unit_list(user=user).order_by("serial_number")
    open_count, open_more = ticket_selectors.capped_count(tickets, HOME_COUNT_CAP)
    return render_portal(
        request,
        "portal/home.html",
        {
            "tickets": list(tickets[:HOME_TICKETS]),
            "open_count": open_count,
            "open_more": open_more,
            "units": list(units[:20]),
        },
    )


# ---------------------------------------------------------------------------------- tickets


@customer_required
@never_cache
@require_http_methods(["GET", "POST"])
def ticket_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _ticket_search_redirect(request)
    form = TicketFilterForm(request.GET, request=request)
    form.is_valid()  # each field is used on its own: a bad state keeps the search
    state = form.cleaned_data.get("state") or "open"
    search = (form.cleaned_data.get("q") or "").strip()
    status = {"open": list(ACTIVE_STATUSES), "closed": CLOSED_STATUSES, "all": None}[state]
    if "q" in form.errors:
        messages.warning(request, form.errors["q"][0])
    tickets = ticket_selectors.ticket_list(user=request.user, status=status, search=search)
    # Keys first (RankedPaginator is a KeyFirstPaginator): a deep page's offset walks the
    # ordered keys, and only the page's 20 rows are joined to their organisation, unit, queue
    # and people (a plain OFFSET joins and drops every row before the page: 0.7 s on page
    # 300 of the largest customer's 15,000).
    page = _ticket_page(request, tickets)
    query = request.GET.copy()
    query.pop("page", None)
    return render_portal(
        request,
        "portal/ticket_list.html",
        {"form": form, "page": page, "state": state, "search": search, "query": query.urlencode()},
    )


def _ticket_search_redirect(request: HttpRequest) -> HttpResponse:
    """The filter form posts: answer with the list URL, its search term sealed.

    A term may be a colleague's e-mail address (the requester search), which must reach no URL,
    log or browser history (core.sealed_search).
    """
    query = {}
    state = request.POST.get("state", "")
    if state in dict(TicketFilterForm.STATES):
        query["state"] = state
    query["q"] = request.POST.get("q", "").strip()[: TicketFilterForm.SEARCH_MAX]
    return sealed_search.sealed_redirect(request, reverse("portal:tickets"), query)


@customer_required
@never_cache
@require_http_methods(["GET", "POST"])
def ticket_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    language = get_language() or "en"
    form = FaultReportForm(
        request.POST or None,
        request.FILES or None,
        units=equipment_selectors.unit_list(user=user).order_by("serial_number"),
        fault_codes=equipment_selectors.fault_code_list(),
        language=language,
        initial={"unit": request.GET.get("unit")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            ticket = ticket_services.ticket_open(
                actor=user,
                organisation=user.organisation,
                requester=user,
                unit=form.cleaned_data["unit"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                kind=Kind.FAULT,
                channel=Channel.PORTAL,
                fault_report=form.fault_report(),
                attachments=form.cleaned_data["photos"],
            )
        except ApplicationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Thank you. Your fault report %(ref)s is with our service desk.")
                % {"ref": ticket.reference},
            )
            return redirect("portal:ticket", reference=ticket.reference)
    text = " ".join(filter(None, [request.POST.get("subject"), request.POST.get("body")]))
    unit = form.cleaned_data.get("unit") if hasattr(form, "cleaned_data") else None
    suggestions = knowledge_bridge.suggest(text=text, language=language, unit=unit) if text else []
    status = 400 if request.method == "POST" else 200
    # A published incident in the customer's region is shown above the form (their report
    # may be one of many); its banner at the top of the page would say the same again.
    incidents = status_selectors.incidents_for_customer(user)
    shown = {incident["link"] for incident in incidents}
    return render_portal(
        request,
        "portal/ticket_new.html",
        {
            "form": form,
            "suggestions": suggestions,
            "has_units": form.fields["unit"].queryset,
            "incidents": incidents,
            "portal_banners": [b for b in banners.active(user) if b.get("link") not in shown],
        },
        status=status,
    )


@customer_required
@never_cache
@require_http_methods(["GET", "POST"])
def ticket_detail(request: HttpRequest, reference: str) -> HttpResponse:
    skip = ticket_selectors.conversation_skip_or_400(request.GET.get("skip"))
    ticket = ticket_selectors.ticket_get(
        user=request.user,
        reference=reference,
        window=ticket_selectors.CONVERSATION_WINDOW if request.method == "GET" else None,
        skip=skip,
    )
    reply_form = ReplyForm()
    rating_form = RatingForm()
    survey = surveys.survey_open_for(ticket) if ticket.status in CLOSED_STATUSES else None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "reply":
                reply_form = ReplyForm(request.POST, request.FILES)
                if reply_form.is_valid():
                    ticket_services.ticket_reply(
                        ticket=ticket,
                        author=request.user,
                        body=reply_form.cleaned_data["body"],
                        attachments=reply_form.cleaned_data["photos"],
                        channel=Channel.PORTAL,
                    )
                    messages.success(request, _("Your reply was sent."))
                    return redirect("portal:ticket", reference=ticket.reference)
            elif action == "close":
                ticket_services.ticket_transition(
                    ticket=ticket, status=Status.CLOSED, actor=request.user
                )
                messages.success(request, _("The ticket is closed. Thank you."))
                return redirect("portal:ticket", reference=ticket.reference)
            elif action == "rate":
                rating_form = RatingForm(request.POST)
                if rating_form.is_valid():
                    surveys.survey_answer_signed_in(
                        ticket=ticket,
                        user=request.user,
                        rating=rating_form.cleaned_data["rating"],
                        comment=rating_form.cleaned_data["comment"],
                    )
                    messages.success(request, _("Thank you for your rating."))
                    return redirect("portal:ticket", reference=ticket.reference)
            else:
                messages.error(request, _("Unknown action."))
        except ApplicationError as exc:
            # Said at the top of the page too: the form's own section may be hidden now (a
            # ticket closed meanwhile has no reply box, an answered survey no rating form).
            messages.error(request, exc.message)
            form = {"rate": rating_form, "reply": reply_form}.get(action)
            if form is not None and form.is_bound:
                apply_service_errors(form, exc)
        status = 400
    conversation = [m for m in ticket.messages.all() if not m.internal]
    due = ticket_selectors.first_answer_due(ticket)
    return render_portal(
        request,
        "portal/ticket_detail.html",
        {
            "ticket": ticket,
            "conversation": conversation,
            **ticket_selectors.conversation_links(ticket),
            "reply_form": reply_form,
            "rating_form": rating_form,
            "survey": survey,
            "can_close": ticket.status in ACTIVE_STATUSES,
            "report": getattr(ticket, "fault_report", None),
            "first_answer_due": due,
            "first_answer_late": due is not None and due < timezone.now(),
            "shipments": logistics_selectors.shipments_for_ticket(ticket=ticket),
        },
        status=status,
    )


# ---------------------------------------------------------------------------------- shipments


@customer_required
@require_GET
def shipment_list(request: HttpRequest) -> HttpResponse:
    active = request.GET.get("state") != "all"
    page = _page(request, logistics_selectors.shipment_list(user=request.user, active_only=active))
    return render_portal(request, "portal/shipment_list.html", {"page": page, "active": active})


@customer_required
@require_GET
def shipment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = logistics_selectors.shipment_get(user=request.user, pk=pk)
    return render_portal(request, "portal/shipment_detail.html", {"shipment": shipment})


# ---------------------------------------------------------------------------------- machines


@customer_required
@never_cache
@require_GET
def machine_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:100]
    units = equipment_selectors.unit_list(user=request.user, search=search).order_by(
        "serial_number"
    )
    return render_portal(
        request,
        "portal/machine_list.html",
        {
            "page": _page(request, units),
            "search": search,
            "query": urlencode({"q": search}) if search else "",
        },
    )


@customer_required
@never_cache
@require_GET
def machine_detail(request: HttpRequest, serial: str) -> HttpResponse:
    unit = equipment_selectors.unit_get(user=request.user, serial_number=serial)
    history = ticket_selectors.ticket_list(user=request.user, unit=unit.pk)
    return render_portal(
        request,
        "portal/machine_detail.html",
        {
            "unit": unit,
            "page": _page(request, history),
            "extensions": equipment_selectors.warranty_history(unit),
            "status": equipment_selectors.unit_state(unit),
            "alarms": equipment_selectors.latest_alarms(unit, limit=10),
            "language": get_language() or "en",
        },
    )


@customer_required
@require_GET
def compensation(request: HttpRequest) -> HttpResponse:
    """What the customer's organisation received as compensation, and why."""
    language = get_language() or "en"
    page = _page(request, compensation_selectors.history_for_customer(user=request.user))
    rows = [
        {
            "grant": grant,
            "what": compensation_services.describe(grant, language),
            "why": compensation_services.event_text(grant.assessment, language),
            "report": grant.assessment.incident_id
            if grant.assessment.incident_id and grant.assessment.incident.report_published_at
            else None,
        }
        for grant in page.object_list
    ]
    return render_portal(request, "portal/compensation.html", {"page": page, "rows": rows})


# ---------------------------------------------------------------------------------- profile


@customer_required
@never_cache
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    fields = [f for f in ProfileForm.base_fields if f not in ProfileForm.REAUTH_FIELDS]
    form = ProfileForm(request.POST or None, initial={f: getattr(user, f) for f in fields})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            reauth = None
            if form.cleaned_data["reauth_password"]:  # given: a new phone number needs it
                reauth = account_services.reauthenticate(
                    request=request, actor=user, **form.reauth_values()
                )
            account_services.user_update_profile(
                user=user, actor=user, reauth=reauth, **form.profile_changes()
            )
        except ApplicationError as exc:
            apply_service_errors(form, exc)
            status = exc.status_code
        else:
            messages.success(request, _("Your profile is saved."))
            response = redirect("portal:profile")
            # The language applies from the next page on, also for the language cookie.
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                form.cleaned_data["language"],
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
            return response
    if request.method == "POST" and status == 200:
        status = 400
    secret = webhooks.signing_secret(user.notify_webhook_url) if user.notify_webhook_url else ""
    linked = account_selectors.bound_platform_identities(user)
    return render_portal(
        request,
        "portal/profile.html",
        {
            "form": form,
            "webhook_secret": secret,
            "push_key": webpush.public_key() if webpush.enabled() else "",
            "has_totp": has_confirmed_totp(user),
            "linked": linked,
        },
        status=status,
    )


@customer_required
@never_cache
@require_http_methods(["POST"])
def platform_link(request: HttpRequest) -> HttpResponse:
    """A new one-time linking code for WeChat or WeCom (issue 23, point 2), shown once on its
    own page with its QR code; sending it to the desk's account links that account."""
    code = platform_services.platform_bind_code_create(user=request.user)
    message = f"绑定 {code}"
    return render_portal(
        request,
        "portal/platform_link.html",
        {
            "code": code,
            "message": message,
            "qr": mark_safe(qr_svg(message)),
            "minutes": platform_services.BIND_CODE_MINUTES,
        },
    )


@customer_required
@require_http_methods(["POST"])
def platform_unlink(request: HttpRequest, pk: str) -> HttpResponse:
    identity = account_selectors.bound_platform_identity(user=request.user, pk=pk)
    platform_services.platform_identity_unbind(identity=identity, actor=request.user)
    messages.success(request, _("The account is no longer linked."))
    return redirect("portal:profile")


@customer_required
@never_cache
@require_http_methods(["GET", "POST"])
def data_export(request: HttpRequest) -> HttpResponse:
    """Everything the desk holds about the customer, as a ZIP, after their password."""
    error = ""
    if request.method == "POST" and request.POST.get("action") == "erase":
        try:
            compliance_services.erasure_request(
                subject=request.user,
                actor=request.user,
                reason=request.POST.get("reason", ""),
                password=request.POST.get("password"),
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                _("Your request is recorded. A compliance officer reviews it."),
            )
            return redirect("portal:data_export")
    elif request.method == "POST":
        try:
            archive = compliance_services.access_export(
                subject=request.user, actor=request.user, password=request.POST.get("password")
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            return FileResponse(
                archive,
                as_attachment=True,
                filename="welddesk-my-data.zip",
                content_type="application/zip",
            )
    return render_portal(
        request, "portal/data_export.html", {"error": error}, status=400 if error else 200
    )


@customer_required
@require_http_methods(["POST", "DELETE"])
def push_subscription(request: HttpRequest) -> JsonResponse:
    """The profile page's script keeps the browser's push subscription here (JSON, CSRF)."""
    try:
        data = jsoninput.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return JsonResponse({"error": _("Send the subscription as JSON.")}, status=400)
    if request.method == "DELETE":
        notification_services.push_unsubscribe(user=request.user, endpoint=data.get("endpoint"))
        return JsonResponse({"subscribed": False})
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    try:
        notification_services.push_subscribe(
            user=request.user,
            endpoint=data.get("endpoint"),
            p256dh=keys.get("p256dh"),
            auth=keys.get("auth"),
        )
    except ApplicationError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"subscribed": True}, status=201)


# ---------------------------------------------------------------------------------- knowledge


@customer_required
@require_GET
def suggest(request: HttpRequest) -> JsonResponse:
    """Articles matching what the customer types (used by the fault report form's script)."""
    text = request.GET.get("q", "")[:500]
    language = get_language() or "en"
    unit_id = request.GET.get("unit", "")
    unit = (
        equipment_selectors.unit_list(user=request.user).filter(pk=int(unit_id)).first()
        if unit_id.isdigit()
        else None
    )
    items = [
        {"title": a.title, "url": reverse("portal:article", args=[a.language, a.slug])}
        for a in knowledge_bridge.suggest(text=text, language=language, unit=unit)
    ]
    return JsonResponse({"articles": items})


@customer_required
@require_GET
def kb_index(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    language = get_language() or "en"
    page = _page(request, knowledge_bridge.search(query=query, language=language))
    return render_portal(
        request,
        "portal/kb_index.html",
        {
            "query": query,
            "page": page,
            "articles": page.object_list,
            "query_string": urlencode({"q": query}) if query else "",
        },
    )


@customer_required
@require_http_methods(["GET", "POST"])
def kb_article(request: HttpRequest, language: str, slug: str) -> HttpResponse:
    article = knowledge_bridge.article(slug=slug, language=language)
    if article.language != language:
        raise Http404
    if request.method == "POST":
        helpful = request.POST.get("helpful")
        if helpful not in ("yes", "no"):
            messages.error(request, _("Choose yes or no."))
        else:
            knowledge_bridge.feedback(article=article, user=request.user, helpful=helpful == "yes")
            messages.success(request, _("Thank you for telling us."))
        return redirect("portal:article", language=article.language, slug=article.slug)
    return render_portal(request, "portal/kb_article.html", {"article": article})


@customer_required
@require_GET
def fault_code(request: HttpRequest, code: str) -> HttpResponse:
    fault = equipment_selectors.fault_code_list().filter(code=code).first()
    if fault is None:
        raise Http404
    language = get_language() or "en"
    return render_portal(
        request,
        "portal/fault_code.html",
        {
            "fault": fault,
            "title": fault.title(language),
            "first_checks": fault.first_checks_zh
            if language.startswith("zh")
            else fault.first_checks_en,
            "articles": knowledge_bridge.for_fault_code(fault_code=fault, language=language),
        },
    )


# ---------------------------------------------------------------------------------- chat


def _chat_start(request: HttpRequest, conversation) -> None:
    if conversation is not None:
        return  # one open chat at a time: the page shows it
    unit_id = request.POST.get("unit", "")
    units = equipment_selectors.unit_list(user=request.user)
    unit = units.filter(pk=int(unit_id)).first() if unit_id.isdigit() else None
    chat_services.conversation_open(customer=request.user, unit=unit)


def _chat_rate(request: HttpRequest, conversation) -> None:
    latest = chat_services.conversation_latest(customer=request.user)
    if conversation is not None or latest is None:
        raise ApplicationError(_("Rate the chat once it is closed."))
    rating = request.POST.get("rating", "")
    chat_services.conversation_rate(
        conversation=latest,
        user=request.user,
        rating=int(rating) if rating.isdigit() else None,
        comment=request.POST.get("comment", ""),
    )
    messages.success(request, _("Thank you for your rating."))


def _chat_send(request: HttpRequest, conversation) -> None:
    message, _created = chat_services.message_post(
        conversation=conversation,
        sender=request.user,
        body=request.POST.get("body", ""),
        client_id=request.POST.get("client_id") or f"web-{uuid.uuid4().hex}",
    )
    chat_bot.answer(conversation=conversation, text=message.body)


def _chat_wait(request: HttpRequest, conversation) -> None:
    chat_bot.keep_waiting(conversation=conversation)


def _chat_callback(request: HttpRequest, conversation) -> None:
    chat_bot.callback_request(
        conversation=conversation, user=request.user, phone=request.POST.get("phone", "")
    )


def _chat_to_ticket(request: HttpRequest, conversation) -> None:
    closed = chat_bot.to_ticket(conversation=conversation, user=request.user)
    messages.success(request, _("The chat is saved as ticket %(ref)s.") % {"ref": closed.reference})


# The chat page's forms: action -> (handler, whether it needs an open chat).
_CHAT_ACTIONS = {
    "start": (_chat_start, False),
    "rate": (_chat_rate, False),
    "send": (_chat_send, True),
    "person": (_chat_wait, True),
    "wait": (_chat_wait, True),
    "callback": (_chat_callback, True),
    "to_ticket": (_chat_to_ticket, True),
    "close": (_chat_to_ticket, True),
}


@customer_required
@never_cache
@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest) -> HttpResponse:
    """The customer's chat: works as plain forms; static/portal/chat.js makes it live."""
    user = request.user
    conversation = chat_services.conversation_current(customer=user)
    status = 200
    # ?embed=1: the same page without the portal around it, for the floating panel.
    embed = request.GET.get("embed") == "1"
    here = reverse("portal:chat") + ("?embed=1" if embed else "")
    if request.method == "POST":
        handler, needs_chat = _CHAT_ACTIONS.get(request.POST.get("action", ""), (None, False))
        try:
            if handler is None:
                raise ApplicationError(_("Unknown action."))
            if needs_chat and conversation is None:
                raise ApplicationError(_("Start a chat first."))
            handler(request, conversation)
            return redirect(here)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = 400
    latest = conversation or chat_services.conversation_latest(customer=user)
    rate = latest is not None and latest.status == "closed" and latest.rated_at is None
    response = render_portal(
        request,
        "portal/chat.html",
        {
            "conversation": conversation,
            "chat_messages": chat_services.conversation_messages(conversation=conversation)
            if conversation
            else [],
            "rate_conversation": latest if rate else None,
            "units": equipment_selectors.unit_list(user=user).order_by("serial_number"),
            "base_template": "portal/embed.html" if embed else "portal/base.html",
        },
        status=status,
    )
    if embed:  # framed by the portal's own pages only
        response["X-Frame-Options"] = "SAMEORIGIN"
        response._csp_replace = {"frame-ancestors": ["'self'"]}
    return response
