"""The API's request parsers: DRF's, with the body size bounded and NUL and deep JSON refused.

DRF reads the body stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE (checked only by
`request.body` and `request.POST`) did not bound a JSON or form body; here it does (413).
JSON goes through core.jsoninput (depth and NUL refused with a 400 naming the field); form
and multipart fields holding a NUL are refused too (PostgreSQL cannot store them). Files are
untouched: their bytes are theirs.
"""

from __future__ import annotations

import codecs
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from core import jsoninput


def _read_bounded(stream: Any) -> bytes:
    if stream is None:
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    return raw


def refuse_nul_fields(data: QueryDict) -> None:
    """Raise a 400 naming the first form field whose name or value holds a NUL."""
    for key, values in data.lists():
        if "\x00" in key or any(isinstance(v, str) and "\x00" in v for v in values):
            name = key.replace("\x00", "") or "non_field_errors"
            raise ValidationError({name: [str(jsoninput.NUL_MESSAGE)]}, code="null_character")


class JSONParser(parsers.JSONParser):
    """JSON through core.jsoninput: bounded size and depth, no NUL, no NaN."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        raw = _read_bounded(stream)
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        try:
            return jsoninput.loads(text, empty=None)
        except jsoninput.JSONInputError as exc:
            if exc.code == "null_character":
                raise ValidationError(
                    exc.fields() or {"non_field_errors": [str(exc.message)]}, code=exc.code
                ) from None
            raise ParseError(str(exc.message)) from None  # code "parse_error", as DRF's


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        data = QueryDict(_read_bounded(stream), encoding=encoding)
        refuse_nul_fields(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type=media_type, parser_context=parser_context)
        refuse_nul_fields(result.data)
        return result
