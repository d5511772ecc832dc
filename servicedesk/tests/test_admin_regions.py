"""Region scoping of the whole admin (issue 17.4), walked as an agent of East China.

Every registered ModelAdmin is one of three kinds:

* scoped (accounts.admin_scope.RegionScopedAdminMixin): its rows belong to a customer
  organisation and an agent limited to regions sees only theirs;
* for staff who see all regions only (core.admin.AllRegionsOnlyMixin): its rows cannot be
  narrowed to a region, so an agent limited to regions is refused;
* listed below in NO_CUSTOMER_DATA, with the reason it holds none.

A new ModelAdmin that is none of these fails test_every_admin_is_scoped_or_declared. Then each
admin is walked by an East China agent who holds every permission of the desk (as if granted
by mistake) with data of two customers, one in East China and one in South China, built
through the services: the list (also searched for the South customer), the add page, the
change and history pages, every custom view, the autocomplete of every autocomplete field and
every action (exports included) must show nothing of the South customer, and the South
customer's objects answer 404.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.admin_scope import RegionScopedAdminMixin
from accounts.models import Region
from audit.models import AuditEvent
from core.admin import AllRegionsOnlyMixin
from testsupport import sign_in

pytestmark = pytest.mark.django_db

# Admins shown to any staff with the permission, because their rows hold no customer data.
NO_CUSTOMER_DATA = {
    "django_celery_beat.periodictask": "names, schedules and arguments of periodic jobs",
    "django_celery_beat.clockedschedule": "points in time of one-off jobs",
    "django_celery_beat.crontabschedule": "crontab schedules",
    "django_celery_beat.solarschedule": "solar schedules",
    "django_celery_beat.intervalschedule": "intervals",
    "accounts.region": "the seven service regions (reference data)",
    "audit.auditcheckpoint": "sequence numbers, hashes and signatures of the audit chain",
    "auth.group": "the staff roles and their permissions",
    "equipment.machinemodel": "the maker's machine models",
    "equipment.faultcode": "the maker's fault codes",
    "tickets.businesscalendar": "service hours and holidays",
    "tickets.slapolicy": "response and resolution targets per tier and priority",
    "tickets.priorityrule": "the table from a fault's impact to its opening priority",
    "tickets.queue": "queues and their agents (staff, no customer)",
    "tickets.cannedresponse": "answer templates",
    "knowledge.article": "help articles written by agents",
    "chat.agentpresence": "agents' chat capacity and state",
    "status.componentgroup": "groups of the desk's lines and channels",
    "status.component": "the desk's hotlines and channels",
    "status.severity": "incident grades and their playbooks",
    "status.incident": "outages of the desk's own lines (public on the status page)",
    "status.maintenance": "planned maintenance of the desk's lines",
    "status.drill": "failover drills of the desk's hotlines",
    "compensation.policy": "rules of compensation per tier",
    "intake.alarmrule": "which machine alarm codes open tickets",
    "intake.silencerule": "per contract tier, when a quiet machine opens a ticket",
}

REGISTRY = admin.site._registry
LABELS = sorted(model._meta.label_lower for model in REGISTRY)


def model_admin(label: str) -> admin.ModelAdmin:
    return next(a for m, a in REGISTRY.items() if m._meta.label_lower == label)


def kind(model_admin: admin.ModelAdmin) -> str:
    if isinstance(model_admin, RegionScopedAdminMixin):
        return "scoped"
    if isinstance(model_admin, AllRegionsOnlyMixin):
        return "all regions"
    return "declared" if model_admin.model._meta.label_lower in NO_CUSTOMER_DATA else "unknown"


@pytest.mark.parametrize("label", LABELS)
def test_every_admin_is_scoped_or_declared(label):
    """A new ModelAdmin must be scoped by region, closed to regional staff, or declared free of
    customer data (with the reason) before it ships."""
    assert kind(model_admin(label)) != "unknown", (
        f"{label}: scope it (accounts.admin_scope.RegionScopedAdminMixin), open it to staff "
        "who see all regions only (core.admin.AllRegionsOnlyMixin), or add it to "
        "NO_CUSTOMER_DATA with the reason it holds no customer data."
    )


def test_the_declared_list_names_only_registered_admins():
    assert set(NO_CUSTOMER_DATA) <= set(LABELS)
    assert not {label for label in NO_CUSTOMER_DATA if kind(model_admin(label)) != "declared"}, (
        "a scoped or closed admin is also declared free of customer data"
    )


# ------------------------------------------------------------------- two regions of data


@dataclass
class Customer:
    """What the desk holds about one customer: its objects and the text that identifies it."""

    code: str
    objects: dict[str, list[Any]] = field(default_factory=dict)
    markers: list[str] = field(default_factory=list)

    def add(self, obj: Any) -> Any:
        self.objects.setdefault(obj._meta.label_lower, []).append(obj)
        return obj

    def pks(self, label: str) -> set[Any]:
        return {obj.pk for obj in self.objects.get(label, [])}

    def change_urls(self) -> list[str]:
        urls = []
        for label, objects in self.objects.items():
            app, name = label.split(".")
            for obj in objects:
                urls.append(f"/admin/{app}/{name}/{obj.pk}/change/")
        return urls


CUSTOMERS = {
    "east": {
        "org": "苏州恒锐精密焊接有限公司",
        "org_en": "Hengrui Precision Welding",
        "contact": "purchasing@hengrui-weld.example",
        "contact_phone": "+86 512 6688 1201",
        "email": "wang.jianguo@hengrui-weld.example",
        "name": "王建国",
        "phone": "+86 138 0013 8001",
        "serial": "HW2000-EAST-0001",
        "subject": "Porosity on the Suzhou line",
        "tracking": "SFEAST000001",
        "key": "Hengrui ERP",
    },
    "south": {
        "org": "东莞锦川五金制品有限公司",
        "org_en": "Jinchuan Hardware",
        "contact": "office@jinchuan-hw.example",
        "contact_phone": "+86 769 2233 4455",
        "email": "chen.zhiqiang@jinchuan-hw.example",
        "name": "陈志强",
        "phone": "+86 139 2266 4410",
        "serial": "HW2000-SOUTH-0001",
        "subject": "Wire feed jams in Dongguan",
        "tracking": "SFSOUTH00001",
        "key": "Jinchuan MES",
    },
}


def build_customer(*, code: str, c: dict[str, str], staff: dict[str, Any], machine: Any):
    """One customer of a region with everything the admin shows about customers, made through
    the services: organisation, person, authenticator (unconfirmed), API key, unit, a late P1
    ticket (resolved: a survey), a webhook endpoint with the ticket's deliveries (their
    attempts refused: nothing listens), a chat, a shipment, applied compensation (grants,
    voucher) and an erasure request."""
    from accounts import services as accounts
    from accounts.services.otp import otp_device_start
    from chat import services as chat
    from compensation import services as compensation
    from compensation.models import Grant, Voucher
    from compliance import services as compliance
    from compliance.models import DataSubject
    from equipment import services as equipment
    from logistics import services as logistics
    from tickets.models import Survey
    from tickets.services import tickets

    supervisor = staff["supervisor"]
    r = Customer(code)
    org = r.add(
        accounts.organisation_create(
            actor=supervisor,
            name=c["org"],
            name_en=c["org_en"],
            tier="premium",
            region=Region.objects.get(code=code),
            contact_name=c["name"],
            contact_email=c["contact"],
            contact_phone=c["contact_phone"],
        )
    )
    customer = r.add(
        accounts.user_create(
            email=c["email"],
            full_name=c["name"],
            phone=c["phone"],
            password="a long enough passphrase",
            organisation=org,
            actor=supervisor,
        )
    )
    r.add(DataSubject.objects.get(pk=customer.pk))
    r.add(otp_device_start(user=customer))
    key, _token = accounts.api_key_create(actor=supervisor, organisation=org, name=c["key"])
    r.add(key)
    unit = r.add(
        equipment.unit_create(
            actor=supervisor,
            serial_number=c["serial"],
            machine_model=machine,
            organisation=org,
            installed_on=dt.date(2025, 6, 1),
            contract_tier="premium",
        )
    )
    ticket = r.add(
        tickets.ticket_open(
            actor=customer,
            organisation=org,
            requester=customer,
            unit=unit,
            subject=c["subject"],
            body="It stopped.",
            priority=1,
            now=timezone.now() - dt.timedelta(days=14),  # resolved late
        )
    )
    tickets.ticket_transition(ticket=ticket, status="resolved", actor=staff["agent"])
    r.add(Survey.objects.get(ticket=ticket))
    _webhook_deliveries(r, org=org, ticket=ticket, name=c["key"], supervisor=supervisor)
    r.add(chat.conversation_open(customer=customer, unit=unit))
    r.add(
        logistics.shipment_create(
            actor=supervisor,
            organisation=org,
            kind="spare_part",
            carrier="sandbox",
            tracking_number=c["tracking"],
            delivery_address="Plant gate 3",
            items=[{"description": "Protective lens D30", "quantity": 2}],
            tickets=[ticket],
            units=[unit],
        )
    )
    ticket.refresh_from_db()
    compensation.assess_ticket(ticket=ticket, actor=supervisor)
    grants = list(Grant.objects.filter(organisation=org))
    compensation.grants_approve(grant_ids=[g.pk for g in grants], actor=supervisor)
    for grant in grants:
        r.add(grant)
    vouchers = list(Voucher.objects.filter(organisation=org))
    assert vouchers
    for voucher in vouchers:
        r.add(voucher)
    r.add(compliance.erasure_request(subject=customer, actor=staff["officer"], reason="asked"))
    r.markers = [
        *(c[k] for k in ("org", "org_en", "contact", "email", "name", "serial")),
        *(c[k] for k in ("subject", "tracking", "key")),
        c["phone"],
        c["contact_phone"],
        ticket.reference,
        key.prefix,
        *(v.code for v in vouchers),
    ]
    return r


def _webhook_deliveries(r: Customer, *, org: Any, ticket: Any, name: str, supervisor: Any):
    """The organisation's endpoint and its deliveries of the ticket's events, each tried once
    (refused: nothing listens on the port)."""
    from notifications import endpoints, services
    from notifications.models import Outbox, WebhookDelivery

    endpoint, _secret = endpoints.endpoint_register(
        actor=supervisor,
        organisation=org,
        url="http://127.0.0.1:9/hooks",  # the discard port: refused at once
        events=["ticket.opened", "ticket.resolved"],
        description=f"{name} webhook",
    )
    endpoint.__class__.objects.filter(pk=endpoint.pk).update(
        created_at=timezone.now() - dt.timedelta(days=30)  # before the ticket's events
    )
    for pk in Outbox.objects.filter(channel="org_event", about_id=str(ticket.pk)).values_list(
        "pk", flat=True
    ):
        services.outbox_deliver(outbox_id=pk)
    for delivery in WebhookDelivery.objects.filter(endpoint=endpoint):
        services.outbox_deliver(outbox_id=delivery.outbox_id)
    r.add(endpoint)
    deliveries = list(WebhookDelivery.objects.filter(endpoint=endpoint))
    assert deliveries
    for delivery in deliveries:
        r.add(delivery)


@pytest.fixture
def world(make_staff, settings):
    """An East China agent holding every permission, one customer in East China and one in
    South China (build_customer), and a nationwide queue the agent works."""
    from compensation.models import EventKind, Policy, PolicyTier
    from equipment.models import MachineModel
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.models import Queue, QueueMember

    ensure_policies(ensure_calendar())
    settings.WEBHOOK_ALLOW_PRIVATE = settings.WEBHOOK_ALLOW_HTTP = True  # endpoints on loopback
    east = Region.objects.get(code="east")
    agent = make_staff(roles=(roles.AGENT,), regions=[east], email="li.na@welddesk.example")
    # Every permission the desk has, as if granted by mistake: scoping must hold regardless.
    agent.user_permissions.set(Permission.objects.all())
    staff = {
        "agent": agent,
        "supervisor": make_staff(roles=(roles.SUPERVISOR,), email="lead@welddesk.example"),
        "officer": make_staff(roles=(roles.COMPLIANCE,), email="dpo@welddesk.example"),
        "superuser": make_staff(roles=(), is_superuser=True, email="root@welddesk.example"),
    }
    # One nationwide queue: both customers' tickets and chats reach the agent's queue, so only
    # the region keeps the South customer away.
    queue = Queue.objects.create(name="General (all regions)", slug="general")
    QueueMember.objects.create(queue=queue, agent=agent)
    machine = MachineModel.objects.create(
        code="hw-2000",
        name="HW-2000 2 kW",
        product_line="handheld",
        max_power_w=2000,
        wavelength_nm=1080,
    )
    policy = Policy.objects.create(
        name="Late P1", position=1, event=EventKind.TICKET_BREACH, max_priority=1
    )
    PolicyTier.objects.create(
        policy=policy,
        tier="premium",
        warranty_days_per_hour=1,
        warranty_days_max=30,
        voucher_value=1000,
        priority_days=14,
    )
    customers = {
        code: build_customer(code=code, c=c, staff=staff, machine=machine)
        for code, c in CUSTOMERS.items()
    }

    def more_east(n: int) -> None:
        """n more East China customers (for query budgets)."""
        for i in range(n):
            c = {
                "org": f"华东客户 {i}",
                "org_en": f"East customer {i}",
                "contact": f"contact{i}@east{i}.example",
                "contact_phone": "",
                "email": f"buyer{i}@east{i}.example",
                "name": f"客户 {i}",
                "phone": "",
                "serial": f"HW2000-E{i:05d}",
                "subject": f"Fault {i}",
                "tracking": f"SFE{i:09d}",
                "key": f"ERP {i}",
            }
            build_customer(code="east", c=c, staff=staff, machine=machine)

    return {
        **staff,
        **customers,
        "client": sign_in(Client(), agent),
        "machine": machine,
        "more_east": more_east,
    }


def leaks(body: str, foreign: Customer, *, typed: str = "") -> list[str]:
    """The South customer's identifying text or object links found in a page (but what the
    agent typed: a search page repeats its term in the box and its links)."""
    found = [m for m in foreign.markers if m != typed and (m in body or quote(m) in body)]
    found += [url for url in foreign.change_urls() if url in body]
    return found


def get(client: Client, url: str) -> tuple[int, str]:
    response = client.get(url)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, content.decode("utf-8", "replace")


def _custom_urls(model_admin: admin.ModelAdmin, foreign_pk: Any) -> list[str]:
    """The admin's own views (besides Django's list, add, change, history and delete)."""
    urls = []
    opts = model_admin.model._meta
    standard = {
        f"{opts.app_label}_{opts.model_name}_{view}"
        for view in ("changelist", "add", "change", "history", "delete")
    }
    for pattern in model_admin.get_urls():
        name = getattr(pattern, "name", None)
        if not name or name in standard:
            continue
        converters = pattern.pattern.converters
        if not converters:
            urls.append(reverse(f"admin:{name}"))
        elif list(converters) == ["pk"] and foreign_pk is not None:
            urls.append(reverse(f"admin:{name}", args=[foreign_pk]))
    return urls


def _autocomplete_fields(model_admin: admin.ModelAdmin):
    """(admin, field name) for every autocomplete field of the admin and its inlines."""
    found = [(model_admin, name) for name in model_admin.autocomplete_fields]
    for inline_class in model_admin.inlines:
        inline = inline_class(model_admin.model, admin.site)
        found += [(inline, name) for name in inline.autocomplete_fields]
    return found


@pytest.mark.parametrize("label", LABELS)
def test_an_agent_limited_to_east_china_sees_nothing_of_south_china(world, label, monkeypatch):
    """List, search, add, change and history pages, custom views (exports), autocomplete and
    actions of every registered admin show an East China agent nothing of a South China
    customer, and the South customer's objects answer 404 (audited)."""
    client, agent = world["client"], world["agent"]
    own, foreign = world["east"], world["south"]
    model_admin_ = model_admin(label)
    opts = model_admin_.model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    own_pks, foreign_pks = own.pks(label), foreign.pks(label)
    problems: list[str] = []

    if kind(model_admin_) == "all regions":
        assert get(client, base)[0] == 403
        assert get(client, f"{base}add/")[0] == 403
        for url in _custom_urls(model_admin_, next(iter(foreign_pks), None)):
            status, body = get(client, url)
            assert status == 403 or (status in (404, 405) and not leaks(body, foreign)), url
        # ... while it is open to staff who see all regions.
        assert sign_in(Client(), world["superuser"]).get(base).status_code == 200
        return

    scoped = kind(model_admin_) == "scoped"
    if scoped:
        # The queryset itself, whatever page uses it (also for screens the role cannot open).
        request = RequestFactory().get(base)
        request.user = agent
        rows = set(model_admin_.get_queryset(request).values_list("pk", flat=True))
        assert own_pks <= rows, f"{label}: the East customer's rows are missing"
        assert not rows & foreign_pks, f"{label}: the queryset holds South rows"

    # Searched for by name, e-mail and phone (the blind-index searches), as typed in a URL.
    searches = [CUSTOMERS["south"][k] for k in ("org", "email", "contact", "phone")]
    pages = [base, *(f"{base}?q={quote(term)}" for term in searches), f"{base}add/"]
    pages += [f"{base}{pk}/change/" for pk in sorted(own_pks)]
    pages += [f"{base}{pk}/history/" for pk in sorted(own_pks)]
    if not scoped:  # a few rows of a screen declared free of customer data
        request = _request(agent, base)
        for pk in model_admin_.get_queryset(request).values_list("pk", flat=True)[:3]:
            pages.append(f"{base}{quote(str(pk))}/change/")
    pages += _custom_urls(model_admin_, next(iter(foreign_pks), None))
    pages += [f"{url}?format=csv" for url in _custom_urls(model_admin_, None)]
    shown = {}
    for url in pages:
        status, body = get(client, url)
        assert status < 500, f"{url}: {status}"
        shown[url] = status
        typed = next((term for term in searches if f"?q={quote(term)}" in url), "")
        if status == 200 and leaks(body, foreign, typed=typed):
            problems.append(f"{url} shows {leaks(body, foreign, typed=typed)}")

    listed = shown[base] == 200
    if scoped and listed and own_pks:
        status, body = get(client, base)
        assert any(f"{base}{pk}/change/" in body for pk in own_pks), (
            f"{label}: the list does not show the East customer's rows"
        )

    for pk in sorted(foreign_pks):
        for page in ("change", "history", "delete"):
            status, _body = get(client, f"{base}{pk}/{page}/")
            if status not in (403, 404):
                problems.append(f"{base}{pk}/{page}/ answers {status}, not 404")
    if scoped and foreign_pks and listed:
        denied = AuditEvent.objects.filter(
            action="access.denied", target_id__in=[str(pk) for pk in foreign_pks]
        )
        assert denied.exists(), f"{label}: the refused South object was not audited"

    for source, name in _autocomplete_fields(model_admin_):
        target = source.model._meta.get_field(name).remote_field.model
        target_admin = REGISTRY[target]
        for term in ("", CUSTOMERS["south"]["org"], CUSTOMERS["south"]["contact"]):
            response = client.get(
                "/admin/autocomplete/",
                {
                    "app_label": source.model._meta.app_label,
                    "model_name": source.model._meta.model_name,
                    "field_name": name,
                    "term": term,
                },
            )
            assert response.status_code in (200, 403), response.status_code
            if response.status_code != 200:
                continue
            ids = {row["id"] for row in response.json()["results"]}
            if isinstance(target_admin, RegionScopedAdminMixin):
                south = {str(pk) for pk in foreign.pks(target._meta.label_lower)}
                if ids & south:
                    problems.append(f"autocomplete {label}.{name} offers {ids & south}")
                if not term:  # it does offer the agent's own customers
                    east = {str(pk) for pk in own.pks(target._meta.label_lower)}
                    assert east <= ids, f"autocomplete {label}.{name} lacks {east - ids}"

    if listed and model_admin_.get_actions(_request(agent, base)):
        received: list[set[Any]] = []
        original = model_admin_.get_actions

        def recording(request):
            def record(modeladmin, request, queryset):
                received.append(set(queryset.values_list("pk", flat=True)))

            return {
                name: (record, name, text) for name, (_f, _n, text) in original(request).items()
            }

        monkeypatch.setattr(model_admin_, "get_actions", recording)
        for name in original(_request(agent, base)):
            for selection in (
                {helpers.ACTION_CHECKBOX_NAME: list(foreign_pks)},
                {"select_across": "1"},
            ):
                payload = {"action": name, "index": 0, **selection}
                if helpers.ACTION_CHECKBOX_NAME not in payload:
                    payload[helpers.ACTION_CHECKBOX_NAME] = list(own_pks)[:1] or ["0"]
                client.post(base, payload)
        assert received, f"{label}: no action ran"
        for pks in received:
            if pks & foreign_pks:
                problems.append(f"an action of {label} received South rows {pks & foreign_pks}")

    assert not problems, "\n".join(problems)


