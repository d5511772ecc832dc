"""Reference data of the accounts app: staff roles as groups and the service regions.

Staff roles are groups, with the permissions each role carries.

Permissions are named as strings ("app_label.codename") so that later apps can be listed here
without accounts importing them; permissions of apps not installed yet are skipped.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

AGENT = "agent"
SUPERVISOR = "supervisor"
COMPLIANCE = "compliance_officer"
ROLES = (AGENT, SUPERVISOR, COMPLIANCE)

ROLE_LABELS = {
    AGENT: _("Agent"),
    SUPERVISOR: _("Supervisor"),
    COMPLIANCE: _("Compliance officer"),
}

# What every desk role needs to work tickets in the admin (writes still go through services).
_TICKET_DESK = [
    "tickets.view_ticket",
    "tickets.change_ticket",
    "tickets.view_queue",
    "tickets.view_cannedresponse",
    "tickets.view_survey",
    "equipment.view_unit",
    "equipment.view_machinemodel",
    "equipment.view_faultcode",
]
# Agents and supervisors write the knowledge base (articles are unpublished, never deleted).
_KNOWLEDGE = [
    "knowledge.view_article",
    "knowledge.add_article",
    "knowledge.change_article",
]
# Agents and supervisors answer chats in the console (scoped to their queues there).
_CHAT = ["chat.view_conversation", "chat.change_conversation"]
# Agents work incidents (updates, playbook tasks, notes); supervisors also declare, publish and
# close them and keep the components and the severity playbooks.
_STATUS_DESK = ["status.view_incident", "status.change_incident", "status.view_component"]
# Agents and supervisors record shipments from a ticket and follow their tracking.
_LOGISTICS = ["logistics.view_shipment", "logistics.add_shipment", "logistics.view_trackingevent"]

# Supervisors keep the compensation policies, assess events and decide the grants.
_COMPENSATION = [
    "compensation.view_policy",
    "compensation.add_policy",
    "compensation.change_policy",
    "compensation.view_policytier",
    "compensation.add_policytier",
    "compensation.change_policytier",
    "compensation.delete_policytier",
    "compensation.view_assessment",
    "compensation.add_assessment",
    "compensation.view_grant",
    "compensation.decide_grant",
    "compensation.view_voucher",
    "compensation.change_voucher",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENT: [
        "accounts.view_organisation",
        "accounts.view_user",
        "accounts.view_region",
        *_TICKET_DESK,
        *_KNOWLEDGE,
        *_CHAT,
        *_STATUS_DESK,
        *_LOGISTICS,
    ],
    SUPERVISOR: [
        "accounts.view_organisation",
        "accounts.change_organisation",
        "accounts.add_organisation",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "accounts.view_region",
        "notifications.view_outbox",
        "audit.view_auditcheckpoint",
        # The device list, for its one action: reset a person's second factor (re-authenticated).
        "otp_totp.view_totpdevice",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        *_TICKET_DESK,
        "accounts.view_apikey",
        "accounts.add_apikey",
        "accounts.change_apikey",
        # Organisations' webhook endpoints (secret shown once) and their delivery log.
        "notifications.view_webhookendpoint",
        "notifications.add_webhookendpoint",
        "notifications.change_webhookendpoint",
        "notifications.view_webhookdelivery",
        "notifications.replay_webhookdelivery",
        "equipment.add_unit",
        "equipment.change_unit",
        "equipment.add_faultcode",
        "equipment.change_faultcode",
        "tickets.add_queue",
        "tickets.change_queue",
        "tickets.add_cannedresponse",
        "tickets.change_cannedresponse",
        "tickets.view_slapolicy",
        "tickets.change_slapolicy",
        # The priority table: which impact of a fault report opens it at which priority.
        "tickets.view_priorityrule",
        "tickets.add_priorityrule",
        "tickets.change_priorityrule",
        "tickets.delete_priorityrule",
        "tickets.view_businesscalendar",
        "tickets.change_businesscalendar",
        # Which machine alarms open tickets, and which contracts watch for silent machines.
        "intake.view_alarmrule",
        "intake.add_alarmrule",
        "intake.change_alarmrule",
        "intake.delete_alarmrule",
        "intake.view_silencerule",
        "intake.add_silencerule",
        "intake.change_silencerule",
        "intake.delete_silencerule",
        *_KNOWLEDGE,
        *_CHAT,
        "chat.view_agentpresence",
        "chat.change_agentpresence",
        *_STATUS_DESK,
        "status.add_incident",
        "status.manage_incident",
        "status.add_component",
        "status.change_component",
        "status.view_componentgroup",
        "status.add_componentgroup",
        "status.change_componentgroup",
        "status.view_severity",
        "status.change_severity",
        "status.view_playbookstep",
        "status.add_playbookstep",
        "status.change_playbookstep",
        "status.delete_playbookstep",
        "status.view_maintenance",
        "status.add_maintenance",
        "status.change_maintenance",
        "status.view_drill",
        "status.add_drill",
        "status.change_drill",
        *_COMPENSATION,
        *_LOGISTICS,
    ],
    COMPLIANCE: [
        "accounts.view_organisation",
        "accounts.view_user",
        "audit.view_auditevent",
        "audit.export_auditevent",
        "audit.view_auditcheckpoint",
        "notifications.view_outbox",
        "compliance.view_datasubject",
        "compliance.export_datasubject",
        "compliance.view_erasurerequest",
        "compliance.review_erasurerequest",
    ],
}


def ensure_roles() -> None:
    """Create the role groups and give each exactly its listed permissions."""
    from django.contrib.auth.models import Group, Permission

    wanted = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    by_name = {}
    for perm in Permission.objects.select_related("content_type").filter(
        codename__in={p.split(".", 1)[1] for p in wanted}
    ):
        by_name[f"{perm.content_type.app_label}.{perm.codename}"] = perm
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([by_name[p] for p in perms if p in by_name])


REGIONS = [
    ("east", "East China", "华东"),
    ("north", "North China", "华北"),
    ("south", "South China", "华南"),
    ("central", "Central China", "华中"),
    ("southwest", "Southwest China", "西南"),
    ("northwest", "Northwest China", "西北"),
    ("northeast", "Northeast China", "东北"),
]


def ensure_regions() -> None:
    """Create China's service regions if missing (reference data)."""
    from accounts.models import Region

    existing = set(Region.objects.values_list("code", flat=True))
    Region.objects.bulk_create(
        [Region(code=c, name_en=en, name_zh=zh) for c, en, zh in REGIONS if c not in existing],
        ignore_conflicts=True,
    )


def ensure_on_migrate(*, sender, using: str = "default", **kwargs) -> None:
    """Reference data after every migrate (and after test flushes): roles and regions.

    Runs on the last app's post_migrate, when every app's permissions exist.
    """
    from django.apps import apps

    # post_migrate is sent only for apps with a models module.
    with_models = [a for a in apps.get_app_configs() if a.models_module is not None]
    if using == "default" and sender.label == with_models[-1].label:
        ensure_roles()
        ensure_regions()
