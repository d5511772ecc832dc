"""ASGI entry point: HTTP through Django, WebSockets through Channels (under /ws/)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from accounts.sockets import SocketGate  # noqa: E402
from servicedesk.routing import websocket_urlpatterns  # noqa: E402
from servicedesk.startup import run_startup_checks  # noqa: E402

run_startup_checks("asgi")  # raises: Daphne fails to load the application and exits

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # One sign-in gate in front of every socket: TLS, session limits, second factor.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(SocketGate(URLRouter(websocket_urlpatterns)))
        ),
    }
)
