"""The pages the accessibility test walks, in one place, and the axe-core runner it uses.

Pages are found, not listed: every registered ModelAdmin's changelist, add and change page and
its own extra views without parameters (tickets' scores, audit's records of processing, ...),
every URL pattern of the portal, accounts and status without parameters, and the parameterised
ones from SAMPLES below, filled with ids of the seeded data. A page another engineer adds is
walked once merged; a new parameterised pattern fails `test_every_page_pattern_is_walked` until
it has a sample here (or a reason in SKIP_PATTERNS).

axe-core is pinned in tools/axe/package.json and installed with `npm ci --prefix tools/axe`
(.ci/run does it); the test injects it with page.add_script_tag, so no page ever ships it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

AXE_JS = Path(settings.BASE_DIR) / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# URL namespaces of the customer's side (walked as a customer and anonymously).
PORTAL_NAMESPACES = ["portal", "accounts", "status"]

# Patterns never walked, with why. Keys are "namespace:name".
SKIP_PATTERNS = {
    "accounts:logout": "signs the walker out",
    "accounts:language": "POST only: switches the language",
    "accounts:backup_codes": "POST only: replaces the backup codes",
    "portal:push": "POST only: a push subscription (JSON)",
    "portal:platform_link": "POST only: makes a linking code (its page is checked by axe in "
    "intake/tests/test_wechat_binding.py)",
    "portal:platform_unlink": "POST only: unlinks a WeChat/WeCom account (the profile is walked)",
    "portal:data_export": "a JSON download, not a page",
    "portal:suggest": "a JSON fragment for the fault form's suggestions",
    "status:feed": "an Atom feed",
    "status:subscribe": "POST only: its form is on the status page (walked)",
    "status:summary": "JSON",
    "status:report": "a PDF download of an incident report",
    "status:confirm": "a one-time token link: confirming changes the subscription",
    "status:unsubscribe": "a one-time token link: unsubscribes",
    "accounts:password_reset_confirm": "walked through SAMPLES with a real token",
}


def _first(model, **filters):
    return model.objects.filter(**filters).order_by("pk").first()


def _ticket(customer):
    from tickets.models import Ticket

    ticket = _first(Ticket, organisation=customer.organisation)
    return {"reference": ticket.reference} if ticket else None


def _machine(customer):
    from equipment.models import Unit

    unit = _first(Unit, organisation=customer.organisation)
    return {"serial": unit.serial_number} if unit else None


def _shipment(customer):
    from logistics.models import Shipment

    shipment = _first(Shipment, organisation=customer.organisation)
    return {"pk": shipment.pk} if shipment else None


def _article(customer):
    from knowledge.models import Article

    article = _first(Article, is_published=True)
    return {"language": article.language, "slug": article.slug} if article else None


def _fault_code(customer):
    from equipment.models import FaultCode

    code = _first(FaultCode)
    return {"code": code.code} if code else None


def _incident(customer):
    from status.models import Incident

    incident = _first(Incident)
    return {"pk": incident.pk} if incident else None


def _reset_link(customer):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return {
        "uidb64": urlsafe_base64_encode(force_bytes(customer.pk)),
        "token": default_token_generator.make_token(customer),
    }


# Parameterised customer pages: "namespace:name" -> kwargs from the seeded data, given the
# signed-in customer (None when the data has no such object: the walk then says so).
SAMPLES = {
    "portal:ticket": _ticket,
    "portal:machine": _machine,
    "portal:shipment": _shipment,
    "portal:article": _article,
    "portal:fault_code": _fault_code,
    "status:incident": _incident,
    "accounts:password_reset_confirm": _reset_link,
}

# Pages reached anonymously (signed out): the sign-in pages, the status page, errors.
ANONYMOUS = [
    "accounts:login",
    "accounts:password_reset",
    "accounts:password_reset_done",
    "accounts:password_reset_complete",
    "accounts:password_reset_confirm",
    "status:page",
]
# The error pages, by a URL that produces them (DEBUG is off under pytest: the real templates).
ERROR_PAGES = {"404": "/portal/no-such-page/"}


@dataclass(frozen=True)
class Pattern:
    key: str  # "namespace:name"
    params: tuple[str, ...]


def patterns(namespaces=PORTAL_NAMESPACES) -> list[Pattern]:
    """Every named URL pattern of the given namespaces, with its parameter names."""
    from django.urls import get_resolver

    resolver = get_resolver()
    found = []
    for namespace in namespaces:
        _prefix, sub = resolver.namespace_dict[namespace]
        for name, entries in sub.reverse_dict.lists():
            if not isinstance(name, str):
                continue
            for _bits, _pattern, _defaults, _converters in entries:
                params = tuple(sorted({p for _fmt, ps in _bits for p in ps}))
                found.append(Pattern(f"{namespace}:{name}", params))
    return sorted(set(found), key=lambda p: p.key)


def customer_urls(customer) -> tuple[list[tuple[str, str]], list[str]]:
    """(key, url) of every customer page to walk signed in, and the keys without a sample."""
    from django.urls import reverse

    urls, missing = [], []
    for pattern in patterns():
        if pattern.key in ANONYMOUS or (
            pattern.key in SKIP_PATTERNS and pattern.key not in SAMPLES
        ):
            continue
        if not pattern.params:
            urls.append((pattern.key, reverse(pattern.key)))
            continue
        kwargs = SAMPLES[pattern.key](customer) if pattern.key in SAMPLES else None
        if kwargs is None:
            missing.append(pattern.key)
        else:
            urls.append((pattern.key, reverse(pattern.key, kwargs=kwargs)))
    return urls, missing


def anonymous_urls(customer) -> list[tuple[str, str]]:
    from django.urls import reverse

    urls = []
    for key in ANONYMOUS:
        kwargs = SAMPLES[key](customer) if key in SAMPLES else None
        urls.append((key, reverse(key, kwargs=kwargs)))
    urls += [(f"error {status}", url) for status, url in ERROR_PAGES.items()]
    return urls


def admin_page_urls() -> list[tuple[str, str]]:
    """(label, url) of each registered ModelAdmin's changelist and add page and its own views
    without parameters; change pages are found from the changelist's first row in the walk."""
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse

    urls = [("admin index", reverse("admin:index"))]
    for model, model_admin in sorted(
        admin.site._registry.items(), key=lambda item: item[0]._meta.label
    ):
        opts = model._meta
        label = opts.label_lower
        urls.append(
            (f"{label} list", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        )
        urls.append((f"{label} add", reverse(f"admin:{opts.app_label}_{opts.model_name}_add")))
        standard = {"changelist", "add", "history", "delete", "change"}
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if not name or name.removeprefix(f"{opts.app_label}_{opts.model_name}_") in standard:
                continue
            try:
                urls.append((f"{label} {name}", reverse(f"admin:{name}")))
            except NoReverseMatch:
                continue  # takes parameters: reached from the change page or an action
    # The supervisors' reports (servicedesk/reports.py): the index and every registered report.
    from core import reports

    urls.append(("reports", reverse("admin-reports")))
    for report in reports.all_reports():
        urls.append((f"report {report.key}", reverse("admin-report", args=[report.key])))
    return urls


def run_axe(page) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it stands."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                   resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                          summary: n.failureSummary || ''})),
            }));
        }""",
        AXE_TAGS,
    )


def describe(where: str, violations: list[dict]) -> list[str]:
    """One line per failing element: page, rule id, impact, target selector, summary."""
    lines = []
    for v in violations:
        for node in v["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"{where}: {v['id']} [{v['impact']}] {node['target']} — {summary}")
    return lines
