"""English and Simplified Chinese: complete catalogue, compiled file in the repo, pages switch."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"


def po_entries(path: Path) -> list[tuple[str, str]]:
    """Return (msgid, msgstr) pairs of a .po file (enough of the format for our catalogue);
    a message with a context (pgettext) is "context\x04msgid", as gettext looks it up."""
    entries, current, field = [], {"msgid": [], "msgstr": []}, None
    context = None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("msgctxt "):
            context = ast.literal_eval(line[8:])
        elif line.startswith("msgid "):
            if current["msgid"]:
                entries.append(("".join(current["msgid"]), "".join(current["msgstr"])))
            current, field = {"msgid": [], "msgstr": []}, "msgid"
            if context is not None:
                current["msgid"].append(context + "\x04")
                context = None
            current["msgid"].append(ast.literal_eval(line[6:]))
        elif line.startswith("msgid_plural "):
            field = None  # the plural form's msgid is not a separate entry
        elif line.startswith("msgstr"):
            # "msgstr ..." or, for plurals, "msgstr[0] ..." (Chinese has one plural form).
            field = "msgstr"
            current["msgstr"].append(ast.literal_eval(line.split(" ", 1)[1]))
        elif line.startswith('"') and field:
            current[field].append(ast.literal_eval(line))
    if current["msgid"]:
        entries.append(("".join(current["msgid"]), "".join(current["msgstr"])))
    return [(i, s) for i, s in entries if i]


def test_every_message_has_a_chinese_translation_and_the_mo_file_is_current():
    po = LOCALE / "django.po"
    assert "#, fuzzy" not in po.read_text(encoding="utf-8")
    entries = po_entries(po)
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr in entries if not msgstr]
    assert untranslated == []
    with open(LOCALE / "django.mo", "rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    stale = [msgid for msgid, msgstr in entries if compiled.gettext(msgid) != msgstr]
    assert stale == [], "run `make messages` to recompile django.mo"


@pytest.mark.django_db
def test_sign_in_page_follows_the_browser_language(client):
    chinese = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert "登录 WeldDesk" in chinese and 'lang="zh-hans"' in chinese
    english = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert "Sign in to WeldDesk" in english


@pytest.mark.django_db
def test_error_messages_are_translated(client, make_customer):
    response = client.post(
        "/accounts/login/",
        {"email": "nobody@x.example", "password": "x"},
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    )
    assert "邮箱地址或密码不正确。" in response.content.decode()


@pytest.mark.django_db
def test_language_switch_form_sets_the_language(client):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert "登录" in client.get("/accounts/login/").content.decode()
