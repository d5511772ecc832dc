"""Read one raw e-mail (RFC 5322 / MIME) into a ParsedMail: who, what, which thread.

Charsets are decoded with their supersets (GB2312 and GBK as GB18030, Big5 as Big5-HKSCS),
since Chinese mail programs label GBK text as GB2312 and Hong Kong mail as Big5. HTML-only
mail is cleaned by nh3 and turned into text (no markup is ever stored). The stored body is
the sender's new text: quoted replies and signatures of the common mail programs are cut
(`trim`); a forwarded mail is kept whole, since the forwarded part is the point of it.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

import nh3

# Decode with the superset: mail labelled gb2312 routinely holds GBK characters.
_CHARSET_SUPERSET = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",  # what "Latin-1" mail really holds
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}
_MSGID = re.compile(r"<([^<>\s]{1,250})>")
_NO_REPLY = re.compile(
    r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?|notifications?)([+.\-_].*)?$",
    re.I,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|转发|轉寄|转寄)\s*[:：]", re.I)
MAX_ATTACHMENTS = 20


@dataclass
class MailFile:
    name: str
    content_type: str
    content: bytes


@dataclass
class ParsedMail:
    message_id: str
    subject: str
    sender: str  # the From address, lower-case; "" when there is none
    sender_name: str
    body: str  # trimmed: the sender's own new text
    full_text: str  # the whole text part, untrimmed
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    attachments: list[MailFile] = field(default_factory=list)
    auto_submitted: bool = False  # an out-of-office or other machine answer
    bounce: bool = False  # a delivery status notification
    mailing_list: bool = False
    no_reply: bool = False  # the sender says it reads no answers
    forwarded: bool = False
    # The Authentication-Results headers (RFC 8601) as received; which of them to believe is
    # decided by sender_verified, with the desk's own mail server's authserv-id.
    authentication_results: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """The Message-IDs this mail answers, nearest first (In-Reply-To, then References
        from the newest)."""
        seen: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.append(mid)
        return seen

    @property
    def machine_made(self) -> bool:
        """Mail that must get no automatic answer (RFC 3834: loops)."""
        return self.auto_submitted or self.bounce or self.mailing_list or self.no_reply


class MailParseError(ValueError):
    """The bytes are not a mail the desk can read (no sender, no headers)."""


def codec(charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower()
    name = _CHARSET_SUPERSET.get(name, name)
    try:
        "".encode(name)
    except LookupError:
        return "utf-8"
    return name


def decode_bytes(data: bytes, charset: str | None) -> str:
    return data.decode(codec(charset), errors="replace")


def header_text(value: object) -> str:
    """A header's text with RFC 2047 encoded words decoded (each with its charset's
    superset), folded onto one line."""
    if value is None:
        return ""
    raw = str(value)
    try:
        parts = decode_header(raw)
    except Exception:  # a malformed encoded word: keep the raw text
        return " ".join(raw.split())
    text = "".join(
        decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
        for chunk, charset in parts
    )
    return " ".join(text.replace("\x00", "").split())


def message_ids(value: object) -> list[str]:
    return [f"<{m}>" for m in _MSGID.findall(str(value or ""))][:50]


class _TextMaker(HTMLParser):
    """HTML (already cleaned by nh3) to plain text: blocks become lines, list items get a
    dash, block quotes get '> ' so the trimmer sees them as quotes."""

    BLOCKS = {"p", "div", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0

    def _newline(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "br":
            self.lines.append("")
        elif tag == "li":
            self._newline()
            self.lines[-1] += "- "
        elif tag == "blockquote":
            self._newline()
            self.quote += 1
        elif tag in self.BLOCKS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self._newline()
            self.quote = max(self.quote - 1, 0)
        elif tag in self.BLOCKS or tag == "li":
            self._newline()

    def handle_data(self, data: str) -> None:
        text = re.sub(r"\s+", " ", data.replace("\xa0", " "))
        if not text.strip() and not self.lines[-1]:
            return
        if not self.lines[-1] and self.quote:
            self.lines[-1] = "> " * self.quote
        self.lines[-1] += text

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines).strip()


def html_to_text(html: str) -> str:
    """Sanitise (scripts, styles, handlers and unknown tags go) and flatten to text."""
    clean = nh3.clean(
        html,
        tags={"p", "div", "br", "li", "ul", "ol", "blockquote", "tr", "td", "table", "hr"}
        | {"h1", "h2", "h3", "h4", "h5", "h6", "span", "b", "i", "strong", "em", "a"},
        attributes={},
        clean_content_tags={"script", "style", "head", "title"},
        link_rel=None,
    )
    maker = _TextMaker()
    maker.feed(clean)
    maker.close()
    return re.sub(r"\n{3,}", "\n\n", maker.text())


# A line where the quoted earlier mail starts, as the mail programs write it.
_CUT_LINES = [
    # Gmail, Apple Mail, Thunderbird: "On Mon, 7 Dec 2026 at 10:00, Li Wei <x@y> wrote:"
    re.compile(r"^(On|Am|Le)\s.{5,200}(wrote|schrieb|a écrit)\s*:\s*$", re.I),
    # Gmail / Apple Mail in Chinese: "张三 <x@y> 于2026年12月7日周一 10:00写道：",
    # "在 2026年12月7日，上午10:00，张三 <x@y> 写道："
    re.compile(r"^.{0,200}(于|在).{2,200}(写道|寫道)\s*[:：]\s*$"),
    # Outlook, Foxmail, QQ Mail: "-----Original Message-----", "------ 原始邮件 ------"
    re.compile(r"^\s*-{2,}\s*(Original( Message)?|原始邮件|原始郵件|回复的邮件)\s*-{2,}\s*$", re.I),
    # Outlook's separator line before its header block
    re.compile(r"^_{20,}\s*$"),
]
# Outlook/Foxmail header blocks without a separator: "From: ..." then "Sent:"/"Date:".
_HEADER_FROM = re.compile(r"^\s*(From|发件人|寄件者)\s*[:：]", re.I)
_HEADER_NEXT = re.compile(r"^\s*(Sent|Date|发送时间|寄件日期|日期|时间|To|收件人)\s*[:：]", re.I)
_SIGNATURE_LINES = re.compile(
    r"^\s*(Sent from my \w+|Get Outlook for \w+|(发自|發自)我的\s*\w+|从我的\s*\w+\s*发送|"
    r"(发自|發自)\s*(我的)?(iPhone|iPad|手机|QQ邮箱|网易邮箱)|Sent from Mail for Windows)",
    re.I,
)
# The wrapped first half of a Gmail "On ... wrote:" line.
_WRAPPED_ON = re.compile(r"^(On|在)\s.{5,200}$")


def trim(text: str) -> str:
    """The new text of a reply: cut at the first line where a quoted mail starts, at the
    signature delimiter ("-- "), then trailing '>' quotes and "Sent from my iPhone" lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for n, line in enumerate(lines):
        stripped = line.strip()
        if line.rstrip("\n") == "-- " or stripped == "--":
            cut = n
            break
        if any(p.match(stripped) for p in _CUT_LINES):
            cut = n
            break
        if (
            _WRAPPED_ON.match(stripped)
            and n + 1 < len(lines)
            and re.search(r"(wrote|写道|寫道)\s*[:：]\s*$", lines[n + 1])
        ):
            cut = n
            break
        if _HEADER_FROM.match(stripped) and any(
            _HEADER_NEXT.match(following) for following in lines[n + 1 : n + 4]
        ):
            cut = n
            break
    kept = lines[:cut]
    while kept and (
        not kept[-1].strip()
        or kept[-1].lstrip().startswith(">")
        or _SIGNATURE_LINES.match(kept[-1])
    ):
        kept.pop()
    return "\n".join(line.rstrip() for line in kept).strip()


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    return decode_bytes(payload, part.get_content_charset())


