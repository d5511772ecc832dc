"""WSGI entry point (HTTP only; WebSockets need the ASGI application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings")
application = get_wsgi_application()

from servicedesk.startup import run_startup_checks  # noqa: E402

run_startup_checks("wsgi")  # raises: the server fails to load the application
