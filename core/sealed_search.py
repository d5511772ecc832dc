"""Search terms that never appear in a URL.

What staff and customers type into a search box is often personal data: an e-mail address, a
phone number, a name. In a URL it would be written to access logs (nginx's, a proxy's),
browser history and Referer headers. So search forms POST the term, and the answer is a
redirect (303) to the list with the term sealed: `?q=sealed:<token>`, where the token is the
term encrypted with the personal-data key (core.crypto, Fernet: AES + HMAC, so it can be
neither read nor forged) and valid for STAFF_SESSION_MAX_SECONDS. The list opens the seal and
searches as before; its links (pages, sorting, filters) carry the sealed term on, and the
search box shows the term again from the page, never from the URL. Works without JavaScript.

A term typed straight into a URL (`?q=...`) is still searched: the desk never produces such
links, and refusing them would only break old bookmarks.

In the admin the search box (templates/admin/search_form.html) posts to `admin_search`, and
every changelist opens seals through SealedSearchForm (installed on Django's ChangeList at
start-up, so no list is forgotten, including those of third-party apps).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import InvalidToken
from django import forms
from django.conf import settings
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core import crypto

PREFIX = "sealed:"
EXPIRED = gettext_lazy("This search has expired or is damaged; please search again.")


class SealError(ValueError):
    """A sealed term that is damaged, forged or older than its time to live."""


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(term: str) -> str:
    """Return the URL-safe sealed form of a search term."""
    payload = json.dumps({"q": term}, ensure_ascii=False).encode("utf-8")
    return PREFIX + crypto.crypter().encrypt(payload).decode("ascii")


def unseal(value: str) -> str:
    """Return the term inside a seal; raise SealError if it cannot be opened (any more)."""
    token = value[len(PREFIX) :] if is_sealed(value) else value
    try:
        payload = crypto.crypter().decrypt(
            token.encode("ascii"), ttl=settings.STAFF_SESSION_MAX_SECONDS
        )
        term = json.loads(payload.decode("utf-8"))["q"]
    except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError) as exc:
        raise SealError(str(EXPIRED)) from exc
    if not isinstance(term, str):
        raise SealError(str(EXPIRED))
    return term


def open_term(value: Any) -> str:
    """Return a form's term: a sealed one opened, a plain one as it is (ValidationError for a
    seal that cannot be opened)."""
    if not is_sealed(value):
        return value or ""
    try:
        return unseal(value)
    except SealError as exc:
        raise forms.ValidationError(EXPIRED, code="sealed") from exc


class SealedSearchForm(ChangeListSearchForm):
    """The changelist's search form: opens a sealed term (an expired one is an error message
    above an unsearched list, as Django shows any bad search)."""

    def clean(self):
        data = super().clean()
        if SEARCH_VAR in data:
            try:
                data[SEARCH_VAR] = open_term(data[SEARCH_VAR])
            except forms.ValidationError as exc:
                del data[SEARCH_VAR]
                self.add_error(None, exc)
        return data


def install() -> None:
    """Make every admin list open sealed terms (called once at start-up)."""
    ChangeList.search_form_class = SealedSearchForm


@require_POST
def admin_search(request):
    """Redirect a search typed into an admin list to that list with the term sealed.

    The form names the list (`_changelist`: "app_label.model_name") and repeats the list's
    other parameters (filters, ordering, popup) as hidden fields, as Django's GET form does.
    """
    app_label, _dot, model_name = request.POST.get("_changelist", "").partition(".")
    try:
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
    except NoReverseMatch:
        return HttpResponseBadRequest(
            _("This search names no list."), content_type="text/plain; charset=utf-8"
        )
    params = request.POST.copy()
    for name in ("csrfmiddlewaretoken", "_changelist", SEARCH_VAR, PAGE_VAR):
        params.pop(name, None)
    term = request.POST.get(SEARCH_VAR, "")
    if term.strip():
        params[SEARCH_VAR] = seal(term)
    query = params.urlencode()
    return HttpResponseRedirect(f"{url}?{query}" if query else url, status=303)
