"""WebSocket URL routes of every app, mounted under /ws/."""

from django.urls import path

from accounts.consumers import UserEventsConsumer
from chat.consumers import ChatConsumer, ConsoleConsumer
from tickets.consumers import WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
    path("ws/chat/console/", ConsoleConsumer.as_asgi()),
    path("ws/chat/<int:conversation_id>/", ChatConsumer.as_asgi()),
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
]
