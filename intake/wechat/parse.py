"""The XML the platforms post and the passive replies the desk answers with.

Both platforms post one flat `<xml>` element whose children are the message's fields
(ToUserName, FromUserName, CreateTime, MsgType, Content, MsgId, Encrypt, ...). It is read
with defusedxml: no DTD, no entities, no external references (a billion-laughs or XXE
payload is refused, not expanded), and only scalar children of the root are kept (an event's
nested blocks are not needed). The caller limits the size first.
"""

from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_FIELDS = 64
MAX_FIELD_CHARS = 20_000


class XMLError(ValueError):
    """Bytes that are not the platforms' XML."""


def read_fields(data: bytes) -> dict[str, str]:
    """The fields of a posted `<xml>` document, by tag; XMLError for anything else."""
    if not data or not data.strip():
        raise XMLError("The body is empty.")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise XMLError(f"The body is not well-formed XML ({type(exc).__name__}).") from None
    if root.tag != "xml":
        raise XMLError("The body's root element is not <xml>.")
    if len(root) > MAX_FIELDS:
        raise XMLError("The message has too many fields.")
    fields: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str) or len(child):
            continue  # a comment, or a nested block (some events have them)
        text = child.text or ""
        if len(text) > MAX_FIELD_CHARS:
            raise XMLError("A field of the message is too long.")
        fields.setdefault(child.tag, text)
    return fields


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside one CDATA section: close it and open another around ">".
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def write_fields(fields: dict[str, str | int]) -> bytes:
    """A `<xml>` document of these fields (numbers as they are, text as CDATA), UTF-8."""
    parts = ["<xml>"]
    for name, value in fields.items():
        if not name.isalnum():
            raise ValueError(f"not a field name: {name!r}")
        body = str(value) if isinstance(value, int) else _cdata(str(value))
        parts.append(f"<{name}>{body}</{name}>")
    parts.append("</xml>")
    return "".join(parts).encode()