def _body_and_files(msg: Message) -> tuple[str, list[MailFile]]:
    plain: str | None = None
    html: str | None = None
    files: list[MailFile] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = header_text(part.get_filename()) if part.get_filename() else ""
        if disposition == "attachment" or (filename and not ctype.startswith("text/")):
            if len(files) < MAX_ATTACHMENTS:
                files.append(
                    MailFile(
                        name=filename or "attachment",
                        content_type=ctype,
                        content=part.get_payload(decode=True) or b"",
                    )
                )
            continue
        if ctype == "text/plain" and plain is None:
            plain = _part_text(part)
        elif ctype == "text/html" and html is None:
            html = _part_text(part)
        elif ctype == "message/delivery-status":
            continue
    if plain is not None and plain.strip():
        return plain, files
    if html is not None:
        return html_to_text(html), files
    return plain or "", files


def parse(raw: bytes) -> ParsedMail:
    """Parse raw mail bytes; raise MailParseError when it has no sender address or a
    structure the library cannot walk (whatever the bytes: callers answer 400, never 500)."""
    try:
        return _parse(raw)
    except MailParseError:
        raise
    except (ValueError, TypeError, LookupError, IndexError, AttributeError, RecursionError) as exc:
        raise MailParseError("unreadable structure") from exc