def _request(user, path: str):
    request = RequestFactory().get(path)
    request.user = user
    return request


def test_scoped_lists_cost_the_same_with_1_and_11_customers(world):
    """Scoping adds no query per row: every scoped list an East agent opens costs as many
    queries with one East customer as with eleven (the South customer never counts)."""
    client = world["client"]
    scoped = [label for label in LABELS if kind(model_admin(label)) == "scoped"]

    def costs() -> dict[str, int]:
        found = {}
        for label in scoped:
            opts = model_admin(label).model._meta
            with CaptureQueriesContext(connection) as queries:
                status = client.get(f"/admin/{opts.app_label}/{opts.model_name}/").status_code
            if status == 200:
                found[label] = len(queries)
        return found

    one = costs()
    world["more_east"](10)
    many = costs()
    assert len(one) >= 10, one  # the lists an agent with every permission opens
    assert many == one


def test_an_agent_without_a_region_sees_no_customer_anywhere(world, make_staff):
    """Fail closed: an agent given no region (and every permission) sees no row of any scoped
    screen, and no customer's page."""
    nowhere = make_staff(roles=(roles.AGENT,), regions=(), email="new.agent@welddesk.example")
    nowhere.user_permissions.set(Permission.objects.all())
    client = sign_in(Client(), nowhere)
    scoped = [label for label in LABELS if kind(model_admin(label)) == "scoped"]
    for label in scoped:
        rows = model_admin(label).get_queryset(_request(nowhere, "/admin/"))
        assert not rows.exists(), label
        opts = model_admin(label).model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        status, body = get(client, base)
        assert status in (200, 403), label
        for customer in (world["east"], world["south"]):
            assert not leaks(body, customer), label
            for pk in sorted(customer.pks(label)):
                assert get(client, f"{base}{pk}/change/")[0] in (403, 404), label
