"""The API's pages: `page` and `page_size` (1 to 100, integers only), as documented.

DRF ignores a `page_size` it cannot read (`abc`, `-1`, `1e3`) and silently caps one over the
maximum, so a client's mistake went unnoticed and the schema could not say what is accepted.
Here a bad `page_size` (or a `page` that is no page number) is a 400 naming the parameter,
and the OpenAPI schema says integer, minimum 1 (and maximum 100). A page past the last one
stays a 404.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


def page_size_of(request: Any, *, default: int = PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The `page_size` asked for, or the default; a 400 for anything but 1..maximum."""
    raw = request.query_params.get("page_size")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ValidationError(
            {"page_size": [_("A whole number from 1 to %(max)s.") % {"max": maximum}]}
        )
    return int(raw)


def check_page_number(request: Any) -> None:
    """A `page` that is not a whole number from 1 (or "last") is a 400 naming it."""
    raw = request.query_params.get("page")
    if raw is None or raw == "last":
        return
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValidationError({"page": [_("A whole number from 1.")]})


def _page_size_parameter(maximum: int) -> dict:
    return {
        "name": "page_size",
        "required": False,
        "in": "query",
        "description": _("Rows per page (default %(default)s).") % {"default": PAGE_SIZE},
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum},
    }


class _StrictParameters:
    """`page_size` 1..100 and `page` a whole number (also in cursor mode, where it is ignored
    but never malformed), for both kinds of pages."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return page_size_of(request, default=self.page_size, maximum=self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        check_page_number(request)
        return super().paginate_queryset(queryset, request, view=view)


class PageNumberPagination(_StrictParameters, pagination.PageNumberPagination):
    """`?page=` (from 1) and `?page_size=` (1 to 100): count, next, previous, results."""

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "required": False,
                "in": "query",
                "description": _("Page number, from 1 (a page past the last one is a 404)."),
                "schema": {"type": "integer", "minimum": 1},
            },
            _page_size_parameter(self.max_page_size),
        ]


class CursorPagination(_StrictParameters, pagination.CursorPagination):
    """`?cursor=`: next and previous links, no count; `page_size` as above."""
