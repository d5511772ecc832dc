"""The agents' chat console in the admin: waiting and active chats, one conversation pane."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from audit.services import audit_read
from chat import presence, selectors, services
from chat.models import AgentPresence, Conversation, ConversationStatus
from core.admin import LabelledListEditableMixin
from core.errors import ApplicationError
from tickets.selectors import canned_response_list, queue_agents


def _scope(request, queryset):
    """The chats of the agent's queues (on top of the region scope every customer screen has)."""
    return selectors.console_scope(request.user, queryset)


@admin.register(Conversation)
class ConversationAdmin(RegionScopedAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["__str__", "organisation", "status", "queue", "agent", "created_at", "unread"]
    list_filter = ["status", "queue"]
    list_select_related = ["organisation", "queue", "agent"]
    ordering = ["status", "created_at"]
    change_form_template = "admin/chat/conversation/console.html"
    change_list_template = "admin/chat/conversation/change_list.html"

    def get_queryset(self, request):
        qs = (
            super()
            .get_queryset(request)
            .annotate(
                unread_count=Count(
                    "messages", filter=Q(messages__from_customer=True, messages__read_at=None)
                )
            )
        )
        return _scope(request, qs)

    @admin.display(description=gettext_lazy("unread"), ordering="unread_count")
    def unread(self, obj):
        return obj.unread_count

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Another region's or queue's chat is a 404 like a missing one (audited); a malformed
        # id gives None.
        conversation = self.get_object(request, object_id)
        if conversation is None:
            raise Http404
        if request.method == "POST":
            if not self.has_change_permission(request, conversation):
                raise Http404
            return self._operate(request, conversation)
        audit_read(actor=request.user, target_type="chat.conversation", target_id=conversation.pk)
        # Only colleagues who may see the customer's region: the others could not join.
        agents = presence.transfer_agents(conversation=conversation)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": conversation,
            "title": _("Chat %(id)s") % {"id": conversation.pk},
            "conversation": conversation,
            "chat_messages": services.conversation_messages(conversation=conversation),
            "colleagues": [a for a in agents if a.pk != request.user.pk],
            "canned": canned_response_list(),
            # The customer beside the chat: organisation, open tickets, machines, shipments.
            "customer": selectors.customer_context(user=request.user, conversation=conversation),
            "can_accept": conversation.status == ConversationStatus.WAITING,
            "is_open": conversation.status != ConversationStatus.CLOSED,
        }
        return TemplateResponse(request, self.change_form_template, context)

    def _operate(self, request, conversation):
        operation = request.POST.get("operation", "")
        try:
            if operation == "accept":
                presence.conversation_accept(conversation=conversation, agent=request.user)
            elif operation == "transfer":
                wanted = request.POST.get("agent", "")
                target = next(
                    (
                        a
                        for a in queue_agents(queue_id=conversation.queue_id)
                        if str(a.pk) == wanted
                    ),
                    None,
                )
                if target is None:
                    raise ApplicationError(_("Transfer to an agent of this chat's queue."))
                presence.conversation_transfer(
                    conversation=conversation, to_agent=target, actor=request.user
                )
            elif operation == "close":
                closed = services.conversation_close(conversation=conversation, actor=request.user)
                messages.success(
                    request, _("Closed; the transcript is on %(ref)s.") % {"ref": closed.ticket}
                )
            elif operation == "send":
                services.message_post(
                    conversation=conversation,
                    sender=request.user,
                    body=request.POST.get("body", ""),
                    client_id=request.POST.get("client_id") or f"web-{uuid.uuid4().hex}",
                )
            else:
                raise ApplicationError(_("Unknown action."))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("admin:chat_conversation_change", conversation.pk)


@admin.register(AgentPresence)
class AgentPresenceAdmin(LabelledListEditableMixin, NoAdminLogMixin, admin.ModelAdmin):
    """Supervisors set each agent's chat capacity and the standby roster."""

    list_display = ["agent", "state", "last_seen", "capacity", "standby"]
    list_editable = ["capacity", "standby"]
    list_filter = ["state", "standby"]
    list_select_related = ["agent"]
    fields = ["agent", "state", "last_seen", "capacity", "standby"]
    readonly_fields = ["agent", "state", "last_seen"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        presence.presence_configure(
            presence=obj, actor=request.user, capacity=obj.capacity, standby=obj.standby
        )
