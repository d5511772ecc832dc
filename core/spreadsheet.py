"""CSV cells that a spreadsheet opens safely (no formula runs on opening the file)."""

from __future__ import annotations

from typing import Any

# A cell starting with one of these would run as a formula; one starting with a quote gets
# one more, so that dropping exactly one leading quote always gives the value back.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
