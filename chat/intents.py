"""What a customer's chat message asks, read by rules kept as data (English and Chinese).

The bot (chat/bot.py) answers only questions it can answer from the customer's own data or
the knowledge base; everything else waits for an agent. A message is read in three steps:

1. The rules below, in order: the first whose words or phrases occur in the message names
   the question. English words match at the start of a word ("deliver" finds "delivery",
   "delivered"), Chinese words anywhere (Chinese has no spaces); phrases are regular
   expressions for what words alone cannot say ("when do you open").
2. Without a rule: a ticket reference (WD-2026-000123) asks for that ticket's state; a fault
   code (E101) asks for its help articles.
3. Otherwise the message asks nothing the bot knows; it may still describe a symptom, which
   the bot looks up in the knowledge base (chat.bot).

Numbers are read by the patterns below: ticket references, tracking numbers (only in a
question about shipments: elsewhere a serial number would look like one) and fault codes.
Pure functions, no database: tests read like the table of examples in chat/tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SHIPMENT = "shipment"
TICKET = "ticket"
HOURS = "hours"
FAULT_CODE = "fault_code"


@dataclass(frozen=True)
class Rule:
    intent: str
    words: tuple[str, ...]
    phrases: tuple[str, ...] = ()


# First match wins: a message about "the parcel for ticket WD-…" asks about the parcel.
RULES: tuple[Rule, ...] = (
    Rule(
        SHIPMENT,
        words=(
            "shipment",
            "shipping",
            "shipped",
            "parcel",
            "package",
            "deliver",
            "track",
            "courier",
            "my part",
            "spare part",
            "快递",
            "物流",
            "发货",
            "运单",
            "包裹",
            "配件",
            "备件",
            "寄出",
            "寄回",
            "到货",
        ),
    ),
    Rule(
        HOURS,
        words=(
            "opening hours",
            "open hours",
            "business hours",
            "office hours",
            "working hours",
            "service hours",
            "营业时间",
            "工作时间",
            "服务时间",
            "上班时间",
            "几点上班",
            "几点开",
            "几点下班",
            "开门",
        ),
        phrases=(
            r"\bwhen (?:do|does|will|are|is) (?:you|the (?:service )?desk|your \w+|support)"
            r"(?: be)? (?:open|close|start|back|available)",
            r"\bare you (?:open|closed)\b",
            r"\bwhat time do you (?:open|close|start)",
            r"什么时候.{0,4}(?:上班|开门|营业|有人)",
        ),
    ),
    Rule(
        TICKET,
        words=(
            "ticket",
            "my request",
            "my case",
            "status",
            "progress",
            "工单",
            "进度",
            "状态",
            "处理得",
            "处理到",
            "报修单",
        ),
    ),
)

# Numbers: Chinese characters count as word characters, so the edges are "not a letter,
# digit or dash" rather than \b ("我的快递SF1234567890到哪了").
TICKET_REFERENCE = re.compile(r"(?<![A-Za-z0-9-])(WD-\d{4}-\d{4,8})(?![A-Za-z0-9-])", re.I)
TRACKING_NUMBER = re.compile(
    r"(?<![A-Za-z0-9-])([A-Za-z]{0,6}-?\d[A-Za-z0-9-]{3,38})(?![A-Za-z0-9-])"
)
FAULT_CODE_PATTERN = re.compile(r"(?<![A-Za-z0-9-])([A-Za-z])-?(\d{3,4})(?![A-Za-z0-9-])")
# The bot reads at most this many of each kind of number from one message.
MAX_NUMBERS = 3

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9-])[A-Za-z]{2,}(?![A-Za-z0-9-])")


def _matcher(rule: Rule) -> re.Pattern:
    parts = []
    for word in rule.words:
        if word.isascii():
            parts.append(r"(?<![a-z])" + r"\s+".join(re.escape(w) for w in word.split()))
        else:
            parts.append(re.escape(word))
    return re.compile("|".join(parts + list(rule.phrases)), re.I)


_MATCHERS = tuple((rule.intent, _matcher(rule)) for rule in RULES)


@dataclass(frozen=True)
class Question:
    """What a message asks: the intent (None: nothing the bot knows), the numbers it names,
    and the language it is written in (None: cannot tell, e.g. only a number)."""

    intent: str | None
    references: tuple[str, ...] = ()
    tracking_numbers: tuple[str, ...] = ()
    fault_codes: tuple[str, ...] = ()
    language: str | None = None


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.upper() for v in values))[:MAX_NUMBERS]


def language_of(text: str) -> str | None:
    """ "zh-hans" for a message with Chinese in it, "en" for one with two English words or
    more, else None (the customer's own language applies)."""
    if _CJK.search(text):
        return "zh-hans"
    if len(_LATIN_WORD.findall(text)) >= 2:
        return "en"
    return None


def read(text: str) -> Question:
    """Return what a customer's message asks (see the module docstring for the rules)."""
    text = text or ""
    references = _unique(TICKET_REFERENCE.findall(text))
    rest = TICKET_REFERENCE.sub(" ", text)
    codes = _unique([m.group(0) for m in FAULT_CODE_PATTERN.finditer(rest)])
    language = language_of(text)
    intent = next((name for name, matcher in _MATCHERS if matcher.search(text)), None)
    if intent is None:
        intent = TICKET if references else FAULT_CODE if codes else None
    tracking: tuple[str, ...] = ()
    if intent == SHIPMENT:
        tracking = _unique(
            [n for n in TRACKING_NUMBER.findall(rest) if not FAULT_CODE_PATTERN.fullmatch(n)]
        )
    return Question(
        intent=intent,
        references=references,
        tracking_numbers=tracking,
        fault_codes=codes,
        language=language,
    )
