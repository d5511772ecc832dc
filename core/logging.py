"""Log formatting: request ids on every line, control characters encoded."""

from __future__ import annotations

import logging

from core import context

_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), 0x7F, 0x85]}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def one_line(text: str) -> str:
    """Return text with line breaks and control characters written as escapes."""
    return text.translate(_ESCAPES)


class RequestContextFilter(logging.Filter):
    """Add the current request id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.current().request_id or "-"
        return True


class SafeFormatter(logging.Formatter):
    """Keep each event on one line: a forged newline in a value cannot fake a log entry.

    Tracebacks, which we produce ourselves, keep their line breaks.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))
