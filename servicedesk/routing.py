"""WebSocket URL routes of every app, mounted under /ws/."""

from django.urls import path

from accounts.consumers import UserEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
]
