"""Sign-in by email through its blind index, with equal work for unknown and known emails;
and the request's user loaded with its roles, regions, permissions and device in one query."""

from __future__ import annotations

import contextvars

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

# The second-factor device the current request's session names (django-otp's persistent
# id), set by accounts.middleware.OTPMiddleware while it loads the user, so the user's one
# query can bring the device along (accounts.selectors.signed_in_user).
session_device: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "session_device", default=None
)


class RequestUserMixin:
    """get_user for a session: one query instead of six (see signed_in_user)."""

    def get_user(self, user_id):
        from accounts.selectors import signed_in_user

        user = signed_in_user(user_id=user_id, device=session_device.get())
        return user if user is not None and user.is_active else None


class EmailBackend(RequestUserMixin, ModelBackend):
    """Authenticate with email and password.

    For an unknown email the password is still hashed once, so the answer takes as long as
    for a wrong password (no user enumeration by timing).
    """

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        login = email or username
        if not login or password is None:
            return None
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(login)
        except user_model.DoesNotExist:
            user_model().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
