"""Assessment by policy, idempotency, approval and application, reversal, notifications."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from chat import services as chat_services
from chat.models import Conversation
from compensation import services
from compensation.models import Assessment, Grant, GrantKind, GrantStatus, Voucher, VoucherStatus
from core.errors import ApplicationError, Forbidden
from equipment.models import WarrantyExtension
from intake import services as intake_services
from notifications.models import Outbox

pytestmark = pytest.mark.django_db


def grants_of(org):
    return {g.kind: g for g in Grant.objects.filter(organisation=org)}


@pytest.fixture
def scene(make_org, make_customer, make_unit, make_ticket, make_incident, window):
    """Who the East hotline outage touched, and who it did not."""
    start, _end = window
    inside = start + dt.timedelta(minutes=30)
    orgs = {
        "ticket": make_org("Ticket Co", tier="plus"),
        "chat": make_org("Chat Co"),
        "caller": make_org("Caller Co", region="north", tier="premium"),
        "before": make_org("Early Co"),
        "south": make_org("South Co", region="south"),
        "quiet": make_org("Quiet Co"),
    }
    people = {key: make_customer(org) for key, org in orgs.items()}
    units = {key: make_unit(org) for key, org in orgs.items()}
    make_unit(orgs["ticket"], warranty_ends_on=start.date() - dt.timedelta(days=1))  # expired
    tickets = {
        "ticket": make_ticket(people["ticket"], at=inside),
        "before": make_ticket(people["before"], at=start - dt.timedelta(hours=3)),
        "south": make_ticket(people["south"], at=inside),
    }
    chat = chat_services.conversation_open(customer=people["chat"])
    Conversation.objects.filter(pk=chat.pk).update(created_at=inside)
    from accounts import services as account_services

    account_services.user_update_profile(
        user=people["caller"], actor=None, phone="+86 138 0013 8000"
    )
    intake_services.call_event(
        call_id="c-1", line="east", event="started", at=inside, caller="13800138000"
    )
    incident = make_incident()
    return {
        "orgs": orgs,
        "people": people,
        "units": units,
        "tickets": tickets,
        "incident": incident,
    }


def test_assessment_finds_contacts_in_the_window_and_applies_each_tier(scene, outage_policy):
    result = services.assess_incident(incident=scene["incident"], actor=None)
    orgs = scene["orgs"]
    assert result.organisations == 3
    assert result.policies == ["Outage"]
    # Plus tier, 2 hours: 1 day/hour -> 2 days, a 1000 CNY voucher, 7 days of priority.
    ticket_co = grants_of(orgs["ticket"])
    assert set(ticket_co) == {GrantKind.WARRANTY, GrantKind.VOUCHER, GrantKind.PRIORITY}
    assert ticket_co[GrantKind.WARRANTY].days == 2
    # Only the unit whose warranty ran during the outage is extended.
    assert ticket_co[GrantKind.WARRANTY].unit_ids == [scene["units"]["ticket"].pk]
    assert ticket_co[GrantKind.VOUCHER].amount == 1000
    assert ticket_co[GrantKind.PRIORITY].days == 7
    assert ticket_co[GrantKind.WARRANTY].evidence["tickets"] == [
        scene["tickets"]["ticket"].reference
    ]
    # Standard tier: half a day an hour -> 1 day and a 500 CNY voucher, no priority.
    chat_co = grants_of(orgs["chat"])
    assert set(chat_co) == {GrantKind.WARRANTY, GrantKind.VOUCHER}
    assert chat_co[GrantKind.WARRANTY].days == 1
    assert chat_co[GrantKind.VOUCHER].evidence["chats"] == 1
    # A caller of the East line from another region is found through the phone's blind
    # index; premium gets 5 days an hour capped at 8.
    caller_co = grants_of(orgs["caller"])
    assert caller_co[GrantKind.WARRANTY].days == 8
    assert caller_co[GrantKind.WARRANTY].evidence["calls"] == 1
    for untouched in ("before", "south", "quiet"):
        assert grants_of(orgs[untouched]) == {}
    assert all(g.status == GrantStatus.PROPOSED for g in Grant.objects.all())
    proposed = AuditEvent.objects.filter(action="compensation.grant_proposed")
    assert proposed.count() == Grant.objects.count() == 8
    assert AuditEvent.objects.filter(action="compensation.assessed").count() == 1


def test_units_in_the_region_count_when_the_policy_says_so(scene, outage_policy):
    outage_policy.affects_contacts = False
    outage_policy.affects_units = True
    outage_policy.save()
    services.assess_incident(incident=scene["incident"], actor=None)
    affected = set(Grant.objects.values_list("organisation__name", flat=True))
    # Every East organisation with a unit in warranty, contact or not; nobody elsewhere.
    assert affected == {"Ticket Co", "Chat Co", "Early Co", "Quiet Co"}
    quiet = grants_of(scene["orgs"]["quiet"])[GrantKind.WARRANTY]
    assert quiet.evidence["units"] == [scene["units"]["quiet"].serial_number]


def test_a_minor_or_short_incident_qualifies_for_nothing(
    scene, outage_policy, make_incident, window
):
    minor = make_incident(severity="sev3")
    assert services.assess_incident(incident=minor, actor=None).proposed == 0
    outage_policy.min_duration_minutes = 3 * 60
    outage_policy.save()
    result = services.assess_incident(incident=scene["incident"], actor=None)
    assert (result.proposed, result.policies) == (0, [])


def test_an_unresolved_incident_is_not_assessed(make_incident, outage_policy):
    ongoing = make_incident(resolve=False)
    with pytest.raises(ApplicationError) as caught:
        services.assess_incident(incident=ongoing, actor=None)
    assert caught.value.code == "not_resolved"
    assert not Assessment.objects.exists()


def test_assessing_again_proposes_only_what_is_new(
    scene, outage_policy, make_customer, make_org, make_ticket, window
):
    first = services.assess_incident(incident=scene["incident"], actor=None)
    again = services.assess_incident(incident=scene["incident"], actor=None)
    assert again.proposed == 0
    assert Grant.objects.count() == first.proposed
    assert Assessment.objects.get().runs == 2
    # A ticket recorded late (e.g. from an e-mail backlog) adds its organisation only.
    late = make_customer(make_org("Late Co"))
    make_ticket(late, at=window[0] + dt.timedelta(minutes=5))
    third = services.assess_incident(incident=scene["incident"], actor=None)
    assert third.proposed == 1  # standard tier, no unit: the voucher only
    assert Grant.objects.count() == first.proposed + 1


def test_approval_applies_each_kind_through_its_app_once(scene, outage_policy, supervisor):
    services.assess_incident(incident=scene["incident"], actor=supervisor)
    ids = list(Grant.objects.values_list("pk", flat=True))
    unit = scene["units"]["ticket"]
    before = unit.warranty_ends_on
    done = services.grants_approve(grant_ids=ids, actor=supervisor, reason="Policy applied")
    assert (done.done, done.skipped) == (8, 0)
    unit.refresh_from_db()
    assert unit.warranty_ends_on == before + dt.timedelta(days=2)
    extension = WarrantyExtension.objects.get(unit=unit)
    assert extension.days == 2 and "Hotline East down" in extension.reason_en
    assert "华东热线中断" in extension.reason_zh
    org = scene["orgs"]["ticket"]
    org.refresh_from_db()
    assert org.priority_service_until > timezone.now() + dt.timedelta(days=6, hours=23)
    voucher = Voucher.objects.get(organisation=org)
    assert voucher.value == 1000 and voucher.status == VoucherStatus.ISSUED
    assert voucher.code.startswith("WD-")
    # Approving again applies nothing twice.
    again = services.grants_approve(grant_ids=ids, actor=supervisor)
    assert (again.done, again.skipped) == (0, 8)
    assert WarrantyExtension.objects.filter(unit=unit).count() == 1
    assert Voucher.objects.count() == 3
    for action in ("grant_approved", "grant_applied"):
        assert AuditEvent.objects.filter(action=f"compensation.{action}").count() == 8
    assert AuditEvent.objects.filter(action="unit.warranty_extended").count() == 3
    assert AuditEvent.objects.filter(action="organisation.priority_service").count() == 2


def test_customers_are_told_in_their_language(scene, outage_policy, supervisor, make_customer):
    from accounts import services as account_services

    zh = scene["people"]["chat"]
    account_services.user_update_profile(user=zh, actor=zh, language="zh-hans")
    services.assess_incident(incident=scene["incident"], actor=supervisor)
    services.grants_approve(grant_ids=Grant.objects.values_list("pk", flat=True), actor=supervisor)
    to_zh = Outbox.objects.get(key__startswith="compensation:", key__endswith=f":{zh.pk}:email")
    assert "补偿" in to_zh.subject
    assert "保修延长 1 天" in to_zh.body and "华东热线中断" in to_zh.body
    en = scene["people"]["ticket"]
    to_en = Outbox.objects.get(key__startswith="compensation:", key__endswith=f":{en.pk}:email")
    assert to_en.recipient == en.email
    assert "Warranty extended by 2 days" in to_en.body
    assert "Priority service for 7 days" in to_en.body
    voucher = Voucher.objects.get(organisation=scene["orgs"]["ticket"])
    assert voucher.code in to_en.body
    # One notice per person for the batch, not one per grant; nobody unaffected is told.
    assert Outbox.objects.filter(key__startswith="compensation:").count() == 3


def test_rejection_needs_a_reason_and_a_rejected_grant_is_never_applied(
    scene, outage_policy, supervisor
):
    services.assess_incident(incident=scene["incident"], actor=supervisor)
    ids = list(Grant.objects.filter(kind=GrantKind.VOUCHER).values_list("pk", flat=True))
    with pytest.raises(ApplicationError):
        services.grants_reject(grant_ids=ids, actor=supervisor, reason="  ")
    done = services.grants_reject(grant_ids=ids, actor=supervisor, reason="Budget review")
    assert done.done == 3
    assert services.grants_approve(grant_ids=ids, actor=supervisor).done == 0
    assert not Voucher.objects.exists()
    assert AuditEvent.objects.filter(action="compensation.grant_rejected").count() == 3


def test_only_supervisors_decide(scene, outage_policy, make_staff):
    services.assess_incident(incident=scene["incident"], actor=None)
    agent = make_staff()
    with pytest.raises(Forbidden):
        services.grants_approve(grant_ids=[Grant.objects.first().pk], actor=agent)
    with pytest.raises(Forbidden):
        services.assess_incident(incident=scene["incident"], actor=agent)


def test_reversal_takes_each_kind_back(scene, outage_policy, supervisor):
    services.assess_incident(incident=scene["incident"], actor=supervisor)
    org = scene["orgs"]["ticket"]
    services.grants_approve(
        grant_ids=Grant.objects.filter(organisation=org).values_list("pk", flat=True),
        actor=supervisor,
    )
    unit = scene["units"]["ticket"]
    unit.refresh_from_db()
    extended = unit.warranty_ends_on
    grants = grants_of(org)
    with pytest.raises(ApplicationError):
        services.grant_reverse(grant=grants[GrantKind.WARRANTY], actor=supervisor, reason="")
    for grant in grants.values():
        services.grant_reverse(grant=grant, actor=supervisor, reason="Granted in error")
    unit.refresh_from_db()
    assert unit.warranty_ends_on == extended - dt.timedelta(days=2)
    assert WarrantyExtension.objects.filter(unit=unit, days=-2).exists()
    assert Voucher.objects.get(organisation=org).status == VoucherStatus.VOID
    org.refresh_from_db()
    assert org.priority_service_until is None
    assert set(Grant.objects.filter(organisation=org).values_list("status", flat=True)) == {
        GrantStatus.REVERSED
    }
    assert AuditEvent.objects.filter(action="compensation.grant_reversed").count() == 3
    with pytest.raises(ApplicationError) as caught:
        services.grant_reverse(grant=grants[GrantKind.VOUCHER], actor=supervisor, reason="x")
    assert caught.value.code == "not_applied"
    assert Outbox.objects.filter(key__startswith="compensation-reversed:").count() == 3


def test_a_redeemed_voucher_cannot_be_reversed(scene, outage_policy, supervisor):
    services.assess_incident(incident=scene["incident"], actor=supervisor)
    grant = Grant.objects.filter(kind=GrantKind.VOUCHER).first()
    services.grants_approve(grant_ids=[grant.pk], actor=supervisor)
    services.voucher_redeem(voucher=grant.voucher, actor=supervisor)
    with pytest.raises(ApplicationError) as caught:
        services.grant_reverse(grant=grant, actor=supervisor, reason="Mistake")
    assert caught.value.code == "redeemed"
    grant.refresh_from_db()
    assert grant.status == GrantStatus.APPLIED


def test_priority_service_puts_new_tickets_first_with_the_fastest_sla_until_it_expires(
    scene, outage_policy, supervisor, make_ticket
):
    from tickets.models import Ticket
    from tickets.selectors import queue_ordering

    org = scene["orgs"]["ticket"]
    customer = scene["people"]["ticket"]
    services.assess_incident(incident=scene["incident"], actor=supervisor)
    services.grants_approve(
        grant_ids=Grant.objects.filter(organisation=org, kind=GrantKind.PRIORITY).values_list(
            "pk", flat=True
        ),
        actor=supervisor,
    )
    org.refresh_from_db()
    now = timezone.now()
    other = make_ticket(scene["people"]["quiet"], at=now, priority=2)
    favoured = make_ticket(customer, at=now, priority=3)
    assert favoured.priority_until == org.priority_service_until
    assert favoured.contract_tier == "premium"  # the fastest tier's targets, not "plus"
    ordered = list(
        Ticket.objects.filter(pk__in=[other.pk, favoured.pk]).order_by(*queue_ordering(now=now))
    )
    assert ordered == [favoured, other]
    # After it expires: neither new tickets nor the queue order favour the customer.
    later = org.priority_service_until + dt.timedelta(minutes=1)
    after = make_ticket(customer, at=later, priority=3)
    assert after.priority_until is None and after.contract_tier == "plus"
    ordered = list(
        Ticket.objects.filter(pk__in=[other.pk, favoured.pk]).order_by(*queue_ordering(now=later))
    )
    assert ordered == [other, favoured]


def test_a_late_p1_ticket_is_compensated(
    breach_policy, make_org, make_customer, make_unit, make_ticket, supervisor
):
    from tickets.models import Ticket

    org = make_org("Late Fix Co", tier="premium")
    customer = make_customer(org)
    unit = make_unit(org, contract_tier="premium")
    ticket = make_ticket(customer, at=timezone.now() - dt.timedelta(days=3), priority=1, unit=unit)
    with pytest.raises(ApplicationError):
        services.assess_ticket(ticket=ticket, actor=supervisor)  # not resolved late (yet)
    resolved = ticket.resolution_due + dt.timedelta(hours=10)
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=resolved, resolution_met=False)
    ticket.refresh_from_db()
    result = services.assess_ticket(ticket=ticket, actor=supervisor)
    assert result.proposed == 3
    grants = grants_of(org)
    assert grants[GrantKind.WARRANTY].days == 10  # 1 day an hour, 10 hours late
    assert grants[GrantKind.WARRANTY].unit_ids == [unit.pk]
    assert grants[GrantKind.WARRANTY].evidence["tickets"] == [ticket.reference]
    assert services.assess_ticket(ticket=ticket, actor=supervisor).proposed == 0
    # A P3 ticket resolved late does not qualify.
    p3 = make_ticket(customer, at=timezone.now() - dt.timedelta(days=3), priority=3)
    Ticket.objects.filter(pk=p3.pk).update(resolved_at=timezone.now(), resolution_met=False)
    p3.refresh_from_db()
    assert services.assess_ticket(ticket=p3, actor=supervisor).proposed == 0


def test_the_beat_assesses_what_has_not_been_assessed(scene, outage_policy):
    counts = services.assess_pending()
    assert counts["incidents"] == 1 and counts["proposed"] == 8
    assert services.assess_pending() == {"incidents": 0, "tickets": 0, "proposed": 0}


def test_bulk_decision_runs_in_chunks(
    scene, outage_policy, supervisor, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "CHUNK", 3)
    result = services.assess_incident(incident=scene["incident"], actor=supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        services.assessment_decide_all_later(
            assessment=result.assessment, approve=True, actor=supervisor
        )  # eager Celery: the task runs after commit, in chunks of 3
    assert set(Grant.objects.values_list("status", flat=True)) == {GrantStatus.APPLIED}


def _statements(captured: list[dict]) -> int:
    """Statements run, a multi-row insert split only by the database's limit on parameters
    (999 on SQLite) counting once: those splits follow the row count, not the grants' work."""
    count, previous = 0, None
    for query in captured:
        sql = query["sql"]
        head = sql.split(" VALUES ")[0] if sql.startswith("INSERT INTO") else None
        if head is None or head != previous:
            count += 1
        previous = head
    return count


def test_approval_costs_the_same_statements_for_10_and_100_grants(
    make_affected, make_incident, outage_policy, supervisor
):
    """Each chunk is applied set-based (warranties, vouchers, priority, audit, notices): the
    number of statements does not grow with the number of grants."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tiers = ("standard", "plus", "premium")
    for n in range(42):
        make_affected(f"Affected {n:02d}", tier=tiers[n % 3])
    services.assess_incident(incident=make_incident(), actor=supervisor)
    ids = list(Grant.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) >= 110
    costs = {}
    for batch in (ids[:10], ids[10:110]):
        assert {g.kind for g in Grant.objects.filter(pk__in=batch)} == set(GrantKind.values)
        with CaptureQueriesContext(connection) as queries:
            done = services.grants_approve(grant_ids=batch, actor=supervisor)
        assert done.done == len(batch)
        costs[len(batch)] = _statements(queries.captured_queries)
    assert costs[10] == costs[100], costs
    assert Outbox.objects.filter(key__startswith="compensation:").count() == 42
    assert WarrantyExtension.objects.count() == 42
    assert AuditEvent.objects.filter(action="compensation.grant_applied").count() == 110
