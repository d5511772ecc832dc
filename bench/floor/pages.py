"""The floor of a ticket page: what the three pages cost before they show a ticket at all.

Issue 22 asks the staff page, the portal page and the API detail for under 15 ms in-process.
These views are each page's frame with the least the page could do: the same middleware and
sign-in (a staff member with a verified second factor through the admin's own `admin_view`, a
signed-in customer, an API key with its scope and throttle), one read of the ticket's
reference and subject by its key, scoped as the real page scopes it, and the same base
template (the admin's `base_site.html` without the navigation column; the portal's
`base.html` with its banners) around one line of text. What a ticket page costs above its
floor is the desk's own work: the conversation, the forms and panels, the read audit.
"""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import ApiKeyAuthentication, ApiKeyScope, PerCallerThrottle
from accounts.permissions import get_scoped_or_404
from portal.views import customer_required, render_portal
from tickets.admin_workspace import full_width_context
from tickets.models import Ticket


def _ticket(user, **lookup) -> Ticket:
    return get_scoped_or_404(user, Ticket.objects.only("reference", "subject"), **lookup)


def _staff_page(request, pk: int):
    ticket = _ticket(request.user, pk=pk)
    context = {
        **full_width_context(admin.site, request),
        "title": ticket.reference,
        "ticket": ticket,
    }
    return TemplateResponse(request, "floor/staff_page.html", context)


staff_page = admin.site.admin_view(_staff_page)


@customer_required
def portal_page(request, reference: str):
    ticket = _ticket(request.user, reference=reference)
    return render_portal(request, "floor/portal_page.html", {"ticket": ticket})


class ApiPage(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated, ApiKeyScope]
    throttle_classes = [PerCallerThrottle]

    def get(self, request, reference: str):
        ticket = _ticket(request.user, reference=reference)
        return Response({"reference": ticket.reference, "subject": ticket.subject})