def _parse(raw: bytes) -> ParsedMail:
    if not raw or not raw.strip():
        raise MailParseError("empty message")
    msg = email.message_from_bytes(raw)
    name, address = parseaddr(header_text(msg.get("From")))
    address = address.strip().lower()
    if "@" not in address or len(address) > 254:
        raise MailParseError("no sender address")
    subject = header_text(msg.get("Subject"))
    text, files = _body_and_files(msg)
    text = text.replace("\x00", "")
    forwarded = bool(_FORWARD_SUBJECT.match(subject))
    auto = (msg.get("Auto-Submitted") or "no").strip().lower()
    precedence = (msg.get("Precedence") or "").strip().lower()
    return_path = (msg.get("Return-Path") or "").strip()
    local = address.split("@", 1)[0]
    bounce = (
        msg.get_content_type() == "multipart/report"
        or return_path == "<>"
        or local.lower() in ("mailer-daemon", "postmaster")
    )
    return ParsedMail(
        message_id=(message_ids(msg.get("Message-ID")) or [""])[0],
        subject=subject,
        sender=address,
        sender_name=name.strip(),
        body=text.strip() if forwarded else trim(text),
        full_text=text,
        in_reply_to=message_ids(msg.get("In-Reply-To")),
        references=message_ids(msg.get("References")),
        attachments=files,
        auto_submitted=(
            auto != "no"
            or precedence in ("auto_reply", "junk", "bulk")
            or any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"))
        ),
        bounce=bounce,
        mailing_list=bool(msg.get("List-Id") or msg.get("List-Unsubscribe"))
        or precedence == "list",
        no_reply=bool(_NO_REPLY.match(local)),
        forwarded=forwarded,
        authentication_results=[str(v) for v in msg.get_all("Authentication-Results", [])],
    )


_RESULT = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(header\.d|header\.from|smtp\.mailfrom)\s*=\s*([^\s;]+)", re.I)


def _aligned(domain: str, sender_domain: str) -> bool:
    """Relaxed alignment (DMARC), without the public suffix list: the same domain, or one a
    subdomain of the other (a signature for a suffix such as com.cn would need its DNS)."""
    domain = domain.strip().strip(".").lower().rsplit("@", 1)[-1]
    if not domain or not sender_domain:
        return False
    return (
        domain == sender_domain
        or sender_domain.endswith("." + domain)
        or domain.endswith("." + sender_domain)
    )


def sender_verified(mail: ParsedMail, authserv_id: str) -> bool:
    """Whether the desk's own mail server vouched for the From address.

    Only Authentication-Results headers carrying `authserv_id` count: that server removes
    any such header a sender forged (RFC 8601, section 5), so the rest say nothing. The
    sender is verified when DMARC passed, or, for a domain without a DMARC policy, when DKIM
    or SPF passed for a domain aligned with the From address; a DMARC failure always wins.
    """
    wanted = authserv_id.strip().lower()
    sender_domain = mail.sender.rsplit("@", 1)[-1]
    verdict = False
    for header in mail.authentication_results:
        server, _sep, results = header.partition(";")
        if not server.split() or server.split()[0].lower() != wanted:
            continue
        for method, result, props in _RESULT.findall(results):
            method, result = method.lower(), result.lower()
            if method == "dmarc" and result == "fail":
                return False
            if method == "dmarc" and result == "pass":
                verdict = True
            elif result == "pass":
                domains = [d for _k, d in _PROPERTY.findall(props)]
                verdict = verdict or any(_aligned(d, sender_domain) for d in domains)
    return verdict


def recipients(raw: bytes) -> list[str]:
    """The To and Cc addresses (lower-case), e.g. to pick the queue of a shared inbox."""
    msg = email.message_from_bytes(raw)
    pairs = getaddresses([header_text(v) for v in msg.get_all("To", []) + msg.get_all("Cc", [])])
    return [a.lower() for _n, a in pairs if "@" in a]
