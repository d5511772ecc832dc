"""The OpenAPI schema says what the API answers, errors included (drf-spectacular).

`AutoSchema` adds to every operation the error answers it can give, each with the one
`Error` component (core.errors.error_body's shape), so they are not repeated by hand:

- 400 always (a NUL character or a bad parameter is refused before any view runs),
- 401 and 403 where the view authenticates or checks permissions,
- 404 where the path names an object, and on paginated lists (a page past the last one),
- 409 and 422 where a POST takes an Idempotency-Key (409 also for a stale expected_version),
- 413 and 415 where the operation takes a body,
- 429 where callers are throttled, 503 everywhere (the database was lost: retry).

An operation that documents a status itself (e.g. the Kuaidi100 push, whose answers follow
Kuaidi100's format) keeps its own. `DocsAccess` guards /api/schema/ and /api/docs/.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from rest_framework import permissions, serializers

from core.errors import RETRY_AFTER_SECONDS


class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable, machine-readable, e.g. `not_found`."))
    message = serializers.CharField(help_text=_("For people; translated."))
    fields = serializers.DictField(
        required=False,
        child=serializers.JSONField(),
        help_text=_(
            "Per refused field (nested like the request): a list of messages, or an object "
            "for a nested field."
        ),
    )


class Error(serializers.Serializer):
    """Every error answer of the API: `{"error": {"code", "message", "fields"?}}`."""

    error = ErrorBody()


_DESCRIPTIONS = {
    400: _("Bad request: a field, a parameter or the body is not valid (see `fields`)."),
    401: _("Not authenticated: no or a wrong credential."),
    403: _("Refused: the credential may not do this (e.g. a read-only API key writing)."),
    404: _("Not found, or not yours (the two are not told apart)."),
    409: _(
        "Conflict: the same Idempotency-Key is still being processed, or the object changed "
        "since `expected_version`."
    ),
    413: _("The body is too large."),
    415: _("The content type of the body is not supported."),
    422: _("The Idempotency-Key was already used with a different request."),
    429: _("Too many requests: wait for Retry-After seconds."),
    503: _("The service lost its database for a moment: retry after Retry-After seconds."),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": _("Seconds to wait before retrying."),
        "schema": {"type": "integer", "minimum": 0, "example": RETRY_AFTER_SECONDS},
    }
}
IDEMPOTENCY_HEADER = "Idempotency-Key"


class AutoSchema(openapi.AutoSchema):
    def get_description(self) -> str:
        """The method's docstring, or the view's own (a base class's is not the operation's)."""
        method = getattr(self.view, self.method.lower(), None)
        if getattr(method, "__doc__", None) or self.view.__class__.__dict__.get("__doc__"):
            return super().get_description()
        return ""

    def _get_response_bodies(self, direction: Any = "response") -> dict:
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        for code, response in responses.items():
            if not response.get("description") and code.isdigit() and int(code) in _DESCRIPTIONS:
                response["description"] = str(_DESCRIPTIONS[int(code)])
        for status in self.error_statuses():
            if str(status) in responses:
                continue
            response = self._get_response_for_code(Error, str(status), direction=direction)
            response["description"] = str(_DESCRIPTIONS[status])
            if status in (429, 503):
                response["headers"] = dict(_RETRY_AFTER)
            responses[str(status)] = response
        return dict(sorted(responses.items()))

    def error_statuses(self) -> list[int]:
        """The error statuses this operation can answer (see the module docstring)."""
        view = self.view
        statuses = {400, 503}
        if view.get_authenticators():
            statuses.add(401)
        if any(not isinstance(p, permissions.AllowAny) for p in view.get_permissions()):
            statuses.add(403)
        if "{" in self.path or (self.method == "GET" and self._is_list_view()):
            statuses.add(404)
        if self.method in ("POST", "PUT", "PATCH"):
            statuses |= {413, 415}
        if self.method == "POST" and any(
            getattr(p, "name", None) == IDEMPOTENCY_HEADER for p in self.get_override_parameters()
        ):
            statuses |= {409, 422}
        if view.get_throttles():
            statuses.add(429)
        return sorted(statuses)


class DocsAccess(permissions.BasePermission):
    """/api/schema/ and /api/docs/: anyone when API_DOCS_PUBLIC (the default with DEBUG),
    else a signed-in person or an API key."""

    def has_permission(self, request, view) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        user = getattr(request, "user", None)
        return bool(user and user.is_authenticated)


def docs_page(view):
    """Wrap the Swagger UI page: a visitor who may not read the docs is sent to sign in (the
    page's own schema request is checked by DocsAccess)."""

    def page(request, *args, **kwargs):
        if not settings.API_DOCS_PUBLIC and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return page
