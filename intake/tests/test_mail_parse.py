"""The parser on arbitrary bytes: a ParsedMail or MailParseError, never anything else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from intake.mail.parse import MailParseError, html_to_text, parse, trim

HEADERS = st.sampled_from(
    [
        b"From: a@b.example\r\n",
        b"From: =?gbk?B?wO7OsA==?= <a@b.example>\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"Content-Type: text/html; charset=big5\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Subject: =?utf-8?Q?=E4=BD=A0?=\r\n",
        b"In-Reply-To: <x@y>\r\n",
        b"--x\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5.png\r\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(HEADERS, max_size=12), st.binary(max_size=400))
def test_any_bytes_give_a_mail_or_a_parse_error(headers, tail):
    raw = b"".join(headers) + b"\r\n" + tail
    try:
        mail = parse(raw)
    except MailParseError:
        return
    assert "@" in mail.sender and "\n" not in mail.subject


def test_html_is_cleaned_to_text_and_quotes_are_marked():
    text = html_to_text(
        "<p>New</p><blockquote><p>old</p></blockquote><img src=x onerror=alert(1)>"
        "<script>evil()</script><style>p{}</style>"
    )
    assert text.splitlines() == ["New", "> old"]
    assert trim(text) == "New"


def test_a_reply_without_quotes_is_kept_whole():
    body = "Line one\n\nFrom the production manager: please hurry.\nThanks"
    assert trim(body) == body
