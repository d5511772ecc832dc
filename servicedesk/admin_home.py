"""The agents' home: the admin index for staff who work tickets.

Django's index lists models, which is what an administrator needs and nothing an agent needs.
Staff with the agent or supervisor role get "my work" instead: the blocks each app registers
in core.home (tickets, chats, incidents, satisfaction), read through that app's selectors and
scoped to the agent's regions. The model index stays at /admin/models/, linked from the home,
and remains the index for staff who do not work tickets (a compliance officer).
"""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import roles
from accounts.permissions import has_role
from core import home


def agent_home(request):
    if not has_role(request.user, roles.AGENT, roles.SUPERVISOR):
        return admin.site.index(request)
    context = {
        **admin.site.each_context(request),
        "title": _("My work"),
        "blocks": home.blocks_for(request),
        "models_url": reverse("admin-models"),
        "reports_url": reverse("admin-reports"),
    }
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/home.html", context)
