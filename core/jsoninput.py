"""Untrusted JSON in: one decoder for every request body, so bad input is a 400, never a 500.

Python's json module recurses once per nesting level and raises RecursionError (not
ValueError) at about a thousand levels, and PostgreSQL refuses NUL characters in text, so a
body like `[[[[...]]]]` or `{"code": "\\u0000"}` used to end in a 500. `loads` refuses both up
front: at most MAX_DEPTH levels of arrays and objects, and no NUL in any string or key. The
DRF parser (core.parsers), the machine webhooks (core.machine_auth), the Idempotency-Key
fingerprint and the portal's JSON endpoints all decode through it.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext_lazy as _

# Far deeper than any payload the desk takes (Alertmanager's is five levels) and far below
# the interpreter's recursion limit, so nothing downstream can recurse out of the stack.
MAX_DEPTH = 64

NUL_MESSAGE = _("Null characters are not allowed.")


class JSONInputError(ValueError):
    """Refused JSON input; `code` and `message` go into the JSON error answer.

    `path` names where the refused value sits (e.g. ["fault_report", "fault_code"]).
    """

    def __init__(self, message: Any, *, code: str, path: list[str] | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.path = path or []

    def fields(self) -> dict[str, Any]:
        """The error as DRF nests field errors: {"a": {"b": ["message"]}}."""
        if not self.path:
            return {}
        nested: Any = [str(self.message)]
        for part in reversed(self.path):
            nested = {part: nested}
        return nested


def _reject_constant(name: str) -> Any:
    raise JSONInputError(_("NaN and Infinity are not valid JSON."), code="bad_json")


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH, empty: Any = None) -> Any:
    """Decode untrusted JSON; raise JSONInputError for anything a handler must refuse.

    An empty body decodes to `empty`. NaN and Infinity are refused (they are not JSON).
    """
    if not raw:
        return empty
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise JSONInputError(
            _("The JSON is nested more than %(n)s levels deep.") % {"n": max_depth},
            code="too_deep",
        ) from None
    except JSONInputError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONInputError(_("The body is not valid JSON."), code="bad_json") from exc
    check(value, max_depth=max_depth)
    return value


def check(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse decoded JSON nested deeper than max_depth or holding a NUL character.

    Walks the value with an explicit stack, so a deep value cannot exhaust the call stack.
    """
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise JSONInputError(NUL_MESSAGE, code="null_character", path=list(path))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            raise JSONInputError(
                _("The JSON is nested more than %(n)s levels deep.") % {"n": max_depth},
                code="too_deep",
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise JSONInputError(
                        NUL_MESSAGE, code="null_character", path=[*path, key.replace("\x00", "")]
                    )
                stack.append((child, depth + 1, (*path, key)))
        else:
            stack.extend((child, depth + 1, (*path, str(i))) for i, child in enumerate(item))
